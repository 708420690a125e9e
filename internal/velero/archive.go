package velero

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Item is one object of a backup's tarball.
type Item struct {
	Group      string // "" for the core group
	Resource   string // plural, e.g. "deployments"
	Namespace  string // "" for cluster-scoped objects
	Name       string
	Namespaced bool
	APIVersion string // from the object
	Kind       string
	Data       []byte // the object's JSON as Velero stored it
}

// maxItem bounds one object's JSON (the API server's own limit is lower).
const maxItem = 64 << 20

// itemPath is what a tarball path says of an object. Paths other than the
// preferred version's (resources/<gr>/{namespaces/<ns>,cluster}/<name>.json
// and resources/<gr>/<v>-preferredversion/…) are not objects to import.
type itemPath struct {
	group, resource, namespace, name string
	namespaced                       bool
}

// parseItemPath reads a tarball path; ok is false for paths that hold no
// preferred-version object (metadata/, other versions, directories).
func parseItemPath(p string) (ip itemPath, ok bool, err error) {
	p = strings.TrimPrefix(p, "./")
	parts := strings.Split(p, "/")
	if len(parts) < 4 || parts[0] != "resources" || !strings.HasSuffix(p, ".json") {
		return ip, false, nil
	}
	gr := parts[1]
	rest := parts[2:]
	if strings.HasSuffix(rest[0], "-preferredversion") {
		rest = rest[1:]
	}
	switch {
	case len(rest) == 2 && rest[0] == "cluster":
		ip.name = strings.TrimSuffix(rest[1], ".json")
	case len(rest) == 3 && rest[0] == "namespaces":
		ip.namespace, ip.name, ip.namespaced = rest[1], strings.TrimSuffix(rest[2], ".json"), true
	case len(rest) >= 3 && (rest[1] == "cluster" || rest[1] == "namespaces"):
		return ip, false, nil // another version of the type (EnableAPIGroupVersions)
	default:
		return ip, false, fmt.Errorf("unexpected path %q: %w", p, ErrFormat)
	}
	ip.resource, ip.group, _ = strings.Cut(gr, ".")
	if ip.resource == "" || ip.name == "" || ip.namespaced && ip.namespace == "" {
		return ip, false, fmt.Errorf("unexpected path %q: %w", p, ErrFormat)
	}
	return ip, true, nil
}

// typeMeta is an object's apiVersion and kind.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ReadItems reads a backup tarball (gzipped tar) entry by entry and calls
// fn for each preferred-version object, in the tarball's order. It checks
// metadata/version: a format whose major version is not 1 is ErrFormat.
// A malformed object is reported to bad and left out; a broken tarball is
// ErrFormat.
func ReadItems(ctx context.Context, r io.Reader, fn func(Item) error, bad func(path string, err error)) (format string, err error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return "", fmt.Errorf("velero: tarball: %v: %w", err, ErrFormat)
	}
	tr := tar.NewReader(zr)
	var buf bytes.Buffer
	for {
		if err := ctx.Err(); err != nil {
			return format, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return format, fmt.Errorf("velero: tarball: %v: %w", err, ErrFormat)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "./")
		if name == "metadata/version" {
			b, err := io.ReadAll(io.LimitReader(tr, 256))
			if err != nil {
				return format, fmt.Errorf("velero: tarball: %v: %w", err, ErrFormat)
			}
			format = strings.TrimSpace(string(b))
			if !strings.HasPrefix(format, "1.") {
				return format, fmt.Errorf("velero: backup format %q: only 1.x can be read: %w", format, ErrFormat)
			}
			continue
		}
		ip, ok, err := parseItemPath(name)
		if err != nil {
			bad(name, err)
			continue
		}
		if !ok {
			continue
		}
		if h.Size > maxItem {
			bad(name, fmt.Errorf("%d bytes: larger than %d", h.Size, maxItem))
			continue
		}
		buf.Reset()
		if _, err := io.Copy(&buf, tr); err != nil {
			return format, fmt.Errorf("velero: tarball: %s: %v: %w", name, err, ErrFormat)
		}
		var tm typeMeta
		if err := json.Unmarshal(buf.Bytes(), &tm); err != nil {
			bad(name, err)
			continue
		}
		if tm.APIVersion == "" || tm.Kind == "" {
			bad(name, errors.New("no apiVersion or kind"))
			continue
		}
		if g, _, hasGroup := strings.Cut(tm.APIVersion, "/"); hasGroup && g != ip.group || !hasGroup && ip.group != "" {
			bad(name, fmt.Errorf("apiVersion %s in the directory of group %q", tm.APIVersion, ip.group))
			continue
		}
		it := Item{
			Group: ip.group, Resource: ip.resource, Namespace: ip.namespace, Name: ip.name, Namespaced: ip.namespaced,
			APIVersion: tm.APIVersion, Kind: tm.Kind, Data: bytes.Clone(buf.Bytes()),
		}
		if err := fn(it); err != nil {
			return format, err
		}
	}
	if format == "" {
		return format, fmt.Errorf("velero: tarball has no metadata/version: %w", ErrFormat)
	}
	return format, nil
}
