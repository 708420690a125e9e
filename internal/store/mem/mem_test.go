package mem_test

import (
	"testing"

	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/mem"
	"github.com/cairn-backup/cairn/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return mem.New() })
	t.Run("Versioned", func(t *testing.T) {
		storetest.Run(t, func(*testing.T) store.Store { return mem.NewVersioned() })
	})
}

func TestVersioned(t *testing.T) {
	storetest.RunVersioned(t, func(*testing.T) store.Store { return mem.NewVersioned() },
		func(t *testing.T, s store.Store, key string, data []byte) {
			if err := s.(*mem.Mem).Overwrite(key, data); err != nil {
				t.Fatal(err)
			}
		})
}
