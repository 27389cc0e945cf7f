package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

// The reference server runs in a child process of this tool (the same
// executable, told by refDirEnv to serve instead of measure), so that it
// stands to the load generator exactly as authd does: its own process, its
// own Go runtime and GOMAXPROCS, the same two cores, and its CPU time and
// memory readable from /proc like authd's.

// refDirEnv names the directory the reference child reads authd's JWKS and
// metadata from. It does not start with AUTHD_, which the tool keeps out of
// its children's environment.
const refDirEnv = "AUTHDBENCH_REF_DIR"

// refServerMain is the child's main: it serves the reference on a free
// loopback port, prints its base URL on stdout and serves until SIGTERM,
// SIGINT or its stdin closes (the parent is gone).
func refServerMain(dir string) error {
	jwks, err1 := os.ReadFile(filepath.Join(dir, "jwks.json"))
	etag, err2 := os.ReadFile(filepath.Join(dir, "jwks.etag"))
	metadata, err3 := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	r, err := startRefServer(dir, jwks, string(etag), metadata)
	if err != nil {
		return err
	}
	fmt.Println(r.base)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		var b [1]byte
		for {
			if _, err := os.Stdin.Read(b[:]); err != nil {
				stop()
				return
			}
		}
	}()
	<-ctx.Done()
	return r.Close()
}

// handleMicro measures one sign and one durable commit, n times each, and
// answers their medians as JSON.
func (r *refServer) handleMicro(c *gin.Context) {
	n, err := strconv.Atoi(c.Query("n"))
	if err != nil || n < 1 || n > 10_000 {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	m, err := measureMicro(c.Request.Context(), r, n)
	if err != nil {
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.JSON(http.StatusOK, m)
}

// handleArgon2 hashes on all cores for the given milliseconds and answers
// the hashes counted.
func (r *refServer) handleArgon2(c *gin.Context) {
	d, err := strconv.Atoi(c.Query("ms"))
	if err != nil || d < 1 || d > 600_000 {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	rate, workers := argon2Rate(c.Request.Context(), time.Duration(d)*time.Millisecond)
	c.JSON(http.StatusOK, argonAnswer{Rate: rate, Workers: workers})
}

type argonAnswer struct {
	Rate    float64 `json:"rate"`
	Workers int     `json:"workers"`
}

// refProc is the reference child as the parent sees it.
type refProc struct {
	base   string
	cmd    *exec.Cmd
	stdin  interface{ Close() error }
	exited chan struct{}
}

// startRefProc writes authd's JWKS and metadata into dir and starts the
// reference child on them.
func startRefProc(ctx context.Context, dir string, jwks []byte, etag string, metadata []byte) (*refProc, error) {
	for name, b := range map[string][]byte{"jwks.json": jwks, "jwks.etag": []byte(etag), "metadata.json": metadata} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), refDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start reference server: %w", err)
	}
	p := &refProc{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "http://127.0.0.1:") {
			p.stop()
			return nil, fmt.Errorf("reference server did not start (said %q)", line)
		}
		p.base = line
		return p, nil
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, errors.New("reference server did not start within 30s")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

func (p *refProc) pid() int { return p.cmd.Process.Pid }

// stop ends the child this tool started: its stdin closes, then SIGTERM to
// its pid, then SIGKILL to the same pid after 10 s.
func (p *refProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// micro asks the child for the sign and commit costs.
func (p *refProc) micro(ctx context.Context, c *http.Client, n int) (microCosts, error) {
	var m microCosts
	err := p.getJSON(ctx, c, fmt.Sprintf("/micro?n=%d", n), &m)
	return m, err
}

// argon2 asks the child for the raw argon2id rate over d.
func (p *refProc) argon2(ctx context.Context, c *http.Client, d time.Duration) (argonAnswer, error) {
	var a argonAnswer
	err := p.getJSON(ctx, c, fmt.Sprintf("/argon2?ms=%d", d.Milliseconds()), &a)
	return a, err
}

func (p *refProc) getJSON(ctx context.Context, c *http.Client, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return err
	}
	long := *c
	long.Timeout = 0 // bounded by ctx
	resp, err := long.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reference %s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
