// Package local is a store.Store on a directory of the local filesystem (or
// anything mounted there: NFS, a USB disk). Object key "a/b/c" is the file
// <dir>/a/b/c.
//
// A Put writes a temporary file in <dir>/.tmp~ (the '~' keeps the name apart
// from every valid key), fsyncs it, links it into place with os.Link, which
// fails if the key exists and so gives put-if-absent atomically, and fsyncs
// the directories involved. A crash leaves at most a stray temporary file,
// which List never shows and CleanTemp removes.
//
// This package must not overwrite, append to or rename over an object, and
// must not know what the bytes mean. It relies on hard links and on the
// temporary area being on the same filesystem as the objects.
package local
