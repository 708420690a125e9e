// Package fsmeta reads and writes file metadata on Linux: stat fields,
// extended attributes, owners, times, device nodes. The archiver uses it to
// record a file and the restorer to put its metadata back.
//
// It knows nothing of repositories; it only translates between the file
// system and snapshot.Node.
package fsmeta
