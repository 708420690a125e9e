package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image is built once (two static binaries), written as a tarball and
// an OCI layout, and both are read back: config, and a layer holding
// static Linux executables of both commands.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	img, err := Build(ctx, Options{Root: filepath.Join("..", ".."), Arch: runtime.GOARCH, CABundle: ca, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.test/cairn:test")
	tarPath := filepath.Join(dir, "cairn.tar")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(filepath.Join(dir, "oci"), img); err != nil {
		t.Fatal(err)
	}

	fromTar, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("OCI layout index: %v, %+v", err, m)
	}
	fromLayout, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got, _ := fromLayout.Digest(); got != want {
		t.Errorf("OCI layout holds %s, want %s", got, want)
	}

	for what, im := range map[string]v1.Image{"tarball": fromTar, "layout": fromLayout} {
		cfg, err := im.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/cairn-controller"}) || cfg.Config.User != "65532:65532" ||
			cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
			t.Errorf("%s: entrypoint %v, user %q, platform %s/%s", what, cfg.Config.Entrypoint, cfg.Config.User, cfg.OS, cfg.Architecture)
		}
		layers, err := im.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s: %d layers (%v), want 1 on an empty base", what, len(layers), err)
		}
		files := layerFiles(t, layers[0])
		for _, cmd := range []string{"cairn", "cairn-controller"} {
			h, data := files["usr/local/bin/"+cmd].h, files["usr/local/bin/"+cmd].data
			if h == nil {
				t.Fatalf("%s: no usr/local/bin/%s in the layer", what, cmd)
			}
			if h.Mode&0o111 == 0 {
				t.Errorf("%s: %s is not executable (mode %o)", what, cmd, h.Mode)
			}
			f, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %s is not an ELF binary: %v", what, cmd, err)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s: %s is dynamically linked", what, cmd)
				}
			}
		}
		for _, p := range []string{"etc/passwd", "etc/ssl/certs/ca-certificates.crt", "tmp/"} {
			if files[p].h == nil {
				t.Errorf("%s: no %s in the layer", what, p)
			}
		}
	}
}

type entry struct {
	h    *tar.Header
	data []byte
}

func layerFiles(t *testing.T, l v1.Layer) map[string]entry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = entry{h: h, data: data}
	}
}
