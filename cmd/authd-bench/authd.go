package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// buildAuthd builds cmd/authd of the module this tool belongs to into
// out.
func buildAuthd(ctx context.Context, out string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, "./cmd/authd")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/authd: %w\n%s", err, stderr.String())
	}
	return nil
}

func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// moduleRoot is the directory of the authd module (where go.mod is).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the authd module: run from the repository or pass --authd")
	}
	return filepath.Dir(mod), nil
}

// authd is one authd server process on a temporary database.
type authd struct {
	bin  string
	db   string
	port int
	base string
	log  string

	cmd     *exec.Cmd
	exited  chan struct{}
	Startup time.Duration

	// signingAlg, if set, is the server's --signing-alg.
	signingAlg string
}

func newAuthd(bin, dir string) (*authd, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &authd{
		bin: bin, db: filepath.Join(dir, "authd.db"), port: port,
		base: fmt.Sprintf("http://127.0.0.1:%d", port),
		log:  filepath.Join(dir, "authd.log"),
	}, nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before authd binds it; then start fails and says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// childEnv is the tool's environment without AUTHD_* variables, so that flags
// alone configure the server.
func childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHD_") {
			out = append(out, kv)
		}
	}
	return out
}

// cli runs a management command on the database with stdin as input.
func (a *authd) cli(ctx context.Context, stdin string, args ...string) (string, error) {
	args = append([]string{"--db", a.db}, args...)
	cmd := exec.CommandContext(ctx, a.bin, args...)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("authd %s: %w: %s", strings.Join(args[2:], " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// start runs `authd serve` and waits until /readyz answers 200. Startup is
// the time from process start to that answer.
func (a *authd) start(ctx context.Context) error {
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"--db", a.db, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", a.port), "--issuer", a.base}
	if a.signingAlg != "" {
		args = append(args, "--signing-alg", a.signingAlg)
	}
	a.cmd = exec.Command(a.bin, args...)
	a.cmd.Env = childEnv()
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	// If this tool dies without cleaning up, the kernel ends the server.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := a.cmd.Start(); err != nil {
		return fmt.Errorf("start authd: %w", err)
	}
	a.exited = make(chan struct{})
	go func() {
		_ = a.cmd.Wait()
		close(a.exited)
	}()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/readyz", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				a.Startup = time.Since(t0)
				return nil
			}
		}
		select {
		case <-a.exited:
			return fmt.Errorf("authd exited during start-up (%s); its log: %s", a.cmd.ProcessState, a.tail())
		case <-ctx.Done():
			a.stop()
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a.stop()
			return fmt.Errorf("authd not ready after 60s; its log: %s", a.tail())
		}
	}
}

// tail is the end of the server's log, for error messages.
func (a *authd) tail() string {
	b, _ := os.ReadFile(a.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func (a *authd) pid() int { return a.cmd.Process.Pid }

// stop ends the server this tool started: SIGTERM to its pid, then SIGKILL
// to the same pid if it has not exited after 10 s. Safe to call more than
// once.
func (a *authd) stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}
