package swaptest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// env carries the two paths to the helper process.
const env = "CAIRN_SWAPTEST_PATHS"

// Main runs the swap loop when this process is a helper started by Start,
// and returns at once otherwise. Call it at the top of TestMain.
func Main() {
	paths, ok := os.LookupEnv(env)
	if !ok {
		return
	}
	a, b, _ := strings.Cut(paths, "\n")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	n := 0
	for {
		select {
		case <-stop:
			fmt.Println(n)
			os.Exit(0)
		default:
		}
		err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
		if err == unix.ENOENT {
			// The code under test removed one of them to make it again
			// (as a restore replacing an entry does): try again.
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "swaptest:", err)
			os.Exit(1)
		}
		n++
	}
}

// Swapper is a running helper process.
type Swapper struct {
	cmd *exec.Cmd
	out bytes.Buffer
	a   string
	b   string
}

// Start starts a helper process that exchanges a and b (both must exist)
// until Stop; while one of them is missing it tries again. It waits until the helper has swapped at least once.
func Start(t testing.TB, a, b string) *Swapper {
	t.Helper()
	s := &Swapper{a: a, b: b}
	s.cmd = exec.Command(os.Args[0], "-test.run=^$")
	s.cmd.Env = append(os.Environ(), env+"="+a+"\n"+b)
	s.cmd.Stdout = &s.out
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("swaptest: start helper: %v", err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	// The helper runs when a's inode moves to b.
	var before unix.Stat_t
	if err := unix.Lstat(a, &before); err != nil {
		t.Fatalf("swaptest: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var st unix.Stat_t
		if unix.Lstat(b, &st) == nil && st.Ino == before.Ino {
			return s
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("swaptest: helper did not swap %s and %s within 10s", a, b)
	return nil
}

// Stop ends the helper and returns how many swaps it made. The two names
// are then in either order; Stop puts them back as they were at Start
// when they are not.
func (s *Swapper) Stop(t testing.TB) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("swaptest: stop helper: %v", err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("swaptest: helper: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s.out.String()))
	if err != nil {
		t.Fatalf("swaptest: helper printed %q", s.out.String())
	}
	if n%2 == 1 {
		if err := unix.Renameat2(unix.AT_FDCWD, s.a, unix.AT_FDCWD, s.b, unix.RENAME_EXCHANGE); err != nil {
			t.Fatalf("swaptest: swap back: %v", err)
		}
	}
	return n
}
