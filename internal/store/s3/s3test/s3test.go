package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/store/s3"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// Root credentials of every test server.
const (
	AccessKey = "cairn-test-root"
	SecretKey = "cairn-test-root-secret-key"
	Region    = "us-east-1"
)

// Server is a running versitygw.
type Server struct {
	Endpoint string // "http://127.0.0.1:port", or https:// from StartTLS
	Root     string // the posix backend's directory: one sub-directory per bucket
	// CA is the PEM certificate of the CA that signed the server's
	// certificate (StartTLS only).
	CA     []byte
	client *awss3.Client
}

// Binary returns the versitygw binary's path: $CAIRN_VERSITYGW, else
// .cache/bin/versitygw at the top of the tree.
func Binary(t testing.TB) (string, error) {
	t.Helper()
	bin := os.Getenv("CAIRN_VERSITYGW")
	if bin == "" {
		bin = filepath.Join(testenv.RepoRoot(t), ".cache", "bin", "versitygw")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%w (build it with `make tools`)", err)
	}
	return bin, nil
}

// Start starts a versitygw for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return startServer(t, nil)
}

// StartTLS is Start with the server behind TLS: its certificate, for
// 127.0.0.1, is signed by a CA made for this server alone (Server.CA), so
// that only a client told to trust that CA reaches it.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return startServer(t, newTestCA(t))
}

func startServer(t testing.TB, ca *testCA) *Server {
	t.Helper()
	bin, err := Binary(t)
	if err != nil {
		testenv.RequireReal(t, "versitygw S3 server", err)
	}
	dir := t.TempDir()
	root, versions := filepath.Join(dir, "root"), filepath.Join(dir, "versions")
	for _, d := range []string{root, versions} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var lastErr error
	for range 3 { // a free port can be taken between finding and binding it
		addr, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		srv, err := start(t, bin, addr, root, versions, ca)
		if err == nil {
			return srv
		}
		lastErr = err
	}
	t.Fatalf("start versitygw: %v", lastErr)
	return nil
}

func start(t testing.TB, bin, addr, root, versions string, ca *testCA) (*Server, error) {
	var out syncBuffer
	args := []string{"--port", addr, "--access", AccessKey, "--secret", SecretKey, "--region", Region, "--quiet"}
	scheme, httpClient := "http", http.DefaultClient
	if ca != nil {
		args = append(args, "--cert", ca.certFile, "--key", ca.keyFile)
		scheme, httpClient = "https", ca.client()
	}
	cmd := exec.Command(bin, append(args, "posix", "--versioning-dir", versions, root)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// Nothing from the developer's environment may change the server.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	endpoint := scheme + "://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("versitygw exited: %v: %s", err, out.String())
		default:
		}
		resp, err := httpClient.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw did not answer on %s: %v: %s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", out.String())
		}
	})
	client := awss3.New(awss3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		HTTPClient:   httpClient,
	})
	srv := &Server{Endpoint: endpoint, Root: root, client: client}
	if ca != nil {
		srv.CA = ca.pem
	}
	return srv, nil
}

// CreateBucket creates a bucket, with object lock (and so versioning) when
// objectLock is set.
func (s *Server) CreateBucket(t testing.TB, name string, objectLock bool) {
	t.Helper()
	in := &awss3.CreateBucketInput{Bucket: aws.String(name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.client.CreateBucket(context.Background(), in); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// Options are store options for bucket and prefix on this server, with its
// root credentials (and its CA, behind TLS).
func (s *Server) Options(bucket, prefix string) s3.Options {
	return s3.Options{
		Bucket: bucket, Prefix: prefix,
		Endpoint: s.Endpoint, Region: Region, PathStyle: true,
		AccessKey: AccessKey, SecretKey: SecretKey,
		CA:          s.CA,
		MaxAttempts: 3,
	}
}

// Env is the environment the CLI needs to reach this server.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"CAIRN_S3_ENDPOINT":     s.Endpoint,
		"CAIRN_S3_REGION":       Region,
		"CAIRN_S3_PATH_STYLE":   "true",
		"AWS_ACCESS_KEY_ID":     AccessKey,
		"AWS_SECRET_ACCESS_KEY": SecretKey,
	}
}

// Store opens the store on bucket and prefix.
func (s *Server) Store(t testing.TB, bucket, prefix string) *s3.Store {
	t.Helper()
	st, err := s3.New(context.Background(), s.Options(bucket, prefix))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Client is a raw S3 client with the root credentials.
func (s *Server) Client() *awss3.Client { return s.client }

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
