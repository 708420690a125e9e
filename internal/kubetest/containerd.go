package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// cniBinDir is where Debian's containernetworking-plugins puts the plugins.
const cniBinDir = "/usr/lib/cni"

var cniLoopback = filepath.Join(cniBinDir, "loopback")

// loopbackCNI makes the CRI plugin report the network ready without
// creating any pod network: pods use hostNetwork, and nothing beyond
// loopback exists.
const loopbackCNI = `{"cniVersion":"0.4.0","name":"lo-only","plugins":[{"type":"loopback"}]}` + "\n"

// containerdEdits are the changes to `containerd config default`, as
// (line pattern, replacement); each pattern must match at least once.
func containerdEdits(cniConfDir, optDir string) []struct{ re, repl string } {
	return []struct{ re, repl string }{
		// No CAP_SYS_RESOURCE here: the default sandbox OOM score (-998)
		// cannot be set, and runc fails every sandbox with "can't get final
		// child's PID from pipe: EOF".
		{`(?m)^(\s*)restrict_oom_score_adj = .*$`, `${1}restrict_oom_score_adj = true`},
		{`(?m)^(\s*)bin_dir = .*$`, `${1}bin_dir = "` + cniBinDir + `"`},
		{`(?m)^(\s*)conf_dir = .*$`, `${1}conf_dir = "` + cniConfDir + `"`},
		{`(?m)^(\s*)path = "/opt/containerd"$`, `${1}path = "` + optDir + `"`},
	}
}

// containerdConfig returns containerd's default configuration with
// containerdEdits applied, and the sandbox image it asks for.
func containerdConfig(containerd, cniConfDir, optDir string) (config []byte, sandboxImage string, err error) {
	out, err := exec.Command(containerd, "config", "default").Output()
	if err != nil {
		return nil, "", fmt.Errorf("containerd config default: %w", err)
	}
	for _, e := range containerdEdits(cniConfDir, optDir) {
		re := regexp.MustCompile(e.re)
		if !re.Match(out) {
			return nil, "", fmt.Errorf("containerd config default has no line matching %q (containerd version changed?)", e.re)
		}
		out = re.ReplaceAll(out, []byte(e.repl))
	}
	m := regexp.MustCompile(`(?m)^\s*sandbox_image = "(.*)"$`).FindSubmatch(out)
	if m == nil {
		return nil, "", errors.New("containerd config default names no sandbox_image")
	}
	return out, string(m[1]), nil
}

// startContainerd starts containerd with its own root, state, socket, CNI
// configuration and opt folder, and waits until its socket answers.
func (n *Node) startContainerd() error {
	path, err := findBin("containerd")
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	dir := filepath.Join(n.Dir, "containerd")
	cniConf := filepath.Join(n.Dir, "cni")
	for _, d := range []string{dir, cniConf} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(cniConf, "10-lo.conflist"), []byte(loopbackCNI), 0o600); err != nil {
		return err
	}
	config, sandbox, err := containerdConfig(path, cniConf, filepath.Join(dir, "opt"))
	if err != nil {
		return err
	}
	if sandbox != pauseImage() {
		return fmt.Errorf("containerd asks for sandbox image %s, %s holds %s; run `make node-deps`", sandbox, imagesDir(), pauseImage())
	}
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		return err
	}
	if n.sockDir, err = os.MkdirTemp("", "cairn-ctrd-"); err != nil {
		return err
	}
	n.ContainerdSocket = filepath.Join(n.sockDir, "containerd.sock")
	log, err := n.openLog("containerd.log")
	if err != nil {
		return err
	}
	args := []string{
		"--config", configPath,
		"--root", filepath.Join(dir, "root"),
		"--state", filepath.Join(dir, "state"),
		"--address", n.ContainerdSocket,
	}
	cmd, args, err := n.command(path, args)
	if err != nil {
		return err
	}
	if n.containerd, err = startDaemon("containerd", cmd, args, dir, log, nodeEnv()); err != nil {
		return err
	}
	return n.containerd.waitUntil(startTimeout, "listening on "+n.ContainerdSocket, func(ctx context.Context) bool {
		conn, err := (&net.Dialer{}).DialContext(ctx, "unix", n.ContainerdSocket)
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	})
}

// pauseImage is the sandbox image `make node-deps` built (the name it read
// from containerd's default configuration), recorded next to pause.tar.
func pauseImage() string {
	data, err := os.ReadFile(filepath.Join(imagesDir(), "pause.ref"))
	if err != nil {
		return "registry.k8s.io/pause:3.6"
	}
	return strings.TrimSpace(string(data))
}

// ctr runs containerd's CLI against the node's containerd, in the CRI
// plugin's namespace.
func (n *Node) ctr(ctx context.Context, args ...string) ([]byte, error) {
	path, err := findBin("ctr")
	if err != nil {
		return nil, fmt.Errorf("ctr: %w", err)
	}
	cmd := exec.CommandContext(ctx, path, append([]string{"--address", n.ContainerdSocket, "--namespace", "k8s.io"}, args...)...)
	cmd.Env = nodeEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// importImages imports (and unpacks) the busybox and sandbox images and
// extra.
func (n *Node) importImages(extra []Image) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	images := append([]Image{{"busybox.tar", BusyboxImage}, {"pause.tar", pauseImage()}}, extra...)
	for _, img := range images {
		if _, err := n.ctr(ctx, "images", "import", filepath.Join(imagesDir(), img.Tarball)); err != nil {
			return err
		}
	}
	out, err := n.ctr(ctx, "images", "list", "--quiet")
	if err != nil {
		return err
	}
	for _, img := range images {
		if want := img.Ref; !bytes.Contains(out, []byte(want+"\n")) {
			return fmt.Errorf("image %s not in containerd after the import (it has: %s)", want, strings.Fields(string(out)))
		}
	}
	return nil
}

// removeTasks kills and deletes every container task still running (the
// kubelet is stopped by now), so that their shims exit and unmount their
// root file systems.
func (n *Node) removeTasks() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := n.ctr(ctx, "tasks", "list", "--quiet")
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(out)) {
		_, _ = n.ctr(ctx, "tasks", "delete", "--force", id)
	}
}

// killShims kills, by pid, the containerd shims serving this node's
// containerd that are still running (removeTasks lets them exit on their
// own) and the containers they started.
func (n *Node) killShims() {
	if n.ContainerdSocket == "" {
		return
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return // not Linux
	}
	shims := map[int]bool{}
	parent := map[int]int{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentPID(pid); ok {
			parent[pid] = ppid
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if (args[i] == "-address" || args[i] == "--address") && args[i+1] == n.ContainerdSocket {
				shims[pid] = true
			}
		}
	}
	for pid, ppid := range parent { // containers first: the shim reaps them
		if shims[ppid] {
			killPID(pid)
		}
	}
	for pid := range shims {
		killPID(pid)
	}
}

func killPID(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// parentPID reads a process's parent from /proc/<pid>/stat.
func parentPID(pid int) (int, bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
