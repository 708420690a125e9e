package location

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

func TestDefault(t *testing.T) {
	loc := func(name string, def bool) cairnv1.BackupLocation {
		return cairnv1.BackupLocation{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: cairnv1.BackupLocationSpec{Default: def}}
	}
	if _, err := Default([]cairnv1.BackupLocation{loc("a", false)}); !errors.Is(err, ErrNoDefault) {
		t.Errorf("none marked: %v, want ErrNoDefault", err)
	}
	if l, err := Default([]cairnv1.BackupLocation{loc("a", false), loc("b", true)}); err != nil || l.Name != "b" {
		t.Errorf("one marked: %v, %v", l, err)
	}
	_, err := Default([]cairnv1.BackupLocation{loc("c", true), loc("a", false), loc("b", true)})
	if !errors.Is(err, ErrSeveralDefaults) || !strings.Contains(err.Error(), "b, c") {
		t.Errorf("two marked: %v, want ErrSeveralDefaults naming b, c", err)
	}
}
