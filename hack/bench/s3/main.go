// Command s3 measures cairn on S3 against the local store, and
// replication (issue 6 §5): backup and restore of the mkdata dataset to a
// versitygw on 127.0.0.1 and to a local directory, replication of the S3
// repository to a second bucket, and an incremental replicate after
// `mkdata --mutate 2` and a new backup.
//
//	go run ./hack/bench/s3 [-size 1024] [-cairn PATH] [-keep]
//
// It runs the cairn binary (built from this tree into the work directory
// unless -cairn names one) as a user would, with -q --no-progress, and
// versitygw from .cache/bin (`make tools`). The dataset is copied from
// .cache/bench/mkdata-SIZE when that exists (hack/bench/run.sh's; it is
// never changed there), else made with package mkdata. The page cache is warm for every
// step. It prints a markdown table for docs/benchmarks.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/mkdata"
)

const (
	accessKey = "cairn-bench"
	secretKey = "cairn-bench-secret-key"
	region    = "us-east-1"
)

func main() {
	size := flag.Int("size", 1024, "dataset size in MiB")
	cairn := flag.String("cairn", "", "cairn binary (default: build ./cmd/cairn)")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	if err := run(*size, *cairn, *keep); err != nil {
		log.Fatalf("bench: %v", err)
	}
}

// step is one measured command.
type step struct {
	name    string
	seconds float64
	rssKiB  int64
	bytes   int64 // what the throughput is computed on
}

func (s step) rate() float64 { return float64(s.bytes) / (1 << 20) / s.seconds }

type bench struct {
	work, cairn string
	env         []string
	steps       map[string]step
}

func run(size int, cairn string, keep bool) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "cairn-bench-s3-")
	if err != nil {
		return err
	}
	if keep {
		log.Printf("bench: work directory %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	if cairn == "" {
		cairn = filepath.Join(work, "cairn")
		log.Printf("bench: building cairn")
		if out, err := exec.Command("go", "build", "-o", cairn, "./cmd/cairn").CombinedOutput(); err != nil {
			return fmt.Errorf("build cairn: %v: %s", err, out)
		}
	}
	data := filepath.Join(work, "data")
	if err := dataset(root, data, size); err != nil {
		return err
	}
	dataBytes, err := treeBytes(data)
	if err != nil {
		return err
	}
	endpoint, stop, err := startS3(root, work)
	if err != nil {
		return err
	}
	defer stop()
	for _, b := range []string{"bench", "replica", "locked"} {
		if err := createBucket(endpoint, b, b == "locked"); err != nil {
			return err
		}
	}
	b := &bench{work: work, cairn: cairn, steps: map[string]step{}, env: append(os.Environ(),
		"CAIRN_PASSWORD=bench-passphrase",
		"CAIRN_S3_ENDPOINT="+endpoint, "CAIRN_S3_REGION="+region, "CAIRN_S3_PATH_STYLE=true",
		"AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey)}

	localRepo, s3Repo, replica := filepath.Join(work, "repo"), "s3://bench/repo", "s3://replica/repo"
	lockedRepo := "s3://locked/repo"
	if _, err := b.cmd("", 0, "repo", "init", "-q", "--repo", localRepo); err != nil {
		return err
	}
	if _, err := b.cmd("", 0, "repo", "init", "-q", "--repo", s3Repo); err != nil {
		return err
	}
	// Object lock (governance) from the first byte: every pack, index
	// file and snapshot is written with its retention (issue 11 §1).
	if _, err := b.cmd("", 0, "repo", "init", "-q", "--repo", lockedRepo, "--object-lock", "governance", "--lock-margin", "1d"); err != nil {
		return err
	}
	warm(data)
	for _, r := range []struct{ name, repo string }{{"local", localRepo}, {"s3", s3Repo}, {"s3 locked", lockedRepo}} {
		if _, err := b.cmd(r.name+" backup", dataBytes, "fs", "backup", "-q", "--no-progress", "--ttl", "30d", "--repo", r.repo, data); err != nil {
			return err
		}
		out := filepath.Join(work, "restore-"+strings.ReplaceAll(r.name, " ", "-"))
		if _, err := b.cmd(r.name+" restore", dataBytes, "fs", "restore", "-q", "--no-progress", "--repo", r.repo, "latest", "--target", out); err != nil {
			return err
		}
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	rep, err := b.replicate("replicate", s3Repo, replica)
	if err != nil {
		return err
	}
	first := rep
	if _, err := b.cmd("verify", first.Bytes, "replicate", "--from", s3Repo, "--to", replica, "--verify", "-q", "--no-progress"); err != nil {
		return err
	}
	if _, err := b.cmd("verify --read-data", 2*first.Bytes, "replicate", "--from", s3Repo, "--to", replica, "--verify", "--read-data", "-q", "--no-progress"); err != nil {
		return err
	}
	log.Printf("bench: mkdata --mutate 2")
	if err := mkdata.Mutate(data, 2, 1); err != nil {
		return err
	}
	warm(data)
	if _, err := b.cmd("s3 backup (after --mutate 2)", dataBytes, "fs", "backup", "-q", "--no-progress", "--repo", s3Repo, data); err != nil {
		return err
	}
	inc, err := b.replicate("incremental replicate", s3Repo, replica)
	if err != nil {
		return err
	}
	b.table(size, dataBytes, first, inc)
	return nil
}

// cmd runs cairn with args and records it as step name (unless "").
func (b *bench) cmd(name string, n int64, args ...string) ([]byte, error) {
	c := exec.Command(b.cairn, args...)
	c.Env = b.env
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	d := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("cairn %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	if name != "" {
		s := step{name: name, seconds: d.Seconds(), bytes: n}
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.rssKiB = ru.Maxrss
		}
		b.steps[name] = s
		log.Printf("bench: %-30s %7.2fs  %4d MiB RSS", name, s.seconds, s.rssKiB>>10)
	}
	return out.Bytes(), nil
}

// replicationReport is the part of `replicate -o json` the table uses.
type replicationReport struct {
	Objects     int   `json:"objects"`
	Bytes       int64 `json:"bytes"`
	Copied      int   `json:"copied"`
	CopiedBytes int64 `json:"copied_bytes"`
}

func (b *bench) replicate(name, from, to string) (replicationReport, error) {
	var rep replicationReport
	out, err := b.cmd(name, 0, "replicate", "--from", from, "--to", to, "-o", "json", "--no-progress")
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return rep, fmt.Errorf("replicate -o json: %v: %s", err, out)
	}
	s := b.steps[name]
	s.bytes = rep.CopiedBytes
	b.steps[name] = s
	return rep, nil
}

func (b *bench) table(size int, dataBytes int64, first, inc replicationReport) {
	mib := func(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
	fmt.Printf("\n%s, %d CPUs, %s; `mkdata --size %d` (%s of file content)\n\n", time.Now().Format("2006-01-02 15:04"), runtime.NumCPU(), runtime.Version(), size, mib(dataBytes))
	fmt.Println("| step | local store | S3 (versitygw, loopback) | S3, object lock at upload | S3 / local | locked / unlocked time |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, op := range []string{"backup", "restore"} {
		l, s, k := b.steps["local "+op], b.steps["s3 "+op], b.steps["s3 locked "+op]
		fmt.Printf("| %s | %.1f s, %.0f MiB/s, %d MiB RSS | %.1f s, %.0f MiB/s, %d MiB RSS | %.1f s, %.0f MiB/s, %d MiB RSS | %.2f× | %.2f× |\n",
			op, l.seconds, l.rate(), l.rssKiB>>10, s.seconds, s.rate(), s.rssKiB>>10, k.seconds, k.rate(), k.rssKiB>>10, s.rate()/l.rate(), k.seconds/s.seconds)
	}
	fmt.Println()
	fmt.Println("| replication (S3 → second bucket) | objects copied | bytes copied | time | throughput | RSS |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	r, v, vr := b.steps["replicate"], b.steps["verify"], b.steps["verify --read-data"]
	fmt.Printf("| first replicate | %d of %d | %s | %.1f s | %.0f MiB/s | %d MiB |\n", first.Copied, first.Objects, mib(first.CopiedBytes), r.seconds, r.rate(), r.rssKiB>>10)
	fmt.Printf("| verify (listings) | — | — | %.1f s | — | %d MiB |\n", v.seconds, v.rssKiB>>10)
	fmt.Printf("| verify --read-data (both sides) | — | %s read | %.1f s | %.0f MiB/s | %d MiB |\n", mib(vr.bytes), vr.seconds, vr.rate(), vr.rssKiB>>10)
	m, i := b.steps["s3 backup (after --mutate 2)"], b.steps["incremental replicate"]
	fmt.Printf("| backup after `--mutate 2` (for reference) | — | — | %.1f s | — | %d MiB |\n", m.seconds, m.rssKiB>>10)
	fmt.Printf("| incremental replicate | %d of %d | %s | %.1f s | %.0f MiB/s | %d MiB |\n", inc.Copied, inc.Objects, mib(inc.CopiedBytes), i.seconds, i.rate(), i.rssKiB>>10)
}

// dataset copies the kept dataset into dir, or makes it.
func dataset(root, dir string, size int) error {
	kept := filepath.Join(root, ".cache", "bench", fmt.Sprintf("mkdata-%d", size))
	if _, err := os.Stat(kept); err == nil {
		log.Printf("bench: copying %s", kept)
		if out, err := exec.Command("cp", "-a", kept, dir).CombinedOutput(); err != nil {
			return fmt.Errorf("copy dataset: %v: %s", err, out)
		}
		return nil
	}
	log.Printf("bench: making the %d MiB dataset", size)
	return mkdata.Generate(dir, size, 1)
}

// treeBytes sums the sizes of the regular files under dir (hard links
// once; a sparse file by its length, as a backup reads it).
func treeBytes(dir string) (int64, error) {
	var n int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		n += fi.Size()
		return nil
	})
	return n, err
}

// warm reads the dataset once, so that every backup starts with it in the
// page cache.
func warm(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if f, err := os.Open(p); err == nil {
				buf := make([]byte, 1<<20)
				for {
					if _, err := f.Read(buf); err != nil {
						break
					}
				}
				f.Close()
			}
		}
		return nil
	})
}

// startS3 starts versitygw (posix backend, versioning) on a free loopback
// port.
func startS3(root, work string) (endpoint string, stop func(), err error) {
	bin := filepath.Join(root, ".cache", "bin", "versitygw")
	dir, versions := filepath.Join(work, "s3"), filepath.Join(work, "s3-versions")
	for _, d := range []string{dir, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--port", addr, "--access", accessKey, "--secret", secretKey, "--region", region, "--quiet",
		"posix", "--versioning-dir", versions, dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start versitygw (build it with `make tools`): %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	endpoint = "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return endpoint, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("versitygw did not answer on %s: %v: %s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func createBucket(endpoint, name string, lock bool) error {
	c := awss3.New(awss3.Options{
		Region: region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
	_, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(lock)})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}
