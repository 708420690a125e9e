// Package archiver backs up directories into a repository: it walks the
// given paths, chunks and saves changed files with a bounded pool of
// workers, reuses the content of files unchanged since a parent snapshot
// without reading them, saves one tree per directory and finally the
// snapshot manifest.
//
// It reads the file system and writes only through BlobSaver (what it
// needs of a repo.Repository); it knows nothing of Kubernetes or of the
// CLI.
//
// # Reading a tree that changes under it
//
// The node agent runs this as root over volumes that their pods keep
// writing, so an entry may be replaced at any moment, also by a symlink to
// a file of another pod. Nothing outside the given paths is ever read:
//
//   - The walk holds each directory open and works relative to its
//     descriptor: entries are listed with getdents and statted with
//     fstatat(AT_SYMLINK_NOFOLLOW); directories are opened with
//     openat(O_DIRECTORY|O_NOFOLLOW), files with openat(O_NOFOLLOW), so a
//     symlink is never followed, at any depth. Only the directory holding
//     each given path is opened by its path, following symlinks (the
//     caller named it).
//   - An opened entry's fstat must show the device, inode and type of the
//     stat it was recorded from. If not, or if it has become a symlink
//     (ELOOP), its content is not saved: the node keeps its stat with the
//     error ErrChanged, the entry is listed in Summary.Errors and Run
//     returns ErrPartial (a restore reports it as not in the snapshot).
//     A replaced directory is saved empty with the error. (A device node
//     put in a file's place in that window is opened, with O_NONBLOCK and
//     O_NOCTTY, and closed unread: opening it is the one side effect.)
//   - Extended attributes (and so POSIX ACLs) are read from the open
//     descriptor for files read and directories, and for other entries
//     with llistxattr on /proc/self/fd/<dir>/<name> (only the name is
//     resolved, in the open directory). Without /proc, an unchanged file
//     is opened for them and symlinks and special files get none.
//   - A given path that is a symlink is saved as the symlink, not
//     followed. A given path that cannot be statted (missing) fails the
//     backup with an error wrapping fs.ErrNotExist and saves no snapshot.
//
// Descriptors are bounded: the walk keeps at most maxHeldDirs (16)
// directories of its path open; deeper, it closes a directory while it
// walks a sub-directory and opens it again through the sub-directory's
// "..", checking its device and inode (if the sub-directory was moved
// meanwhile, the rest of the directory is reported and not saved). A file
// job holds its directory only until the file is open, so the total is
// at most maxHeldDirs plus six per worker (five queued or running
// jobs' directories and one file). The system calls per entry are
// those a path-based walk needs: one fstatat and one listxattr per entry,
// and for a file that is read one openat and one fstat (which replaces
// the one os.Open would do).
//
// Scan walks the same way for progress totals.
package archiver
