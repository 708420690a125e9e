package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// Executor runs a command in a container and waits for it.
type Executor interface {
	Exec(ctx context.Context, namespace, pod, container string, command []string, stdout, stderr io.Writer) error
}

// APIExecutor runs commands through the API server's pods/exec.
type APIExecutor struct {
	config *rest.Config
	cs     kubernetes.Interface
}

// NewAPIExecutor returns an Executor for the cluster of config; the
// identity needs create on pods/exec in the pods' namespaces.
func NewAPIExecutor(config *rest.Config) (*APIExecutor, error) {
	if config == nil {
		return nil, errors.New("no connection to the cluster for exec hooks")
	}
	cs, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &APIExecutor{config: config, cs: cs}, nil
}

// Exec runs command in the container, WebSocket first, SPDY as the
// fallback for servers that do not upgrade to WebSockets.
func (e *APIExecutor) Exec(ctx context.Context, namespace, pod, container string, command []string, stdout, stderr io.Writer) error {
	u := e.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
	ws, err := remotecommand.NewWebSocketExecutor(e.config, "GET", u.String())
	if err != nil {
		return err
	}
	spdy, err := remotecommand.NewSPDYExecutor(e.config, "POST", u)
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
}

// Result is what running a pod's hooks of one phase came to.
type Result struct {
	// Err is the first hook with on-error Fail that failed (the later
	// ones were not run), or nil.
	Err error
	// Warnings are the hooks with on-error Continue that failed.
	Warnings []string
}

// Run runs hooks in pod in order. A failing hook with on-error Continue
// adds a warning; one with Fail stops: Result.Err says which and why.
func Run(ctx context.Context, ex Executor, pod *corev1.Pod, hooks []Hook) Result {
	var res Result
	for _, h := range hooks {
		err := runOne(ctx, ex, pod, h)
		if err == nil {
			continue
		}
		if h.OnError == cairnv1.HookErrorContinue {
			res.Warnings = append(res.Warnings, err.Error())
			continue
		}
		res.Err = err
		break
	}
	return res
}

// runOne runs h and says, when it failed, which hook failed and why, with
// the end of its stderr (or stdout). The pod is the caller's to name.
func runOne(ctx context.Context, ex Executor, pod *corev1.Pod, h Hook) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	stdout, stderr := &tail{max: 512}, &tail{max: 512}
	err := ex.Exec(ctx, pod.Namespace, pod.Name, h.Container, h.Command, stdout, stderr)
	if err == nil {
		return nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("did not finish within %s", h.Timeout)
	}
	out := strings.TrimSpace(stderr.String())
	if out == "" {
		out = strings.TrimSpace(stdout.String())
	}
	if out != "" {
		return fmt.Errorf("%s failed: %v (output: %q)", h, err, out)
	}
	return fmt.Errorf("%s failed: %v", h, err)
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return n, nil
}

func (t *tail) String() string { return t.buf.String() }
