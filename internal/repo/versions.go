package repo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store"
)

// Reading from a versioned store (store.Versioned with versioning on: an S3
// bucket with object lock). Every object but config is named by the SHA-256
// of its bytes, so the right version of an object is the one that hashes to
// its name, whatever version is current: a PUT that bypasses put-if-absent
// adds a newer version, and must not make the repository unreadable.
//
//   - Unpacked objects (index, snapshots) are read whole: when the current
//     version does not match the name, the newest older version that does is
//     read instead.
//   - Packs are read in ranges, which cannot be checked against the name.
//     The first read of a pack in an opening lists its versions (one
//     request): a pack with one version is read from that version; a pack
//     with several is read from the newest that hashes to its name (each
//     candidate read whole once). Later reads of the pack use that version.
//
// Either way the object is recorded as Shadowed, for check to report.

// pin is the version of a pack that reads come from; "" is the current
// object, read with Get.
type pin struct {
	version string
	size    int64
}

// versioned returns the store's Versioned capability when its versioning
// is on (asked once per opening).
func (r *Repository) versioned(ctx context.Context) store.Versioned {
	v, ok := r.store.(store.Versioned)
	if !ok {
		return nil
	}
	r.integ.mu.Lock()
	known := r.integ.versioning
	r.integ.mu.Unlock()
	if known == nil {
		on, err := v.Versioning(ctx)
		if err != nil {
			// Without an answer, read the current versions (as a store
			// without versions is read); ask again next time.
			return nil
		}
		r.integ.mu.Lock()
		r.integ.versioning = &on
		r.integ.mu.Unlock()
		known = &on
	}
	if !*known {
		return nil
	}
	return v
}

// olderVersion looks for the newest older version of key that hashes to
// name. It returns nil when there is none or the store keeps no versions.
func (r *Repository) olderVersion(ctx context.Context, key, name string) ([]byte, error) {
	v := r.versioned(ctx)
	if v == nil {
		return nil, nil
	}
	vs, err := v.Versions(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	for _, ver := range vs {
		if ver.IsLatest {
			continue
		}
		b, err := readVersion(ctx, v, key, ver.ID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		if hashName(b) == name {
			r.addShadowed(Shadowed{Key: key, Version: ver.ID, ModTime: ver.ModTime})
			return b, nil
		}
	}
	return nil, nil
}

func readVersion(ctx context.Context, v store.Versioned, key, id string) ([]byte, error) {
	rc, err := v.GetVersion(ctx, key, id, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("repo: read %s version %s: %w", key, id, err)
	}
	return b, nil
}

// packPin returns the version of pack id to read (see the top of the file).
func (r *Repository) packPin(ctx context.Context, id blob.ID) (pin, error) {
	v := r.versioned(ctx)
	if v == nil {
		return pin{}, nil
	}
	r.integ.mu.Lock()
	p, ok := r.integ.pins[id]
	r.integ.mu.Unlock()
	if ok {
		return p, nil
	}
	res, err, _ := r.integ.pinGroup.Do(id.String(), func() (any, error) {
		p, err := r.findPin(ctx, v, id)
		if err != nil {
			return pin{}, err
		}
		r.integ.mu.Lock()
		if r.integ.pins == nil {
			r.integ.pins = map[blob.ID]pin{}
		}
		r.integ.pins[id] = p
		r.integ.mu.Unlock()
		return p, nil
	})
	if err != nil {
		return pin{}, err
	}
	return res.(pin), nil
}

func (r *Repository) findPin(ctx context.Context, v store.Versioned, id blob.ID) (pin, error) {
	key := PackKey(id)
	vs, err := v.Versions(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return pin{}, fmt.Errorf("repo: pack %s: %w", id.Short(), err)
		}
		if ctx.Err() != nil {
			return pin{}, ctx.Err()
		}
		// Versions cannot be listed (a permission the credentials lack):
		// read the current object, as without versioning.
		return pin{}, nil
	}
	if len(vs) == 1 {
		return pin{version: vs[0].ID, size: vs[0].Size}, nil
	}
	for _, ver := range vs {
		b, err := readVersion(ctx, v, key, ver.ID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return pin{}, fmt.Errorf("repo: pack %s: %w", id.Short(), err)
		}
		if blob.ID(sha256.Sum256(b)) == id {
			if !ver.IsLatest {
				r.addShadowed(Shadowed{Key: key, Version: ver.ID, ModTime: ver.ModTime})
			}
			return pin{version: ver.ID, size: ver.Size}, nil
		}
	}
	// No version matches: read the current one, which fails as it must.
	return pin{version: vs[0].ID, size: vs[0].Size}, nil
}

// getPack reads length bytes of pack id from offset, from the pinned
// version on a versioned store.
func (r *Repository) getPack(ctx context.Context, id blob.ID, offset, length int64) (io.ReadCloser, error) {
	p, err := r.packPin(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.version == "" {
		return r.store.Get(ctx, PackKey(id), offset, length)
	}
	return r.store.(store.Versioned).GetVersion(ctx, PackKey(id), p.version, offset, length)
}

// packSize is the size of the version of pack id that reads come from.
func (r *Repository) packSize(ctx context.Context, id blob.ID) (int64, error) {
	p, err := r.packPin(ctx, id)
	if err != nil {
		return 0, err
	}
	if p.version != "" {
		return p.size, nil
	}
	fi, err := r.store.Stat(ctx, PackKey(id))
	if err != nil {
		return 0, fmt.Errorf("repo: pack %s: %w", id.Short(), err)
	}
	return fi.Size, nil
}

// ReadPack reads a whole pack (the version that hashes to its name, on a
// versioned store). The caller checks the content against the name.
func (r *Repository) ReadPack(ctx context.Context, id blob.ID) ([]byte, error) {
	rc, err := r.getPack(ctx, id, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("repo: read pack %s: %w", id.Short(), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("repo: read pack %s: %w", id.Short(), err)
	}
	return b, nil
}

// forgetPins drops the pinned versions (after a full reload of the index:
// packs may be gone), so that they are looked up again when read.
func (r *Repository) forgetPins() {
	r.integ.mu.Lock()
	r.integ.pins = nil
	r.integ.mu.Unlock()
}
