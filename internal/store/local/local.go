package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/cairn-backup/cairn/internal/store"
)

// tmpName is the directory, under the store's root, where Put writes
// temporary files. '~' is not a key character, so no object can be there.
const tmpName = ".tmp~"

// errDirKey: the key names a directory that holds other objects.
var errDirKey = errors.New("a directory of other objects has this name")

// Local is a store.Store on a directory. It is safe for concurrent use, also
// by several processes sharing the directory.
type Local struct {
	dir string // absolute
	tmp string // dir/.tmp~

	// synced holds the keys of directories ("data", "data/ab") whose entry in
	// their parent this process has fsynced, so Put does it once per
	// directory, not once per object.
	synced sync.Map

	// beforeLink, if set (by tests), runs after the temporary file is
	// written and synced and before it is linked into place.
	beforeLink func() error
}

var _ store.Store = (*Local)(nil)

// New returns the store on dir, creating dir (mode 0700) if it is missing.
func New(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local: new %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("local: new %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("local: new %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("local: new %s: not a directory", dir)
	}
	tmp := filepath.Join(abs, tmpName)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("local: new %s: %w", dir, err)
	}
	// Make the store directory itself durable, in case MkdirAll created it.
	if err := syncDir(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("local: new %s: %w", dir, err)
	}
	return &Local{dir: abs, tmp: tmp}, nil
}

// Location returns the store's directory as an absolute path.
func (l *Local) Location() string { return l.dir }

// path returns the file of a valid key.
func (l *Local) path(key string) string {
	return filepath.Join(l.dir, filepath.FromSlash(key))
}

// syncDirs makes the new object's directory entry durable: it fsyncs the
// object's directory and, the first time this process sees them, the
// parents of the directories between the root and the object.
func (l *Local) syncDirs(key string) error {
	dirs := []string{path.Dir(key)}
	var marks []string
	for d := path.Dir(key); d != "."; d = path.Dir(d) {
		if _, ok := l.synced.Load(d); !ok {
			marks = append(marks, d)
			dirs = append(dirs, path.Dir(d))
		}
	}
	for _, d := range dirs {
		if err := syncDir(l.path(d)); err != nil {
			return err
		}
	}
	for _, d := range marks {
		l.synced.Store(d, true)
	}
	return nil
}

// syncDir fsyncs a directory. Filesystems that cannot (EINVAL) are skipped.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// notFound reports whether err means that nothing is at a path: it or a
// parent is missing, or a parent is a file.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// noSpace wraps err with store.ErrNoSpace if it is ENOSPC or EDQUOT.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	}
	return err
}
