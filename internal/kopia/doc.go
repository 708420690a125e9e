// Package kopia reads, and only reads, a repository written by kopia
// (https://kopia.io), as Velero's node agent writes one for its
// file-system backups of pod volumes (one repository per namespace under
// <bsl-prefix>/kopia/<namespace>/). It opens the repository with its
// password, lists its snapshot manifests, walks a snapshot's directory
// tree and streams file contents, so that an importer (package velero)
// can write them into a cairn repository.
//
// Everything here was written from kopia's public description of its
// format (the layout of its repository and the algorithms it names); no
// kopia code is used or copied. What it reads:
//
//   - kopia.repository: the format blob (JSON). Its uniqueID salts the
//     password-based key derivation, keyAlgo "scrypt-65536-8-1" or
//     "pbkdf2-sha256-600000" (32-byte key); the repository configuration
//     in encryptedBlockFormat is AES-256-GCM (encryption "AES256_GCM",
//     12-byte nonce first) with a key and associated data derived from
//     that key by HKDF-SHA256 (salt uniqueID, info "AES" and "CHECKSUM").
//     A configuration that does not open is ErrWrongPassword.
//   - the configuration: format version 1, 2 or 3; hash BLAKE2B-256-128,
//     BLAKE2B-256, BLAKE2S-128, BLAKE2S-256, BLAKE3-256(-128),
//     HMAC-SHA256(-128), HMAC-SHA224 or HMAC-SHA3-224/256 keyed with the
//     configuration's secret; encryption AES256-GCM-HMAC-SHA256 or
//     CHACHA20-POLY1305-HMAC-SHA256 (per-content key HMAC-SHA256 of the
//     content's IV under a key HKDF'd from the master key with salt
//     "encryption"; the IV, also the associated data, is the last 16
//     bytes of the content's hash). Error correction (ecc), other
//     encryptions and hashes, and required features it does not know are
//     refused with ErrUnsupported naming them.
//   - index blobs: those of the epoch manager (xn…, xs…, xr…) and of the
//     older layout (n…), each encrypted like a content with the IV taken
//     from the blob's name, in index format 1 or 2. All are read and
//     merged (the newest entry of a content wins, as in kopia), so a
//     compaction in progress does not hide a content.
//   - pack blobs (p… data, q… metadata): a content is its packed bytes at
//     its offset, decrypted, then decompressed when its index entry names
//     a compression header (gzip, pgzip, zstd, s2, deflate; the 4-byte
//     header comes first), and checked against its hash. A content that
//     does not decrypt or match is ErrCorrupt; a missing pack
//     ErrNotFound.
//   - objects: a content ID ("[g-z]?<hex>"), optionally "Z" (compressed
//     object, header first) or one "I" per level of indirection (a JSON
//     list {"stream":"kopia:indirect","entries":[{"s","l","o"}]} of the
//     objects that make it up, in order).
//   - directories: objects holding {"stream":"kopia:directory",
//     "entries":[{"name","type","mode","size","mtime","uid","gid","obj"}]};
//     entry types f (file), d (directory), s (symlink, the target is the
//     object's content). Other types are reported, not read.
//   - manifests: the contents with prefix m, gzipped JSON {"entries":[…]}
//     each with an id, labels, modified time, deleted flag and data; the
//     newest version of an id wins and deleted ones are gone. Snapshot
//     manifests are those labelled type=snapshot: source (host, userName,
//     path), start and end time, root entry.
//
// The reader holds the merged index in memory (about 60 bytes a content)
// and one content at a time per open object. It never writes, deletes or
// locks anything in the store: kopia may go on using the repository.
package kopia
