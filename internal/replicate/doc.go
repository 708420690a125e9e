// Package replicate copies a cairn repository from one store to another as
// it is stored — sealed packs, index files, snapshot manifests, key files
// and the plaintext config — and compares two copies. It needs no
// passphrase and decrypts nothing, so it can run where the repository's key
// never is: a CronJob in a management cluster or a systemd timer on a
// backup host, with credentials the backed-up cluster never sees (S13).
//
// It relies on the repository format (docs/design/repository-format.md §1):
// objects are write-once and every object but `config` is named by the
// SHA-256 of its bytes. So
//
//   - an object present on the target under the same key holds the same
//     bytes, and Run copies only what is missing (incremental, and
//     resumable: Put is atomic, a half-copied object cannot exist);
//   - every copied object is checked against its name before it is
//     written, and Verify can check both sides without a key;
//   - copying in the order config, keys/, data/, index/, snapshots/ — with
//     the snapshot listing taken first — means a snapshot never appears on
//     the target before everything it references.
//
// Object lock (docs/design/object-lock.md): when both stores can lock
// objects, every object gets on the target at least the retain-until date
// it has on the source; dates are only ever extended.
//
// What it must not do: decrypt or rewrite objects, copy lock files
// (`locks/` belong to the processes that hold them), or delete anything on
// the target unless asked to prune — and then only objects the source no
// longer has and whose retention ended. It uses package repo only to read
// the plaintext config (to tell one repository from another); it never
// opens the repository.
package replicate
