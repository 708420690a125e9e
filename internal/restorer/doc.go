// Package restorer writes a snapshot back to a directory under the
// disaster-recovery rule of README.md ("Directories: quick start"): every
// file in the snapshot replaces the file of the same name in the target,
// and every other file in the target is left as it was (no wipe). A file is written to a temporary
// name beside its target and renamed over it when complete, so a failed
// restore never leaves a half-written file where a good one was.
//
// The target may be written by others while it is restored (a tenant's pod
// on a shared volume), so no path is ever resolved twice. The target is
// opened once (it must not be a symlink); every directory below is made
// with mkdirat and opened relative to its parent's descriptor with
// O_NOFOLLOW|O_DIRECTORY. Files are created with
// openat(O_CREAT|O_EXCL|O_NOFOLLOW) in their directory, their metadata set
// on the descriptor (fchown, fchmod, fsetxattr, futimens), and renamed with
// renameat within that directory; symlinks, device nodes and FIFOs are made
// with symlinkat/mknodat and their metadata set without following them
// (AT_SYMLINK_NOFOLLOW). An entry of the target that should be a directory
// but is a symlink or a file is refused and reported, never followed nor
// replaced; a directory is never replaced by a file. Nothing is written,
// and no mode changed, outside the target.
//
// Directories that exist before the restore (the target, or one in it)
// keep their owner, mode, extended attributes and times: the restore only
// adds entries to them. (Options.RootMeta excepts the target, for callers
// whose target stands for the backed-up directory itself: the node agent
// restoring a volume's top folder.) Directories it creates get the snapshot's owner and
// mode at once (not running as root: with the owner's rwx until they are
// finished) and all their metadata once every entry in them is in, deepest
// first.
//
// Durability: every file is fsynced before it is renamed into place (in a
// pool of its own, wider than the writers: concurrent fsyncs share the
// disk's journal commits), and every directory after its entries are in;
// Run returns only after that, so a caller that then tells someone the data
// is there (the node agent releasing a pod) tells the truth after a crash.
//
// At most dirLimit idle directory descriptors stay open (plus those in use
// by the workers and the walk): a deep or wide tree closes the least
// recently used, and one needed again is opened again from its parent and
// checked to be the same directory (device and inode).
//
// It reads through BlobLoader (what it needs of a repo.Repository) and
// writes the file system; it knows nothing of Kubernetes or of the CLI.
package restorer
