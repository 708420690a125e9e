package kubetest

import "fmt"

// StartProcess starts a control plane outside a test (a benchmark, a demo
// program), with its files under dir. Missing binaries are an error that
// says to run `make tools`. The caller must call Stop.
func StartProcess(dir string, opts ...Option) (*Cluster, error) {
	o := buildOptions(opts)
	if missing := o.missing(); missing != "" {
		return nil, fmt.Errorf("kubetest: real component missing: %s; run `make tools` to build it", missing)
	}
	return start(dir, o)
}

// Stop stops a control plane from StartProcess (controller manager first).
// It is safe to call more than once.
func (c *Cluster) Stop() error { return c.stop() }
