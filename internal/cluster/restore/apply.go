package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/dynamic"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// Labels set on every restored object.
const (
	LabelBackup  = layout.LabelBackup  // the backup's name
	LabelRestore = "cairn.dev/restore" // the restore's name
)

// fieldManager names cairn in the objects' managed fields.
const fieldManager = "cairn-restore"

// restoreOne restores one object and returns its report item.
func (x *restorer) restoreOne(ctx context.Context, e *entry) Item {
	targetNS := x.o.targetNamespace(e.ref.Namespace)
	name := e.ref.Name
	if isNamespace(e) {
		name = x.o.targetNamespace(name)
	}
	it := Item{APIVersion: e.apiVersion, Kind: e.kind, Namespace: targetNS, Name: name}
	skip := func(reason string, recreated bool) Item {
		x.owners.settle(e, false, "", recreated)
		it.Action, it.Reason = Skipped, reason
		return it
	}
	fail := func(err error) Item {
		x.owners.settle(e, false, "", false)
		it.Action, it.Reason = Failed, apiMessage(err)
		return it
	}

	obj, err := x.object(ctx, e)
	if err != nil {
		return fail(err)
	}
	if reason := x.clusterMade(e, obj); reason != "" {
		return skip(reason, false)
	}
	p := x.plan(ctx, e, targetNS)
	it.Warnings = p.warnings
	if x.o.Resurrected != nil {
		if w := x.o.Resurrected(e.ref.Group, e.ref.Resource, e.kind, e.ref.Namespace, e.ref.Name, objectLabels(obj)); w != "" {
			it.Warnings = append(it.Warnings, w)
		}
	}
	if p.skipReason != "" {
		return skip(p.skipReason, true)
	}

	clean(e.ref.Group, e.ref.Resource, obj, x.o)
	x.move(e, obj, targetNS, name)
	setOwners(obj, p.refs)
	want := comparableView(obj)
	setLabels(obj, map[string]string{LabelBackup: x.backupLabel, LabelRestore: x.restoreName})
	if x.o.Transform != nil {
		if err := x.o.Transform(e.ref.Group, e.kind, e.ref.Namespace, obj); err != nil {
			return fail(err)
		}
	}

	gvr, err := e.gvr()
	if err != nil {
		return fail(err)
	}
	ri := x.resource(gvr, targetNS)
	if why := x.unvalidated(e, targetNS); x.o.DryRun && why != "" {
		x.owners.settle(e, true, "", false)
		it.Action, it.Reason = WouldCreate, why
		return it
	}
	uid, err := x.create(ctx, x.createIn(gvr, targetNS), ri, obj, isNamespace(e))
	switch {
	case err == nil:
		x.owners.settle(e, true, uid, false)
		it.Action = Created
		if x.o.DryRun {
			it.Action = WouldCreate
		}
		if len(p.waiting) > 0 {
			x.owners.addPending(&pendingOwners{gvr: gvr, kind: e.kind, namespace: targetNS, name: name, kept: p.refs, waiting: p.waiting})
		}
		return it
	case !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err):
		return fail(err)
	}

	live, gerr := ri.Get(ctx, name, metav1.GetOptions{})
	switch {
	case gerr != nil && apierrors.IsForbidden(err):
		return fail(err)
	case gerr != nil:
		return fail(fmt.Errorf("exists, but reading it failed: %w", gerr))
	}
	// Here it exists. A create refused (a namespace owner's restore, run
	// with their rights, of an object they may read but not create) is
	// no failure when the object is there: the restore would not have
	// changed it anyway.
	if x.o.Resume && x.o.Name != "" && live.GetLabels()[LabelRestore] == x.o.Name {
		x.owners.settle(e, true, live.GetUID(), false)
		it.Action, it.Reason = Created, ReasonEarlierRun
		return it
	}
	if contains(live.Object, want) {
		x.owners.settle(e, true, live.GetUID(), false)
		it.Action, it.Reason = Skipped, ReasonExistsSame
		return it
	}
	if x.o.ExistingResourcePolicy != PolicyUpdate {
		x.owners.settle(e, true, live.GetUID(), false)
		it.Action, it.Reason = Skipped, ReasonExistsDiffers
		return it
	}
	if err := x.update(ctx, ri, name, obj); err != nil {
		// The object is there, only not as in the backup.
		x.owners.settle(e, true, live.GetUID(), false)
		it.Action, it.Reason = Failed, "exists: differs; update failed: "+apiMessage(err)
		return it
	}
	x.owners.settle(e, true, live.GetUID(), false)
	it.Action, it.Reason = Updated, ReasonExistsDiffers
	if x.o.DryRun {
		it.Action = WouldUpdate
	}
	return it
}

// object returns the backup's object, decoded as unstructured content.
func (x *restorer) object(ctx context.Context, e *entry) (map[string]any, error) {
	if e.synthetic {
		return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": e.ref.Name}}, nil
	}
	b, err := e.load(ctx, x.r)
	if err != nil {
		return nil, fmt.Errorf("read from the repository: %w", err)
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return obj, nil
}

func (e *entry) gvr() (schema.GroupVersionResource, error) {
	gv, err := schema.ParseGroupVersion(e.apiVersion)
	if err != nil {
		return schema.GroupVersionResource{}, fmt.Errorf("apiVersion %q: %w", e.apiVersion, err)
	}
	if gv.Group != e.ref.Group {
		return schema.GroupVersionResource{}, fmt.Errorf("apiVersion %q stored under group %q", e.apiVersion, e.ref.Group)
	}
	return gv.WithResource(e.ref.Resource), nil
}

func (x *restorer) resource(gvr schema.GroupVersionResource, ns string) dynamic.ResourceInterface {
	if ns == "" {
		return x.dyn.Resource(gvr)
	}
	return x.dyn.Resource(gvr).Namespace(ns)
}

// createIn is resource for creates: their answer is the metadata only.
func (x *restorer) createIn(gvr schema.GroupVersionResource, ns string) dynamic.ResourceInterface {
	if ns == "" {
		return x.creator.Resource(gvr)
	}
	return x.creator.Resource(gvr).Namespace(ns)
}

// create creates obj through ci (createIn) and returns its UID. A
// namespace that exists but is being deleted is waited for (read through
// ri), then created again.
func (x *restorer) create(ctx context.Context, ci, ri dynamic.ResourceInterface, obj map[string]any, namespace bool) (types.UID, error) {
	opts := metav1.CreateOptions{FieldManager: fieldManager}
	if x.o.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	u := &unstructured.Unstructured{Object: obj}
	out, err := ci.Create(ctx, u, opts)
	if namespace && apierrors.IsAlreadyExists(err) {
		if werr := x.waitTerminated(ctx, ri, u.GetName()); werr != nil {
			return "", werr
		}
		out, err = ci.Create(ctx, u, opts)
	}
	if err != nil {
		return "", err
	}
	return out.GetUID(), nil
}

// waitTerminated waits while the named namespace is being deleted; it
// returns at once when the namespace is not terminating.
func (x *restorer) waitTerminated(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	deadline := x.o.Now().Add(x.o.TerminatingTimeout)
	for {
		live, err := ri.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		case live.GetDeletionTimestamp() == nil:
			return nil
		case x.o.Now().After(deadline):
			return fmt.Errorf("namespace %s is still being deleted after %s", name, x.o.TerminatingTimeout)
		}
		x.o.Log.Info("waiting for namespace to finish deleting", "namespace", name)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// update patches an existing object with the backup's fields (JSON merge
// patch: fields of the backup win, other live fields stay).
func (x *restorer) update(ctx context.Context, ri dynamic.ResourceInterface, name string, obj map[string]any) error {
	patch, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager}
	if x.o.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Patch(ctx, name, types.MergePatchType, patch, opts)
	return err
}

// unvalidated says why, in a dry run, the server cannot validate e: its
// namespace or its CRD would be created by this restore ("" otherwise).
func (x *restorer) unvalidated(e *entry, targetNS string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if targetNS != "" && x.newNamespaces[targetNS] {
		return "not validated: namespace " + targetNS + " does not exist yet"
	}
	if e.ref.Group != "" && x.newCRDs[e.ref.Resource+"."+e.ref.Group] {
		return "not validated: its CRD does not exist yet"
	}
	return ""
}

// apiMessage is the API server's message for err (or err's text).
func apiMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		return st.Status().Message
	}
	return err.Error()
}

// objectLabels returns obj's metadata.labels as strings.
func objectLabels(obj map[string]any) map[string]string {
	md, _ := obj["metadata"].(map[string]any)
	raw, _ := md["labels"].(map[string]any)
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
