package hooks

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// Phase is when a hook runs.
type Phase string

// The two phases.
const (
	Pre  Phase = "pre"
	Post Phase = "post"
)

// DefaultTimeout bounds a hook that sets no timeout.
const DefaultTimeout = 30 * time.Second

// Annotation keys, after "<phase>.": pre.hook.backup.velero.io/command, ...
const (
	annotationSuffix = ".hook.backup.velero.io/"
	keyCommand       = "command"
	keyContainer     = "container"
	keyOnError       = "on-error"
	keyTimeout       = "timeout"
)

// AnnotationKey returns the annotation key of field ("command",
// "container", "on-error", "timeout") for phase.
func AnnotationKey(phase Phase, field string) string {
	return string(phase) + annotationSuffix + field
}

// Hook is one command to run in a pod.
type Hook struct {
	// Name says where the hook came from: "annotation" or the Backup's
	// resource hook name.
	Name string
	// Container is the container; "" means the pod's first.
	Container string
	// Command is the command and its arguments.
	Command []string
	// OnError is Fail or Continue.
	OnError cairnv1.HookErrorMode
	// Timeout bounds the command.
	Timeout time.Duration
}

// String names the hook in messages.
func (h Hook) String() string {
	var cmd strings.Builder
	enc := json.NewEncoder(&cmd)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(h.Command)
	return fmt.Sprintf("hook %s %s in container %s", h.Name, strings.TrimSpace(cmd.String()), h.Container)
}

// FromAnnotations returns the phase's hook in the pod's annotations, nil
// when it has none (no command annotation), or an error saying which
// annotation is wrong.
func FromAnnotations(pod *corev1.Pod, phase Phase) (*Hook, error) {
	a := pod.Annotations
	raw, ok := a[AnnotationKey(phase, keyCommand)]
	if !ok {
		return nil, nil
	}
	h := &Hook{Name: "annotation", Container: a[AnnotationKey(phase, keyContainer)], Timeout: DefaultTimeout}
	cmd, err := parseCommand(raw)
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationKey(phase, keyCommand), err)
	}
	h.Command = cmd
	if h.OnError, err = parseOnError(a[AnnotationKey(phase, keyOnError)]); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationKey(phase, keyOnError), err)
	}
	if v := strings.TrimSpace(a[AnnotationKey(phase, keyTimeout)]); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("annotation %s: %q is not a positive duration (e.g. 30s, 2m)", AnnotationKey(phase, keyTimeout), v)
		}
		h.Timeout = d
	}
	if err := h.resolveContainer(pod); err != nil {
		return nil, err
	}
	return h, nil
}

// parseCommand reads a JSON array of strings; as Velero does, a value that
// is not a JSON array is taken as one word (a command without arguments).
func parseCommand(raw string) ([]string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("empty command")
	}
	if !strings.HasPrefix(raw, "[") {
		return []string{raw}, nil
	}
	var cmd []string
	if err := json.Unmarshal([]byte(raw), &cmd); err != nil {
		return nil, fmt.Errorf("%q is not a JSON array of strings: %v", raw, err)
	}
	if len(cmd) == 0 || cmd[0] == "" {
		return nil, fmt.Errorf("%q: empty command", raw)
	}
	return cmd, nil
}

func parseOnError(v string) (cairnv1.HookErrorMode, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "fail":
		return cairnv1.HookErrorFail, nil
	case "continue":
		return cairnv1.HookErrorContinue, nil
	}
	return "", fmt.Errorf("%q: want Fail or Continue", v)
}

// resolveContainer fills in the first container, and checks a named one.
func (h *Hook) resolveContainer(pod *corev1.Pod) error {
	if h.Container == "" {
		if len(pod.Spec.Containers) == 0 {
			return fmt.Errorf("%s: the pod has no containers", h)
		}
		h.Container = pod.Spec.Containers[0].Name
		return nil
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == h.Container {
			return nil
		}
	}
	return fmt.Errorf("%s: the pod has no container %q", h, h.Container)
}

// ForPod returns the pod's hooks of phase: the one of its annotations when
// it has a command annotation of that phase, else those of the spec's
// resource hooks that select the pod, in order (Velero's precedence, phase
// by phase). An error (a malformed annotation, a container the pod lacks)
// is to be treated like a failing hook with on-error Fail.
func ForPod(pod *corev1.Pod, phase Phase, spec cairnv1.BackupHooks) ([]Hook, error) {
	if h, err := FromAnnotations(pod, phase); err != nil || h != nil {
		if err != nil {
			return nil, err
		}
		return []Hook{*h}, nil
	}
	var out []Hook
	for _, rh := range spec.Resources {
		ok, err := selects(rh, pod)
		if err != nil {
			return nil, fmt.Errorf("backup hook %s: %w", rh.Name, err)
		}
		if !ok {
			continue
		}
		list := rh.PreHooks
		if phase == Post {
			list = rh.PostHooks
		}
		for _, e := range list {
			if e.Exec == nil {
				continue
			}
			h := Hook{Name: rh.Name, Container: e.Exec.Container, Command: e.Exec.Command, OnError: e.Exec.OnError, Timeout: DefaultTimeout}
			if h.OnError == "" {
				h.OnError = cairnv1.HookErrorFail
			}
			if e.Exec.Timeout != nil && e.Exec.Timeout.Duration > 0 {
				h.Timeout = e.Exec.Timeout.Duration
			}
			if len(h.Command) == 0 {
				return nil, fmt.Errorf("backup hook %s: empty command", rh.Name)
			}
			if err := h.resolveContainer(pod); err != nil {
				return nil, err
			}
			out = append(out, h)
		}
	}
	return out, nil
}

// selects reports whether the resource hook rh applies to pod.
func selects(rh cairnv1.BackupResourceHookSpec, pod *corev1.Pod) (bool, error) {
	if len(rh.IncludedNamespaces) > 0 && !matchAny(rh.IncludedNamespaces, pod.Namespace) {
		return false, nil
	}
	if matchAny(rh.ExcludedNamespaces, pod.Namespace) {
		return false, nil
	}
	if rh.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(rh.LabelSelector)
		if err != nil {
			return false, err
		}
		if !sel.Matches(labels.Set(pod.Labels)) {
			return false, nil
		}
	}
	return true, nil
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}
