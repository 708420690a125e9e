// Command image writes the container images the test node runs, as OCI
// image layout tarballs that `ctr images import` reads: a busybox image for
// workloads, the pod sandbox ("pause") image containerd asks for and, given
// -velero, a Velero image. Nothing is pulled: the base layer is
// /bin/busybox (from Debian's busybox-static) and a few symlinks to it; the
// Velero image adds a layer with the static velero binary at /velero, the
// path Velero's node agent runs in the pods it makes for each file-system
// backup and restore ("/velero pod-volume backup|restore", the command of
// Velero's pod-volume exposer). The output is byte-for-byte reproducible.
//
//	image -busybox /bin/busybox -out .cache/images -pause-ref registry.k8s.io/pause:3.6 [-velero .cache/bin/velero]
//
// It uses only the standard library, so it builds with no module download.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// BusyboxRef is the name of the workload image; tests use it with
// imagePullPolicy: Never.
const BusyboxRef = "cairn.local/busybox:1"

// VeleroRef is the name of the Velero image (velero.tar): what the tests'
// node-agent DaemonSet names, so that Velero's data-path pods run it.
const VeleroRef = "cairn.local/velero:1"

// applets are the busybox commands the image has as /bin/<name>.
var applets = []string{
	"sh", "ls", "cat", "sleep", "mkdir", "echo", "dd", "sync", "test", "wc",
	"md5sum", "sha256sum", "cp", "rm", "touch", "find",
	// Handy beyond the list above, and free: same binary.
	"true", "false", "stat", "head", "tail", "du", "df", "mv", "ln", "chmod", "id", "env", "date", "seq", "printf", "grep", "hostname",
}

// epoch is the modification time of every file in the layer and the
// creation time of the images, so that the tarballs are reproducible.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// pauseScript runs as the sandbox's only process: it sleeps until killed and
// exits at once on SIGTERM/SIGINT (a plain `sleep` as PID 1 would ignore them).
const pauseScript = `trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done`

func main() {
	busybox := flag.String("busybox", "/bin/busybox", "statically linked busybox binary to put in the images")
	out := flag.String("out", ".cache/images", "folder to write busybox.tar, pause.tar and pause.ref (the sandbox image's name) into")
	pauseRef := flag.String("pause-ref", "registry.k8s.io/pause:3.6", "name of the sandbox image (containerd's sandbox_image)")
	velero := flag.String("velero", "", "static velero binary: also write velero.tar ("+VeleroRef+"), with it at /velero")
	flag.Parse()
	if err := run(*busybox, *out, *pauseRef, *velero); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(busyboxPath, out, pauseRef, veleroPath string) error {
	bin, err := readELF(busyboxPath)
	if err != nil {
		return err
	}
	layer, err := busyboxLayer(bin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	type image struct {
		file, ref string
		layers    [][]byte
		cmd       []string
	}
	images := []image{
		{"busybox.tar", BusyboxRef, [][]byte{layer}, []string{"/bin/sh"}},
		{"pause.tar", pauseRef, [][]byte{layer}, []string{"/bin/sh", "-c", pauseScript}},
	}
	if veleroPath != "" {
		bin, err := readELF(veleroPath)
		if err != nil {
			return err
		}
		vl, err := veleroLayer(bin)
		if err != nil {
			return err
		}
		images = append(images, image{"velero.tar", VeleroRef, [][]byte{layer, vl}, []string{"/velero"}})
	}
	// The harness checks the sandbox image name against containerd's.
	if err := writeAtomic(filepath.Join(out, "pause.ref"), []byte(pauseRef+"\n")); err != nil {
		return err
	}
	for _, img := range images {
		data, err := layoutTar(img.ref, img.layers, img.cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", img.ref, err)
		}
		if err := writeAtomic(filepath.Join(out, img.file), data); err != nil {
			return err
		}
		fmt.Printf("%-28s %s (%d bytes)\n", img.ref, filepath.Join(out, img.file), len(data))
	}
	return nil
}

// readELF reads the binary at path and checks that it is an ELF file.
func readELF(path string) ([]byte, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		return nil, fmt.Errorf("%s is not an ELF binary", path)
	}
	return bin, nil
}

// veleroLayer returns an uncompressed layer tar with the velero binary at
// /velero and a home folder for root (/root: the kopia caches of Velero's
// data path go under $HOME).
func veleroLayer(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "root/", Mode: 0o700},
		{Typeflag: tar.TypeReg, Name: "velero", Mode: 0o755, Size: int64(len(bin))},
	} {
		h.ModTime, h.Format = epoch, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// busyboxLayer returns an uncompressed layer tar with the usual top-level
// folders, /bin/busybox and its applet symlinks.
func busyboxLayer(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Format = epoch, tar.FormatPAX
		return tw.WriteHeader(h)
	}
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o555}, {"sys/", 0o555}, {"tmp/", 0o1777}, {"var/", 0o755}, {"data/", 0o755}} {
		if err := hdr(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode}); err != nil {
			return nil, err
		}
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
	group := []byte("root:x:0:\nnobody:x:65534:\n")
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"bin/busybox", 0o755, bin}, {"etc/passwd", 0o644, passwd}, {"etc/group", 0o644, group}} {
		if err := hdr(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	for _, a := range applets {
		if err := hdr(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// layoutTar returns an OCI image layout (oci-layout, index.json, blobs/)
// as a tar, with one image named ref of layers (bottom first): its index
// entry carries the name in io.containerd.image.name (what ctr import
// reads) and org.opencontainers.image.ref.name.
func layoutTar(ref string, layers [][]byte, cmd []string) ([]byte, error) {
	blobs := map[string][]byte{}
	add := func(mediaType string, data []byte) descriptor {
		sum := sha256.Sum256(data)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[d] = data
		return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	}
	var layerDescs []descriptor
	var diffIDs []string
	for _, l := range layers {
		d := add("application/vnd.oci.image.layer.v1.tar", l)
		layerDescs, diffIDs = append(layerDescs, d), append(diffIDs, d.Digest)
	}
	config, err := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env":        []string{"PATH=/bin"},
			"Cmd":        cmd,
			"WorkingDir": "/",
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "hack/tools/image"}},
	})
	if err != nil {
		return nil, err
	}
	configDesc := add("application/vnd.oci.image.config.v1+json", config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        layerDescs,
	})
	if err != nil {
		return nil, err
	}
	manifestDesc := add("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDesc.Platform = &platform{Architecture: runtime.GOARCH, OS: "linux"}
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": ref,
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifestDesc},
	})
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	file := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, err
	}
	if err := file("index.json", index); err != nil {
		return nil, err
	}
	for _, d := range append(layerDescs, configDesc, manifestDesc) { // fixed order
		if err := file("blobs/sha256/"+d.Digest[len("sha256:"):], blobs[d.Digest]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeAtomic writes data to path through a temporary file in the same
// folder, so that a reader never sees half a tarball.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), fs.FileMode(0o644)); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
