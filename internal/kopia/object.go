package kopia

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// ObjectID names an object: "I"×indirection, optionally "Z"
// (compressed), then a content ID.
type ObjectID string

// maxIndirection bounds the levels of "I" (kopia needs two or three for
// the largest files).
const maxIndirection = 8

type parsedID struct {
	indirect   int
	compressed bool
	content    contentID
}

func (o ObjectID) parse() (parsedID, error) {
	s := string(o)
	var p parsedID
	for s != "" && s[0] == 'I' {
		p.indirect++
		s = s[1:]
	}
	if s != "" && s[0] == 'Z' {
		p.compressed = true
		s = s[1:]
	}
	s = strings.TrimPrefix(s, "D") // a legacy marker of direct objects
	if p.indirect > maxIndirection || p.indirect > 0 && p.compressed {
		return p, fmt.Errorf("kopia: object ID %q: %w", o, ErrCorrupt)
	}
	c, err := parseContentID(s)
	if err != nil {
		return p, fmt.Errorf("kopia: object ID %q: %w", o, err)
	}
	p.content = c
	return p, nil
}

// indirectEntry is one piece of an indirect object.
type indirectEntry struct {
	Start  int64    `json:"s"`
	Length int64    `json:"l"`
	Object ObjectID `json:"o"`
}

// pieces returns the direct objects that make up id, in order, with their
// lengths (-1: unknown, for a direct object).
func (r *Repository) pieces(ctx context.Context, id ObjectID, depth int) ([]indirectEntry, error) {
	p, err := id.parse()
	if err != nil {
		return nil, err
	}
	if p.indirect == 0 {
		return []indirectEntry{{Object: id, Length: -1}}, nil
	}
	if depth > maxIndirection {
		return nil, fmt.Errorf("kopia: object %s: too many levels of indirection: %w", id, ErrCorrupt)
	}
	// The list is itself the object one level less indirect.
	list, err := r.readAll(ctx, id[1:], depth+1)
	if err != nil {
		return nil, err
	}
	var ind struct {
		Stream  string          `json:"stream"`
		Entries []indirectEntry `json:"entries"`
	}
	if err := json.Unmarshal(list, &ind); err != nil {
		return nil, fmt.Errorf("kopia: object %s: indirect list: %v: %w", id, err, ErrCorrupt)
	}
	if ind.Stream != "kopia:indirect" {
		return nil, fmt.Errorf("kopia: object %s: stream %q, want kopia:indirect: %w", id, ind.Stream, ErrCorrupt)
	}
	var out []indirectEntry
	var at int64
	for _, e := range ind.Entries {
		if e.Start != at || e.Length < 0 {
			return nil, fmt.Errorf("kopia: object %s: piece at %d of %d bytes, want one at %d: %w", id, e.Start, e.Length, at, ErrCorrupt)
		}
		at += e.Length
		sub, err := r.pieces(ctx, e.Object, depth+1)
		if err != nil {
			return nil, err
		}
		if len(sub) == 1 && sub[0].Length < 0 {
			sub[0].Length = e.Length
		}
		out = append(out, sub...)
	}
	return out, nil
}

// direct reads a direct object's bytes.
func (r *Repository) direct(ctx context.Context, id ObjectID) ([]byte, error) {
	p, err := id.parse()
	if err != nil {
		return nil, err
	}
	b, err := r.content(ctx, p.content)
	if err != nil {
		return nil, err
	}
	if p.compressed {
		if b, err = decompress(b, 0, false); err != nil {
			return nil, fmt.Errorf("kopia: object %s: %w", id, err)
		}
	}
	return b, nil
}

// readAll reads a whole object (directories, lists: metadata, bounded).
func (r *Repository) readAll(ctx context.Context, id ObjectID, depth int) ([]byte, error) {
	ps, err := r.pieces(ctx, id, depth)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, p := range ps {
		b, err := r.direct(ctx, p.Object)
		if err != nil {
			return nil, err
		}
		if p.Length >= 0 && int64(len(b)) != p.Length {
			return nil, fmt.Errorf("kopia: object %s: piece %s has %d bytes, the list says %d: %w", id, p.Object, len(b), p.Length, ErrCorrupt)
		}
		if buf.Len()+len(b) > maxContent {
			return nil, fmt.Errorf("kopia: object %s: metadata larger than %d bytes: %w", id, maxContent, ErrCorrupt)
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// OpenObject streams the object id; it holds one content at a time.
func (r *Repository) OpenObject(ctx context.Context, id ObjectID) (io.ReadCloser, error) {
	ps, err := r.pieces(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	return &objectReader{ctx: ctx, r: r, id: id, pieces: ps}, nil
}

type objectReader struct {
	ctx    context.Context
	r      *Repository
	id     ObjectID
	pieces []indirectEntry
	cur    []byte
}

func (o *objectReader) Read(p []byte) (int, error) {
	for len(o.cur) == 0 {
		if len(o.pieces) == 0 {
			return 0, io.EOF
		}
		next := o.pieces[0]
		o.pieces = o.pieces[1:]
		b, err := o.r.direct(o.ctx, next.Object)
		if err != nil {
			return 0, err
		}
		if next.Length >= 0 && int64(len(b)) != next.Length {
			return 0, fmt.Errorf("kopia: object %s: piece %s has %d bytes, the list says %d: %w", o.id, next.Object, len(b), next.Length, ErrCorrupt)
		}
		o.cur = b
	}
	n := copy(p, o.cur)
	o.cur = o.cur[n:]
	return n, nil
}

func (o *objectReader) Close() error { o.pieces, o.cur = nil, nil; return nil }
