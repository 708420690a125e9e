package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// manifest adds the namespace objects to the collected entries and
// describes the backup.
func (b *backup) manifest(server, version string) *layout.Manifest {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.opts.resourceExcluded(b.resources[b.nsIndex]) {
		k := dirKey{res: b.nsIndex}
		for _, ns := range b.namespaces {
			e, ok := b.nsEntries[ns]
			if ok && (b.opts.Selector == "" || b.deps.namespaces[ns] || b.nsMatch[ns]) {
				b.col.dirs[k] = append(b.col.dirs[k], e)
			}
		}
	}
	m := &layout.Manifest{
		Name: b.opts.Name, Cluster: server, ClusterVersion: version, Start: b.start,
		Selection: b.opts.selection(),
	}
	b.count(m)
	m.Warnings = append(m.Warnings, b.warnings...)
	for _, why := range sortedKeys(b.skipped) {
		m.Warnings = append(m.Warnings, fmt.Sprintf("skipped %d %s", b.skipped[why], why))
	}
	m.Errors = append(m.Errors, b.errors...)
	sort.Strings(m.Errors)
	m.Phase = layout.PhaseCompleted
	if len(m.Errors) > 0 {
		m.Phase = layout.PhasePartiallyFailed
	}
	if b.opts.TTL > 0 {
		exp := b.start.Add(b.opts.TTL)
		m.TTL, m.Expires = b.opts.TTL.String(), &exp
	}
	m.End = b.opts.Now()
	return m
}

// save writes the trees, the manifest and the snapshot.
func (b *backup) save(ctx context.Context, m *layout.Manifest, before repo.SaveStats) (*snapshot.Snapshot, error) {
	return b.saveSnapshot(ctx, m, before, nil)
}

// saveSnapshot is save with labels added to the snapshot's (Writer).
func (b *backup) saveSnapshot(ctx context.Context, m *layout.Manifest, before repo.SaveStats, labels map[string]string) (*snapshot.Snapshot, error) {
	ts := &treeSaver{r: b.r}
	resNode, err := ts.saveResources(ctx, b.resources, b.col.dirs)
	if err != nil {
		return nil, err
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("backup: encode manifest: %w", err)
	}
	mid, _, err := b.r.SaveBlob(ctx, blob.Data, mb)
	if err != nil {
		return nil, fmt.Errorf("backup: save manifest: %w", err)
	}
	root := []snapshot.Node{fileNode(layout.ManifestPath, entry{mtime: m.End.UnixNano(), size: uint64(len(mb)), ids: []blob.ID{mid}})}
	if resNode != nil {
		root = append(root, *resNode)
	}
	rootID, err := ts.save(ctx, root)
	if err != nil {
		return nil, err
	}
	b.step("trees saved", "trees", ts.dirs)
	if err := b.r.Flush(ctx); err != nil {
		return nil, fmt.Errorf("backup: flush: %w", err)
	}
	b.step("flushed")
	st := b.r.Stats()
	sum := &snapshot.Summary{
		Start: b.start, End: b.opts.Now(),
		FilesNew: int64(b.added), FilesUnchanged: int64(max(m.Items-b.added, 0)), Dirs: ts.dirs,
		TotalBytes: b.bytes + int64(len(mb)), BlobsAdded: st.Blobs - before.Blobs,
		BytesAdded: st.RawBytes - before.RawBytes, StoredAdded: st.StoredBytes - before.StoredBytes,
		Errors: m.Errors,
	}
	path := "k8s:" + m.Cluster
	if m.Source != nil {
		path = m.Source.Tool + ":" + m.Source.Location
	}
	all := map[string]string{}
	maps.Copy(all, labels)
	all[layout.LabelKind], all[layout.LabelBackup] = layout.KindCluster, b.opts.Name
	sn := &snapshot.Snapshot{
		Time: b.start, Host: hostOf(m.Cluster), Paths: []string{path}, Tags: []string{Tag},
		Labels:  all,
		Tree:    rootID,
		Expires: m.Expires,
		Summary: sum,
		Program: "cairn",
	}
	if err := snapshot.Save(ctx, b.r, sn); err != nil {
		return nil, fmt.Errorf("backup: save snapshot: %w", err)
	}
	return sn, nil
}

// count sets m's resources, items and counts by namespace from what was
// collected, and b.bytes to the bytes of the objects.
func (b *backup) count(m *layout.Manifest) {
	m.Resources, m.Items, m.CountsByNamespace = nil, 0, map[string]int{}
	counts := make([]int, len(b.resources))
	b.bytes = 0
	for k, es := range b.col.dirs {
		counts[k.res] += len(es)
		m.CountsByNamespace[k.ns] += len(es)
		m.Items += len(es)
		for _, e := range es {
			b.bytes += int64(e.size)
		}
	}
	for i, r := range b.resources {
		if counts[i] > 0 {
			r.Count = counts[i]
			m.Resources = append(m.Resources, r)
		}
	}
}
