package kopia

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"time"
)

// Entry types of a directory entry.
const (
	TypeFile    = "f"
	TypeDir     = "d"
	TypeSymlink = "s"
)

// Entry is one entry of a directory (or a snapshot's root).
type Entry struct {
	Name    string
	Type    string      // TypeFile, TypeDir, TypeSymlink, or another kopia type (not read)
	Mode    fs.FileMode // permissions, with fs.ModeSetuid, ModeSetgid and ModeSticky
	Size    int64
	ModTime time.Time
	UID     uint32
	GID     uint32
	Object  ObjectID
}

// Owner returns the entry's numeric owner and group.
func (e *Entry) Owner() (uid, gid uint32) { return e.UID, e.GID }

// dirEntryJSON is an entry as a directory object holds it.
type dirEntryJSON struct {
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Mode    string    `json:"mode"` // "0755": octal digits of Go's file mode bits
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	UID     uint32    `json:"uid"`
	GID     uint32    `json:"gid"`
	Object  ObjectID  `json:"obj"`
}

const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

func (j *dirEntryJSON) entry() (Entry, error) {
	e := Entry{Name: j.Name, Type: j.Type, Size: j.Size, ModTime: j.ModTime, UID: j.UID, GID: j.GID, Object: j.Object}
	if j.Mode != "" {
		v, err := strconv.ParseInt(j.Mode, 0, 64)
		if err != nil {
			return e, fmt.Errorf("kopia: entry %q: mode %q: %w", j.Name, j.Mode, ErrCorrupt)
		}
		e.Mode = fs.FileMode(v) & modeBits
	}
	return e, nil
}

// ReadDir returns the entries of the directory dir, sorted by name.
func (r *Repository) ReadDir(ctx context.Context, dir Entry) ([]Entry, error) {
	if dir.Type != TypeDir {
		return nil, fmt.Errorf("kopia: %q is not a directory (type %q)", dir.Name, dir.Type)
	}
	b, err := r.readAll(ctx, dir.Object, 0)
	if err != nil {
		return nil, fmt.Errorf("kopia: directory %q: %w", dir.Name, err)
	}
	var d struct {
		Stream  string          `json:"stream"`
		Entries []*dirEntryJSON `json:"entries"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("kopia: directory %q (%s): %v: %w", dir.Name, dir.Object, err, ErrCorrupt)
	}
	if d.Stream != "kopia:directory" {
		return nil, fmt.Errorf("kopia: directory %q (%s): stream %q: %w", dir.Name, dir.Object, d.Stream, ErrCorrupt)
	}
	out := make([]Entry, 0, len(d.Entries))
	for _, j := range d.Entries {
		if j == nil || j.Name == "" || j.Name == "." || j.Name == ".." || bytes.ContainsAny([]byte(j.Name), "/\x00") {
			return nil, fmt.Errorf("kopia: directory %q (%s): entry name %q: %w", dir.Name, dir.Object, j.Name, ErrCorrupt)
		}
		e, err := j.entry()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Source is what a snapshot was taken of.
type Source struct {
	Host     string `json:"host"`
	UserName string `json:"userName"`
	Path     string `json:"path"`
}

func (s Source) String() string { return s.UserName + "@" + s.Host + ":" + s.Path }

// Snapshot is a snapshot manifest.
type Snapshot struct {
	ID          string
	Source      Source
	Description string
	Start, End  time.Time
	Incomplete  string // why kopia did not finish it, "" when it did
	Tags        map[string]string
	Root        Entry
}

// manifestEntry is one entry of a manifest content.
type manifestEntry struct {
	ID       string            `json:"id"`
	Labels   map[string]string `json:"labels"`
	Modified time.Time         `json:"modified"`
	Deleted  bool              `json:"deleted"`
	Data     json.RawMessage   `json:"data"`
}

// manifests reads every manifest content (prefix m) and returns the
// current entry of each ID: the latest modified, deleted ones left out.
func (r *Repository) manifests(ctx context.Context) (map[string]*manifestEntry, error) {
	var ids []contentID
	for id, e := range r.index {
		if id.prefix() == 'm' && !e.deleted {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	all := map[string]*manifestEntry{}
	for _, id := range ids {
		b, err := r.content(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("kopia: manifest content: %w", err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("kopia: manifest content %s: %v: %w", id, err, ErrCorrupt)
		}
		var m struct {
			Entries []*manifestEntry `json:"entries"`
		}
		err = json.NewDecoder(io.LimitReader(zr, maxContent)).Decode(&m)
		if err != nil {
			return nil, fmt.Errorf("kopia: manifest content %s: %v: %w", id, err, ErrCorrupt)
		}
		for _, e := range m.Entries {
			if e == nil || e.ID == "" {
				continue
			}
			if old, ok := all[e.ID]; !ok || e.Modified.After(old.Modified) {
				all[e.ID] = e
			}
		}
	}
	for id, e := range all {
		if e.Deleted {
			delete(all, id)
		}
	}
	return all, nil
}

// snapshotJSON is a snapshot manifest's data.
type snapshotJSON struct {
	Source      Source            `json:"source"`
	Description string            `json:"description"`
	Start       time.Time         `json:"startTime"`
	End         time.Time         `json:"endTime"`
	Incomplete  string            `json:"incomplete"`
	Tags        map[string]string `json:"tags"`
	Root        *dirEntryJSON     `json:"rootEntry"`
}

// Snapshots returns the repository's snapshot manifests, oldest first.
func (r *Repository) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	all, err := r.manifests(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Snapshot
	for id, e := range all {
		if e.Labels["type"] != "snapshot" {
			continue
		}
		var j snapshotJSON
		if err := json.Unmarshal(e.Data, &j); err != nil {
			return nil, fmt.Errorf("kopia: snapshot manifest %s: %v: %w", id, err, ErrCorrupt)
		}
		if j.Root == nil {
			return nil, fmt.Errorf("kopia: snapshot manifest %s has no root entry: %w", id, ErrCorrupt)
		}
		root, err := j.Root.entry()
		if err != nil {
			return nil, err
		}
		out = append(out, &Snapshot{ID: id, Source: j.Source, Description: j.Description, Start: j.Start, End: j.End,
			Incomplete: j.Incomplete, Tags: j.Tags, Root: root})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Snapshot returns the snapshot manifest with that ID.
func (r *Repository) Snapshot(ctx context.Context, id string) (*Snapshot, error) {
	all, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	for _, sn := range all {
		if sn.ID == id {
			return sn, nil
		}
	}
	return nil, fmt.Errorf("kopia: snapshot %s: %w", id, ErrNotFound)
}

// Walk calls fn for every entry under dir, depth first, parents before
// their entries, with its slash-separated path relative to dir. An
// error from fn, or fs.SkipDir for a directory, is handled as by
// fs.WalkDir.
func (r *Repository) Walk(ctx context.Context, dir Entry, fn func(path string, e Entry) error) error {
	return r.walk(ctx, dir, "", fn)
}

func (r *Repository) walk(ctx context.Context, dir Entry, prefix string, fn func(string, Entry) error) error {
	entries, err := r.ReadDir(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := prefix + e.Name
		err := fn(p, e)
		if err == fs.SkipDir && e.Type == TypeDir {
			continue
		}
		if err != nil {
			return err
		}
		if e.Type == TypeDir {
			if err := r.walk(ctx, e, p+"/", fn); err != nil {
				return err
			}
		}
	}
	return nil
}
