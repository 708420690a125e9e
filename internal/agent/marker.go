package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-backup/cairn/internal/podvolume"
)

// writeMarker releases the pod with uid from its restore-wait init
// container: it creates the marker in the volume's top folder dir and
// returns the marker's path. The user's pod may write into the volume, so
// nothing there is trusted: the folder is opened without following a
// symlink, and the marker is created relative to that descriptor with
// O_CREAT|O_EXCL|O_NOFOLLOW — a symlink (or anything) planted at the
// marker's name is never followed, truncated or written. A regular file
// already there is an earlier marker (a restore run again): the pod is
// released all the same.
func writeMarker(dir string, uid types.UID) (string, error) {
	name := podvolume.MarkerName(uid)
	path := filepath.Join(dir, name)
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			return path, nil
		}
		return "", fmt.Errorf("%s exists and is not a regular file (planted in the volume?): not followed, not replaced", path)
	}
	if err != nil {
		return "", &os.PathError{Op: "create", Path: path, Err: err}
	}
	if err := unix.Close(fd); err != nil {
		return "", &os.PathError{Op: "close", Path: path, Err: err}
	}
	return path, nil
}

// markerExcludes are the archiver's exclude patterns for a backup of the
// volume in dir: the agent's markers, only in the volume's top folder
// (where the agent writes them). A user's file of that name in a
// sub-folder is the user's data and is backed up.
func markerExcludes(dir string) []string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	// A pattern with a '/' is matched against the full path.
	return []string{filepath.Join(escapeGlob(filepath.Clean(dir)), podvolume.MarkerGlob)}
}

// escapeGlob quotes the characters filepath.Match gives a meaning.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
