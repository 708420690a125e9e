package restore

// Restore groups, in the order they are created. Objects of one group are
// created in parallel; a group starts when the one before it is done.
// docs/design/cluster-restore.md gives the reasons for the order.
const (
	rankCRD            = iota // then wait until Established and served
	rankNamespace             // everything namespaced lives in one
	rankStorageClass          // PVs and PVCs name their class
	rankPV                    // before PVCs, so a claim binds to its own volume
	rankPVC                   // before the pods that mount them
	rankServiceAccount        // pods are rejected without their service account
	rankRole                  // roles and cluster roles, before bindings
	rankBinding               // bindings, before the workloads that need the rights
	rankSecret                // mounted and referenced by pods
	rankConfigMap             // mounted and referenced by pods
	rankLimits                // limit ranges and quotas, before pods are admitted
	rankService               // before pods, whose environment lists services
	rankTopWorkload           // Deployments, StatefulSets, DaemonSets, CronJobs, RCs
	rankMidWorkload           // ReplicaSets and Jobs (owned by the above, or standalone)
	rankPod                   // standalone pods (controllers' pods are skipped)
	rankOther                 // everything else: custom resources, ingresses, HPAs, …
	numRanks
)

var rankNames = [numRanks]string{
	"custom resource definitions", "namespaces", "storage classes", "persistent volumes",
	"persistent volume claims", "service accounts", "roles", "role bindings", "secrets",
	"config maps", "limit ranges and quotas", "services", "top-level workloads",
	"replica sets and jobs", "pods", "other resources",
}

// rankOf returns the group of a resource (group "" is core).
func rankOf(group, resource string) int {
	switch group + "/" + resource {
	case "apiextensions.k8s.io/customresourcedefinitions":
		return rankCRD
	case "/namespaces":
		return rankNamespace
	case "storage.k8s.io/storageclasses":
		return rankStorageClass
	case "/persistentvolumes":
		return rankPV
	case "/persistentvolumeclaims":
		return rankPVC
	case "/serviceaccounts":
		return rankServiceAccount
	case "rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/clusterroles":
		return rankRole
	case "rbac.authorization.k8s.io/rolebindings", "rbac.authorization.k8s.io/clusterrolebindings":
		return rankBinding
	case "/secrets":
		return rankSecret
	case "/configmaps":
		return rankConfigMap
	case "/limitranges", "/resourcequotas":
		return rankLimits
	case "/services":
		return rankService
	case "apps/deployments", "apps/statefulsets", "apps/daemonsets", "batch/cronjobs", "/replicationcontrollers":
		return rankTopWorkload
	case "apps/replicasets", "batch/jobs":
		return rankMidWorkload
	case "/pods":
		return rankPod
	}
	return rankOther
}

// recreatedBy lists, per owner kind, the kinds of the objects its
// controller makes from the owner's spec: when the owner is in the cluster
// after the restore, such an object is not restored (its controller
// re-creates it; restoring it too would duplicate it or start an adoption
// fight). Keys and values are "group/Kind".
var recreatedBy = map[string][]string{
	"apps/Deployment":        {"apps/ReplicaSet"},
	"apps/ReplicaSet":        {"/Pod"},
	"apps/StatefulSet":       {"/Pod", "apps/ControllerRevision"},
	"apps/DaemonSet":         {"/Pod", "apps/ControllerRevision"},
	"batch/Job":              {"/Pod"},
	"batch/CronJob":          {"batch/Job"},
	"/ReplicationController": {"/Pod"},
}

func recreates(ownerGroupKind, groupKind string) bool {
	for _, k := range recreatedBy[ownerGroupKind] {
		if k == groupKind {
			return true
		}
	}
	return false
}
