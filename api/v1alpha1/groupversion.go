package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "cairn.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kinds are the kinds of this group, one CRD each (the chart's crds/
// folder). Tests that load the CRDs count them against it.
var Kinds = []string{"Backup", "Restore", "Schedule", "BackupLocation", "PodVolumeBackup", "PodVolumeRestore", "RestoreTest", "NamespaceBackup", "NamespaceRestore"}
