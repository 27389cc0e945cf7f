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
	"path/filepath"
	"strings"
	"syscall"
	"time"
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

// refProc is the reference child as the parent sees it.
type refProc struct {
	base   string
	cmd    *exec.Cmd
	stdin  interface{ Close() error }
	exited chan struct{}
}

// startRefProc writes authd's JWKS and metadata into dir and starts the
// reference child on them, signing with a key for alg (RS256, ES256 or
// EdDSA: authd's --signing-alg).
func startRefProc(ctx context.Context, dir string, jwks []byte, etag string, metadata []byte, alg string) (*refProc, error) {
	for name, b := range map[string][]byte{"jwks.json": jwks, "jwks.etag": []byte(etag), "metadata.json": metadata, "signing.alg": []byte(alg)} {
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

// argon2 asks the child for the raw argon2id rate over d, in reused memory
// with reuse (see argon2Rate).
func (p *refProc) argon2(ctx context.Context, c *http.Client, d time.Duration, reuse bool) (argonAnswer, error) {
	var a argonAnswer
	r := 0
	if reuse {
		r = 1
	}
	err := p.getJSON(ctx, c, fmt.Sprintf("/argon2?ms=%d&reuse=%d", d.Milliseconds(), r), &a)
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

// refRequest is a fixed request for the reference server.
func refRequest(c *http.Client, method, url, body, auth string, want int) func(i int) (requestFunc, error) {
	return func(int) (requestFunc, error) {
		buf := make([]byte, 0, 4096)
		return func(ctx context.Context) error {
			var req *http.Request
			var err error
			if body != "" {
				req, err = http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
				if err == nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
			} else {
				req, err = http.NewRequestWithContext(ctx, method, url, nil)
			}
			if err != nil {
				return err
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			return exchange(c, req, want, &buf)
		}, nil
	}
}
