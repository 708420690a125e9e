package check_test

import (
	"context"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func mustParse(t *testing.T, s string) blob.ID {
	t.Helper()
	id, err := blob.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func walkFiles(t *testing.T, r *repo.Repository, tree string, fn func(path string, content []string)) {
	t.Helper()
	err := snapshot.Walk(context.Background(), r, mustParse(t, tree), func(path string, n *snapshot.Node) error {
		if n.Type == snapshot.TypeFile && len(n.Content) > 0 {
			var ids []string
			for _, c := range n.Content {
				ids = append(ids, c.String())
			}
			fn(path, ids)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
