package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// ownerState is what the restore knows of an object that others may own:
// every selected object of the backup, keyed by its backup UID.
type ownerState struct {
	e        *entry
	targetNS string
	done     bool
	// present: in the cluster after the restore (created, existed,
	// updated; would-create in a dry run), with newUID.
	present bool
	newUID  types.UID
	// recreated: skipped because its own owner's controller makes it
	// again (under another name and UID).
	recreated bool
}

// pendingOwners is an object created without some owner references
// because their owners come later; they are added by a patch once the
// owners are done.
type pendingOwners struct {
	gvr       schema.GroupVersionResource
	kind      string
	namespace string
	name      string
	kept      []metav1.OwnerReference // set at create, with new UIDs
	waiting   []metav1.OwnerReference // backup UIDs
}

// owners tracks owner UIDs across the restore.
type owners struct {
	mu      sync.Mutex
	byUID   map[types.UID]*ownerState
	live    map[string]types.UID // live lookups by "apiVersion|kind|ns|name"; "" = not found
	pending []*pendingOwners
}

func newOwners(entries []*entry, o *Options) *owners {
	w := &owners{byUID: map[types.UID]*ownerState{}, live: map[string]types.UID{}}
	for _, e := range entries {
		if e.uid != "" && !e.synthetic {
			w.byUID[e.uid] = &ownerState{e: e, targetNS: o.targetNamespace(e.ref.Namespace)}
		}
	}
	return w
}

// settle records the outcome for an object that others may own.
func (w *owners) settle(e *entry, present bool, uid types.UID, recreated bool) {
	if e.uid == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if st := w.byUID[e.uid]; st != nil {
		st.done, st.present, st.newUID, st.recreated = true, present, uid, recreated
	}
}

func (w *owners) state(uid types.UID) (ownerState, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.byUID[uid]
	if st == nil {
		return ownerState{}, false
	}
	return *st, true
}

func groupOf(apiVersion string) string {
	if g, _, ok := strings.Cut(apiVersion, "/"); ok {
		return g
	}
	return ""
}

func groupKind(apiVersion, kind string) string { return groupOf(apiVersion) + "/" + kind }

// ownerPlan is what to do with an object's owner references.
type ownerPlan struct {
	skipReason string                  // non-empty: do not restore; a controller makes it
	refs       []metav1.OwnerReference // to set at create (new UIDs)
	waiting    []metav1.OwnerReference // owners restored later (backup UIDs)
	warnings   []string
}

// plan decides about e's owner references. An owner restored before e
// keeps its reference (with its new UID); one restored later is added by
// a patch once it exists; one not in the restore is looked up in the
// cluster by kind and name, and dropped with a warning when absent. If e's
// controller is in the cluster and re-creates objects like e, e is
// skipped.
func (x *restorer) plan(ctx context.Context, e *entry, targetNS string) ownerPlan {
	var p ownerPlan
	myGK := groupKind(e.apiVersion, e.kind)
	for _, ref := range e.owners {
		desc := fmt.Sprintf("%s %s", ref.Kind, ref.Name)
		controller := ref.Controller != nil && *ref.Controller
		ownerGK := groupKind(ref.APIVersion, ref.Kind)
		if st, ok := x.owners.state(ref.UID); ok {
			switch {
			case !st.done:
				p.waiting = append(p.waiting, ref)
			case controller && (st.present || st.recreated) && recreates(ownerGK, myGK):
				p.skipReason = fmt.Sprintf("owned by %s, whose controller re-creates it", desc)
				return p
			case st.present && st.newUID != "":
				ref.UID = st.newUID
				p.refs = append(p.refs, ref)
			case st.recreated:
				p.warnings = append(p.warnings, fmt.Sprintf("owner %s is re-created by its own controller under a new name: reference dropped", desc))
			default:
				p.warnings = append(p.warnings, fmt.Sprintf("owner %s was not restored: reference dropped", desc))
			}
			continue
		}
		uid := x.liveOwner(ctx, ref, targetNS)
		switch {
		case uid == "":
			p.warnings = append(p.warnings, fmt.Sprintf("owner %s is not in the restore nor in the cluster: reference dropped", desc))
		case controller && recreates(ownerGK, myGK):
			p.skipReason = fmt.Sprintf("owned by %s, which exists in the cluster and whose controller re-creates it", desc)
			return p
		default:
			ref.UID = uid
			p.refs = append(p.refs, ref)
		}
	}
	return p
}

// liveOwner returns the UID of the owner in the cluster, or "" when it is
// absent or its kind is not served. The kind's resource comes from the
// backup's manifest, else from discovery.
func (x *restorer) liveOwner(ctx context.Context, ref metav1.OwnerReference, ns string) types.UID {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return ""
	}
	var gvr schema.GroupVersionResource
	if res, ok := x.resources[groupKind(ref.APIVersion, ref.Kind)]; ok {
		gvr = gv.WithResource(res.Resource)
		if !res.Namespaced {
			ns = ""
		}
	} else {
		m, err := x.mapper.RESTMapping(gv.WithKind(ref.Kind).GroupKind(), gv.Version)
		if err != nil {
			return ""
		}
		gvr = m.Resource
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			ns = ""
		}
	}
	key := strings.Join([]string{ref.APIVersion, ref.Kind, ns, ref.Name}, "|")
	x.owners.mu.Lock()
	uid, seen := x.owners.live[key]
	x.owners.mu.Unlock()
	if seen {
		return uid
	}
	obj, err := x.resource(gvr, ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if err == nil {
		uid = obj.GetUID()
	} else if !apierrors.IsNotFound(err) {
		return "" // not cached: may work next time
	}
	x.owners.mu.Lock()
	x.owners.live[key] = uid
	x.owners.mu.Unlock()
	return uid
}

func (w *owners) addPending(p *pendingOwners) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p)
}

// resolvePending patches the owner references of objects whose late
// owners are now done; final resolves all of them (owners never restored
// are dropped with a warning).
func (x *restorer) resolvePending(ctx context.Context, final bool) {
	x.owners.mu.Lock()
	var ready, still []*pendingOwners
	for _, p := range x.owners.pending {
		done := true
		for _, ref := range p.waiting {
			if st := x.owners.byUID[ref.UID]; st == nil || !st.done {
				done = false
			}
		}
		if done || final {
			ready = append(ready, p)
		} else {
			still = append(still, p)
		}
	}
	x.owners.pending = still
	x.owners.mu.Unlock()

	for _, p := range ready {
		refs := append([]metav1.OwnerReference(nil), p.kept...)
		for _, ref := range p.waiting {
			st, _ := x.owners.state(ref.UID)
			if st.present && st.newUID != "" {
				ref.UID = st.newUID
				refs = append(refs, ref)
				continue
			}
			x.rep.addWarning(p.kind, p.namespace, p.name, fmt.Sprintf("owner %s %s was not restored: reference dropped", ref.Kind, ref.Name))
		}
		if len(refs) == len(p.kept) || x.o.DryRun {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": refs}})
		_, err := x.dyn.Resource(p.gvr).Namespace(p.namespace).Patch(ctx, p.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
		if err != nil {
			x.rep.addWarning(p.kind, p.namespace, p.name, fmt.Sprintf("setting owner references: %v", err))
		}
	}
}
