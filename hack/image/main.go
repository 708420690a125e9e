// Command image builds cairn's OCI image without a container engine: it
// compiles static binaries of cairn, cairn-controller and cairn-agent (CGO_ENABLED=0)
// and puts them, with the build host's CA bundle and a passwd entry for
// the non-root user, in one layer on an empty base (go-containerregistry).
// The image runs as user 65532 with entrypoint cairn-controller. Files
// carry a fixed time, so the same sources give the same digest.
//
//	go run ./hack/image -layout bin/image/oci -tar bin/image/cairn.tar
//
// The OCI layout is pushed with `crane push --index`/`skopeo copy oci:...`;
// the tarball loads with `docker load` or `podman load`.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image.
const (
	BinDir     = "/usr/local/bin"
	Entrypoint = BinDir + "/cairn-controller"
	User       = "65532:65532"
	caBundle   = "/etc/ssl/certs/ca-certificates.crt"
)

// Commands are the binaries in the image (packages under cmd/).
var Commands = []string{"cairn", "cairn-controller", "cairn-agent"}

// Options say what to build.
type Options struct {
	Root     string // the module's root directory
	Arch     string // GOARCH of the binaries and the image
	CABundle string // CA certificates to include ("" = none: no TLS to S3)
	Version  string // org.opencontainers.image.version
}

func main() {
	var (
		o       Options
		tarPath = flag.String("tar", "", "write a tarball (docker load / podman load) here")
		dir     = flag.String("layout", "", "write an OCI image layout into this directory")
		ref     = flag.String("tag", "ghcr.io/cairn-backup/cairn:dev", "the image's name in the tarball")
	)
	flag.StringVar(&o.Root, "root", ".", "the module's root directory")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "architecture (GOARCH)")
	flag.StringVar(&o.CABundle, "ca-bundle", caBundle, "CA bundle of the build host to include (empty: none)")
	flag.StringVar(&o.Version, "version", "dev", "version label")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, *tarPath, *dir, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o Options, tarPath, dir, ref string) error {
	if tarPath == "" && dir == "" {
		return fmt.Errorf("nothing to write: give -tar FILE and/or -layout DIR")
	}
	img, err := Build(ctx, o)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	if tarPath != "" {
		tag, err := name.NewTag(ref)
		if err != nil {
			return fmt.Errorf("-tag %q: %w", ref, err)
		}
		if err := os.MkdirAll(filepath.Dir(tarPath), 0o755); err != nil {
			return err
		}
		if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
			return fmt.Errorf("write %s: %w", tarPath, err)
		}
		fmt.Printf("%s: %s (%s)\n", tarPath, tag, digest)
	}
	if dir != "" {
		if err := WriteLayout(dir, img); err != nil {
			return err
		}
		fmt.Printf("%s: OCI layout (%s)\n", dir, digest)
	}
	return nil
}

// WriteLayout writes img as the only image of a fresh OCI layout in dir.
func WriteLayout(dir string, img v1.Image) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return nil
}

// Build compiles the binaries and assembles the image.
func Build(ctx context.Context, o Options) (v1.Image, error) {
	tmp, err := os.MkdirTemp("", "cairn-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	files := []file{
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "home/nonroot", dir: true, mode: 0o700, uid: 65532},
		{path: "tmp", dir: true, mode: 0o1777},
	}
	if o.CABundle != "" {
		ca, err := os.ReadFile(o.CABundle)
		if err != nil {
			return nil, fmt.Errorf("CA bundle (for TLS to object storage; -ca-bundle \"\" leaves it out): %w", err)
		}
		files = append(files, file{path: caBundle[1:], mode: 0o644, data: ca})
	}
	for _, cmd := range Commands {
		out := filepath.Join(tmp, cmd)
		if err := compile(ctx, o, cmd, out); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		files = append(files, file{path: BinDir[1:] + "/" + cmd, mode: 0o755, data: data})
	}
	layerTar, err := tarOf(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "hack/image: " + fmt.Sprint(Commands), Created: v1.Time{Time: epoch}}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", o.Arch
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{Entrypoint}
	cfg.Config.User = User
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=" + BinDir, "HOME=/home/nonroot"}
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "cairn",
		"org.opencontainers.image.version": o.Version,
		"org.opencontainers.image.source":  "https://github.com/cairn-backup/cairn",
	}
	return mutate.ConfigFile(img, cfg)
}

// epoch is the time of every file and of the image: builds are
// reproducible.
var epoch = time.Unix(0, 0).UTC()

// compile builds ./cmd/<cmd> as a static Linux binary.
func compile(ctx context.Context, o Options, cmd, out string) error {
	c := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/"+cmd)
	c.Dir = o.Root
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/%s: %w", cmd, err)
	}
	return nil
}

type file struct {
	path string
	dir  bool
	mode int64
	uid  int
	data []byte
}

// tarOf returns a tar of files with their parent directories.
func tarOf(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	var parents func(p string) error
	parents = func(p string) error {
		d := filepath.Dir(p)
		if d == "." || seen[d] {
			return nil
		}
		if err := parents(d); err != nil {
			return err
		}
		seen[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
	}
	for _, f := range files {
		if err := parents(f.path); err != nil {
			return nil, err
		}
		h := &tar.Header{Name: f.path, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: epoch, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.path+"/"
			seen[f.path] = true
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
