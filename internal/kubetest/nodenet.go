package kubetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Addresses inside a node's network namespace (WithNodeNetwork): a veth
// pair with both ends in the namespace, so that nothing is routed to or
// from the host.
const (
	nodeNetIP   = "10.254.0.2" // the node's address (kubelet --node-ip)
	nodeNetPeer = "10.254.0.1" // the other end of the pair
)

// nodeNet is the network namespace a node runs in with WithNodeNetwork,
// and the two bridges to it this process keeps, as the API server and the
// node otherwise cannot reach each other:
//   - node → API server: a listener inside the namespace on the API
//     server's own address (127.0.0.1:<port>) that forwards to the API
//     server, so the kubelet's kubeconfig stays as it is;
//   - API server → kubelet (exec, logs, port-forward): the API server's
//     "cluster" egress goes through an HTTP CONNECT proxy on a unix socket
//     (--egress-selector-config-file), which dials the node's address from
//     inside the namespace, and nothing else.
type nodeNet struct {
	name   string // ip netns name; the namespace is /run/netns/<name>
	dir    string // short folder of the egress socket and configuration
	config string // the API server's EgressSelectorConfiguration

	mu        sync.Mutex
	listeners []net.Listener
	created   bool
}

// newNodeNet starts the egress proxy; the namespace itself is created by
// create, once the API server runs.
func newNodeNet() (nn *nodeNet, err error) {
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	nn = &nodeNet{name: "cairn-" + hex.EncodeToString(suffix[:])}
	if nn.dir, err = os.MkdirTemp("", "cairn-egress-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			nn.close()
		}
	}()
	sock := filepath.Join(nn.dir, "egress.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	nn.keep(l)
	go nn.serveEgress(l)
	nn.config = filepath.Join(nn.dir, "egress.yaml")
	config := strings.Join([]string{
		"apiVersion: apiserver.k8s.io/v1beta1",
		"kind: EgressSelectorConfiguration",
		"egressSelections:",
		"- name: cluster",
		"  connection:",
		"    proxyProtocol: HTTPConnect",
		"    transport:",
		"      uds:",
		"        udsName: " + sock,
		"",
	}, "\n")
	return nn, os.WriteFile(nn.config, []byte(config), 0o600)
}

func (nn *nodeNet) path() string { return "/run/netns/" + nn.name }

func (nn *nodeNet) keep(l net.Listener) {
	nn.mu.Lock()
	defer nn.mu.Unlock()
	nn.listeners = append(nn.listeners, l)
}

// create makes the namespace: loopback up and a veth pair whose ends both
// stay inside, the node's address on one of them.
func (nn *nodeNet) create() error {
	ip, err := findBin("ip")
	if err != nil {
		return fmt.Errorf("ip (iproute2): %w", err)
	}
	steps := [][]string{
		{"netns", "add", nn.name},
		{"-n", nn.name, "link", "set", "lo", "up"},
		{"-n", nn.name, "link", "add", "node0", "type", "veth", "peer", "name", "peer0"},
		{"-n", nn.name, "addr", "add", nodeNetIP + "/30", "dev", "node0"},
		{"-n", nn.name, "addr", "add", nodeNetPeer + "/30", "dev", "peer0"},
		{"-n", nn.name, "link", "set", "node0", "up"},
		{"-n", nn.name, "link", "set", "peer0", "up"},
	}
	for i, args := range steps {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		if i == 0 {
			nn.created = true
		}
	}
	return nil
}

// forwardAPI listens inside the namespace on hostPort (the API server's
// loopback address) and forwards every connection to the API server.
func (nn *nodeNet) forwardAPI(hostPort string) error {
	var l net.Listener
	err := inNetns(nn.path(), func() (err error) {
		l, err = net.Listen("tcp", hostPort)
		return err
	})
	if err != nil {
		return fmt.Errorf("listening on %s inside %s: %w", hostPort, nn.name, err)
	}
	nn.keep(l)
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				out, err := net.DialTimeout("tcp", hostPort, 5*time.Second)
				if err != nil {
					_ = in.Close()
					return
				}
				splice(in, out, nil)
			}()
		}
	}()
	return nil
}

// dial connects to addr from inside the namespace.
func (nn *nodeNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(nn.path(), func() (err error) {
		c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// serveEgress answers the API server's CONNECT requests for the node's
// address; any other destination is refused.
func (nn *nodeNet) serveEgress(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			br := bufio.NewReader(conn)
			req, err := http.ReadRequest(br)
			if err != nil {
				_ = conn.Close()
				return
			}
			host, _, err := net.SplitHostPort(req.Host)
			if req.Method != http.MethodConnect || err != nil || host != nodeNetIP {
				_, _ = io.WriteString(conn, "HTTP/1.1 403 Forbidden\r\n\r\n")
				_ = conn.Close()
				return
			}
			out, err := nn.dial(req.Context(), "tcp", req.Host)
			if err != nil {
				_, _ = io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
				_ = conn.Close()
				return
			}
			if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
				_ = conn.Close()
				_ = out.Close()
				return
			}
			splice(conn, out, br)
		}()
	}
}

// splice copies both ways until either side is done, then closes both; br
// holds bytes already read from a.
func splice(a, b net.Conn, br *bufio.Reader) {
	var from io.Reader = a
	if br != nil {
		from = br
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, from); done <- struct{}{} }()
	go func() { _, _ = io.Copy(a, b); done <- struct{}{} }()
	<-done
	_ = a.Close()
	_ = b.Close()
	<-done
}

// close stops the listeners and deletes the namespace and the folder.
func (nn *nodeNet) close() error {
	nn.mu.Lock()
	for _, l := range nn.listeners {
		_ = l.Close()
	}
	nn.listeners = nil
	nn.mu.Unlock()
	var errs []error
	if nn.created {
		ip, err := findBin("ip")
		if err == nil {
			if out, err := exec.Command(ip, "netns", "delete", nn.name).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns delete %s: %w: %s", nn.name, err, strings.TrimSpace(string(out))))
			}
		}
		nn.created = false
	}
	if nn.dir != "" {
		errs = append(errs, os.RemoveAll(nn.dir))
	}
	return errors.Join(errs...)
}
