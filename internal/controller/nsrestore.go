package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/requester"
	"github.com/cairn-backup/cairn/internal/statuspatch"
)

// +kubebuilder:rbac:groups=cairn.dev,resources=namespacerestores,verbs=get;list;watch
// +kubebuilder:rbac:groups=cairn.dev,resources=namespacerestores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups="",resources=users;groups;serviceaccounts,verbs=impersonate
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=uids;userextras/*,verbs=impersonate

// NamespaceRestoreReconciler runs a namespace owner's NamespaceRestore:
// it checks the request (the requester verifies, the backup holds the
// request's namespace, the target is a namespace the requester owns, no
// cluster-scoped type is asked for), then creates a Restore in the
// controller's namespace limited to that namespace, with runAs the
// requester (the Restore reconciler impersonates them for every object),
// and mirrors that Restore's status into the request. Checked first, then
// run: a request refused is Failed before anything is read from the
// repository.
type NamespaceRestoreReconciler struct {
	base
}

func (r *NamespaceRestoreReconciler) setup(mgr ctrl.Manager) error {
	toRequest := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		ns, name, ok := strings.Cut(o.GetAnnotations()[cairnv1.AnnotationNamespaceRestore], "/")
		if !ok || o.GetNamespace() != r.o.Namespace {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
	})
	return ctrl.NewControllerManagedBy(mgr).Named("namespacerestore").
		For(&cairnv1.NamespaceRestore{}).
		Watches(&cairnv1.Restore{}, toRequest).
		Complete(r)
}

// requestHash is the LabelNamespaceRestore value of ns/name's Restore.
func requestHash(ns, name string) string {
	h := sha256.Sum256([]byte(ns + "/" + name))
	return hex.EncodeToString(h[:])[:32]
}

// runName is the name of the Restore run for nr (the same on every try:
// a controller killed after creating it finds it).
func runName(nr *cairnv1.NamespaceRestore) string {
	h := sha256.Sum256([]byte(nr.Namespace + "/" + nr.Name + "/" + string(nr.UID)))
	return "nsr-" + hex.EncodeToString(h[:])[:24]
}

// Reconcile checks and starts a NamespaceRestore, or mirrors its run.
func (r *NamespaceRestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx).WithValues("namespacerestore", req.String())
	var nr cairnv1.NamespaceRestore
	if err := r.c.Get(ctx, req.NamespacedName, &nr); err != nil {
		if apierrors.IsNotFound(err) {
			// The request is gone: so is its run (what it restored stays).
			err = r.c.DeleteAllOf(ctx, &cairnv1.Restore{}, client.InNamespace(r.o.Namespace),
				client.MatchingLabels{cairnv1.LabelNamespaceRestore: requestHash(req.Namespace, req.Name)})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if nr.Status.Phase.Finished() {
		return ctrl.Result{}, nil
	}
	if nr.Status.RestoreName == "" {
		rs, reason, err := r.check(ctx, &nr)
		if err != nil {
			if reason == "" {
				return ctrl.Result{}, err
			}
			log.Info("namespace restore refused", "reason", err.Error())
			before := nr.DeepCopy()
			now := r.metaNow()
			nr.Status.Phase, nr.Status.FailureReason = cairnv1.PhaseFailed, err.Error()
			nr.Status.StartTimestamp, nr.Status.CompletionTimestamp = now, now
			setReady(&nr.Status.Conditions, nr.Generation, false, reason, truncate(err.Error(), 2000))
			return ctrl.Result{}, statuspatch.Outcome(ctx, r.c, &nr, before)
		}
		if err := r.c.Create(ctx, rs); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("create restore %s: %w", rs.Name, err)
		}
		log.Info("namespace restore started", "restore", rs.Name, "requester", nr.Spec.Requester.Username)
		before := nr.DeepCopy()
		nr.Status.RestoreName, nr.Status.Phase, nr.Status.StartTimestamp = rs.Name, cairnv1.PhaseNew, r.metaNow()
		setReady(&nr.Status.Conditions, nr.Generation, false, cairnv1.ReasonInProgress, "restore "+rs.Name+" created")
		if err := statuspatch.Transition(ctx, r.c, &nr, before); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, r.mirror(ctx, &nr)
}

// mirror copies the status of nr's Restore into nr.
func (r *NamespaceRestoreReconciler) mirror(ctx context.Context, nr *cairnv1.NamespaceRestore) error {
	var rs cairnv1.Restore
	before := nr.DeepCopy()
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: r.o.Namespace, Name: nr.Status.RestoreName}, &rs); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		nr.Status.Phase, nr.Status.FailureReason = cairnv1.PhaseFailed, "the restore run for this request ("+nr.Status.RestoreName+") was deleted"
		nr.Status.CompletionTimestamp = r.metaNow()
		setReady(&nr.Status.Conditions, nr.Generation, false, cairnv1.ReasonFailed, nr.Status.FailureReason)
		return statuspatch.Outcome(ctx, r.c, nr, before)
	}
	st := rs.Status
	nr.Status.Phase = st.Phase
	if nr.Status.Phase == "" {
		nr.Status.Phase = cairnv1.PhaseNew
	}
	requested := nr.Status.StartTimestamp
	nr.Status.RestoreOutcome = *st.RestoreOutcome.DeepCopy()
	if nr.Status.StartTimestamp == nil {
		nr.Status.StartTimestamp = requested // the run has not started yet
	}
	if c := meta.FindStatusCondition(st.Conditions, cairnv1.ConditionReady); c != nil {
		setReady(&nr.Status.Conditions, nr.Generation, c.Status == metav1.ConditionTrue, c.Reason, c.Message)
	}
	return statuspatch.Outcome(ctx, r.c, nr, before)
}

// refused is a request's fault: the reason goes into its status.
type refused struct {
	reason string
	err    error
}

func (e *refused) Error() string { return e.err.Error() }

func refuse(reason, format string, args ...any) error {
	return &refused{reason: reason, err: fmt.Errorf(format, args...)}
}

// check returns the Restore to run for nr, or why nr is refused (reason
// set) or could not be checked (reason empty: try again).
func (r *NamespaceRestoreReconciler) check(ctx context.Context, nr *cairnv1.NamespaceRestore) (*cairnv1.Restore, string, error) {
	rs, err := r.checked(ctx, nr)
	var rf *refused
	if errors.As(err, &rf) {
		return nil, rf.reason, rf.err
	}
	return rs, "", err
}

func (r *NamespaceRestoreReconciler) checked(ctx context.Context, nr *cairnv1.NamespaceRestore) (*cairnv1.Restore, error) {
	if err := requester.Verify(r.o.RequesterKey, nr); err != nil {
		if errors.Is(err, requester.ErrNoKey) {
			return nil, refuse(cairnv1.ReasonNotAttested, "self-service restores are not set up in this cluster: the controller has no requester key (the chart's selfService.enabled)")
		}
		return nil, refuse(cairnv1.ReasonNotAttested, "%v: only requests admitted by cairn's webhook are run; create the NamespaceRestore again", err)
	}
	who := nr.Spec.Requester
	if strings.HasPrefix(who.Username, "system:serviceaccount:"+r.o.Namespace+":") {
		// The controller's own identity (a restore of a backup holding
		// NamespaceRestores, say): never impersonate cairn itself.
		return nil, refuse(cairnv1.ReasonForbidden, "requests of cairn's own service accounts (%s) are not run", who.Username)
	}
	target := nr.Spec.TargetNamespace
	if target == "" {
		target = nr.Namespace
	}
	if target == r.o.Namespace {
		return nil, refuse(cairnv1.ReasonForbidden, "namespace %s is cairn's own: a namespace restore cannot target it", target)
	}
	var ns corev1.Namespace
	if err := r.api.Get(ctx, client.ObjectKey{Name: target}, &ns); err != nil || ns.DeletionTimestamp != nil {
		if err == nil || apierrors.IsNotFound(err) {
			return nil, refuse(cairnv1.ReasonForbidden, "target namespace %s does not exist: a namespace restore creates no namespace (ask an administrator to create it)", target)
		}
		return nil, err
	}
	if target != nr.Namespace {
		ok, err := r.allowed(ctx, who, target)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, refuse(cairnv1.ReasonForbidden, "%s may not create NamespaceRestores in namespace %s: a namespace restore targets only namespaces its requester owns", who.Username, target)
		}
	}
	for _, res := range nr.Spec.IncludedResources {
		if r.clusterScoped(res) {
			return nil, refuse(cairnv1.ReasonForbidden, "resource %q is cluster-scoped: a namespace restore restores only namespaced objects (ask an administrator)", res)
		}
	}
	var b cairnv1.Backup
	err := r.c.Get(ctx, client.ObjectKey{Namespace: r.o.Namespace, Name: nr.Spec.BackupName}, &b)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	// One message whether the backup does not exist or does not hold the
	// namespace: a tenant learns nothing of other namespaces' backups.
	restorable := b.Status.Phase == cairnv1.PhaseCompleted || b.Status.Phase == cairnv1.PhasePartiallyFailed
	if err != nil || !restorable || !slices.Contains(b.Status.Namespaces, nr.Namespace) {
		return nil, refuse(cairnv1.ReasonBackupNotFound, "no restorable backup %q holds namespace %s (see `kubectl get namespacebackups -n %s`)", nr.Spec.BackupName, nr.Namespace, nr.Namespace)
	}
	runAs := who.DeepCopy()
	runAs.Signature = ""
	rs := &cairnv1.Restore{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.o.Namespace, Name: runName(nr),
			Labels:      map[string]string{cairnv1.LabelNamespaceRestore: requestHash(nr.Namespace, nr.Name)},
			Annotations: map[string]string{cairnv1.AnnotationNamespaceRestore: nr.Namespace + "/" + nr.Name},
		},
		Spec: cairnv1.RestoreSpec{
			BackupName: b.Name, IncludedNamespaces: []string{nr.Namespace},
			IncludedResources: nr.Spec.IncludedResources, ExcludedResources: nr.Spec.ExcludedResources,
			LabelSelector: nr.Spec.LabelSelector, IncludeClusterResources: "false",
			ExistingResourcePolicy: nr.Spec.ExistingResourcePolicy, RunAs: runAs,
		},
	}
	if target != nr.Namespace {
		rs.Spec.NamespaceMapping = map[string]string{nr.Namespace: target}
	}
	return rs, nil
}

// allowed asks the API server whether who may create NamespaceRestores in
// ns: what "a namespace the requester owns" means here.
func (r *NamespaceRestoreReconciler) allowed(ctx context.Context, who cairnv1.Requester, ns string) (bool, error) {
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: who.Username, UID: who.UID, Groups: who.Groups,
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: "create", Group: cairnv1.GroupVersion.Group, Resource: "namespacerestores"},
	}}
	for k, v := range who.Extra {
		if sar.Spec.Extra == nil {
			sar.Spec.Extra = map[string]authzv1.ExtraValue{}
		}
		sar.Spec.Extra[k] = v
	}
	if err := r.c.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("ask the API server what %s may do: %w", who.Username, err)
	}
	return sar.Status.Allowed, nil
}

// clusterScoped reports whether the resource pattern res (plural,
// plural.group, or a kind: the mapper knows singulars) names a cluster-scoped type the API server serves.
func (r *NamespaceRestoreReconciler) clusterScoped(res string) bool {
	m := r.c.RESTMapper()
	res = strings.ToLower(strings.TrimSpace(res))
	plural, group, _ := strings.Cut(res, ".")
	if group == "core" {
		group = ""
	}
	var gvks []schema.GroupVersionKind
	if k, err := m.KindsFor(schema.GroupVersionResource{Group: group, Resource: plural}); err == nil {
		gvks = k
	}
	for _, gvk := range gvks {
		if mp, err := m.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil && mp.Scope.Name() == meta.RESTScopeNameRoot {
			return true
		}
	}
	return false
}
