package backup

import "maps"

// batch is what one list produced. It is merged into the backup only when
// the list ends well, so a list that starts over (410) or is abandoned for
// per-namespace lists leaves no double counts.
type batch struct {
	dirs    map[dirKey][]entry
	skipped map[string]int // reason -> objects
	objects int
	added   int // objects whose blob was new to the repository
	bytes   int64
	deps    deps
}

// deps are the cluster-scoped objects that stored objects need.
type deps struct {
	volumes         map[string]bool // PV names bound to stored PVCs
	storageClasses  map[string]bool
	clusterRoles    map[string]bool // referenced by stored role bindings
	serviceAccounts map[string]bool // "ns/name" of stored service accounts
	namespaces      map[string]bool // namespaces with stored objects
}

func newDeps() deps {
	return deps{
		volumes: map[string]bool{}, storageClasses: map[string]bool{}, clusterRoles: map[string]bool{},
		serviceAccounts: map[string]bool{}, namespaces: map[string]bool{},
	}
}

func (d deps) merge(o deps) {
	maps.Copy(d.volumes, o.volumes)
	maps.Copy(d.storageClasses, o.storageClasses)
	maps.Copy(d.clusterRoles, o.clusterRoles)
	maps.Copy(d.serviceAccounts, o.serviceAccounts)
	maps.Copy(d.namespaces, o.namespaces)
}

func newBatch() *batch {
	return &batch{dirs: map[dirKey][]entry{}, skipped: map[string]int{}, deps: newDeps()}
}

func (b *batch) reset() { *b = *newBatch() }

// merge adds o to b.
func (b *batch) merge(o *batch) {
	for k, es := range o.dirs {
		b.dirs[k] = append(b.dirs[k], es...)
	}
	for why, n := range o.skipped {
		b.skipped[why] += n
	}
	b.objects += o.objects
	b.added += o.added
	b.bytes += o.bytes
	b.deps.merge(o.deps)
}

func (b *batch) skip(reason string) { b.skipped[reason]++ }

func (b *batch) store(k dirKey, e entry, added bool) {
	b.dirs[k] = append(b.dirs[k], e)
	b.objects++
	b.bytes += int64(e.size)
	if added {
		b.added++
	}
}

// note records what a stored object needs.
func (b *batch) note(gr string, obj *object) {
	if obj.meta.Namespace != "" {
		b.deps.namespaces[obj.meta.Namespace] = true
	}
	switch gr {
	case "persistentvolumeclaims":
		if obj.spec.VolumeName != "" {
			b.deps.volumes[obj.spec.VolumeName] = true
		}
		if obj.spec.StorageClassName != "" {
			b.deps.storageClasses[obj.spec.StorageClassName] = true
		}
	case "persistentvolumes":
		if obj.spec.StorageClassName != "" {
			b.deps.storageClasses[obj.spec.StorageClassName] = true
		}
	case "serviceaccounts":
		b.deps.serviceAccounts[obj.meta.Namespace+"/"+obj.meta.Name] = true
	case "rolebindings.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io":
		if obj.roleRef.Kind == "ClusterRole" {
			b.deps.clusterRoles[obj.roleRef.Name] = true
		}
	}
}
