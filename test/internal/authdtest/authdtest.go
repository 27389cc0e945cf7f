// Package authdtest runs the real authd binary for the fault and
// hostile-input tests under test/: it builds bin/authd once per test
// process, starts `authd serve` on a loopback port, waits until it is ready,
// kills or stops it, talks to its control socket, and takes a checksum of
// the logical state of a database through the storage API.
//
// Everything here is for tests; a Proc is not safe for concurrent use except
// where a method says so.
package authdtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
)

// Long reports whether the long variants were asked for (AUTHD_LONG=1).
func Long() bool { return os.Getenv("AUTHD_LONG") == "1" }

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds cmd/authd once per test process and returns its path. The
// binary is built as `make build` builds it, without the race detector and
// without cgo: the tests measure the program as shipped.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "authdtest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "authd")
		unlock, err := lockBuild(root)
		if err != nil {
			buildErr = err
			return
		}
		defer unlock()
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/authd")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/authd: %v\n%s", err, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// lockBuild takes a lock shared by every test process of the module at
// root. go test runs the packages under test/ in parallel and each builds
// the binary: at the same moment they would compile the same packages side
// by side, which on a busy machine can take longer than a test's timeout;
// one after the other, all but the first find them in the build cache and
// only link.
func lockBuild(root string) (unlock func(), err error) {
	sum := sha256.Sum256([]byte(root))
	path := filepath.Join(os.TempDir(), "authdtest-build-"+hex.EncodeToString(sum[:8])+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("build lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("build lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// Main runs a test package's tests and removes the binary Binary built:
// call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	return code
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Proc is one running `authd serve`.
type Proc struct {
	Cmd    *exec.Cmd
	Addr   string // 127.0.0.1:PORT
	URL    string // http://127.0.0.1:PORT
	Socket string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error // of Wait, valid after done
}

// Options of Start.
type Options struct {
	DB     string
	Socket string // default DB + ".sock"
	Port   int    // default a free port
	Args   []string
	Env    []string
	// SysProcAttr, e.g. to run as another user.
	SysProcAttr *syscall.SysProcAttr
	// ReadyTimeout bounds the wait for /readyz (default 60s).
	ReadyTimeout time.Duration
}

// Start runs `authd --db DB --socket S serve --addr 127.0.0.1:PORT ARGS...`
// and waits until /readyz answers 200. The process is killed at the end of
// the test if it still runs.
func Start(t testing.TB, bin string, o Options) *Proc {
	t.Helper()
	p, err := StartErr(t, bin, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// StartErr is Start returning the failure instead of failing the test.
func StartErr(t testing.TB, bin string, o Options) (*Proc, error) {
	t.Helper()
	if o.Port == 0 {
		o.Port = FreePort(t)
	}
	if o.Socket == "" {
		o.Socket = o.DB + ".sock"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	addr := "127.0.0.1:" + strconv.Itoa(o.Port)
	args := append([]string{"--db", o.DB, "--socket", o.Socket, "serve", "--addr", addr}, o.Args...)
	p := &Proc{Addr: addr, URL: "http://" + addr, Socket: o.Socket, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Env = append(os.Environ(), o.Env...)
	p.Cmd.Stdout = p.stdout
	p.Cmd.Stderr = p.stderr
	p.Cmd.SysProcAttr = o.SysProcAttr
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start authd: %w", err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.Kill() })
	deadline := time.Now().Add(o.ReadyTimeout)
	cl := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("authd exited before it was ready (%v):\n%s", p.err, p.Stderr())
		default:
		}
		if resp, err := cl.Get(p.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("authd not ready after %s:\n%s", o.ReadyTimeout, p.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Run runs the binary to completion with args and returns its exit code,
// stdout and stderr.
func Run(t testing.TB, bin string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	}
	if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return 0, o.String(), e.String()
}

// Kill sends SIGKILL (if the process still runs) and waits for it to end.
// It is safe to call more than once.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for a graceful exit; it kills
// the process after that and returns an error.
func (p *Proc) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("authd did not stop within %s after SIGTERM", timeout)
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stdout and Stderr return what the process has written so far. Safe for
// concurrent use.
func (p *Proc) Stdout() string { return p.stdout.String() }
func (p *Proc) Stderr() string { return p.stderr.String() }

var (
	devSecretRE = regexp.MustCompile(`client_secret:\s+(\S+)`)
	devPassRE   = regexp.MustCompile(`password:\s+(\S+)`)
)

// Dev is the demo client and user that `serve --dev` prints.
type Dev struct {
	ClientID, Secret, Username, Password string
}

// DevCredentials parses the demo client and user from the output of
// `serve --dev`.
func (p *Proc) DevCredentials(t testing.TB) Dev {
	t.Helper()
	// The output travels through a pipe; give it a moment.
	var out string
	var s, pw []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out = p.Stdout()
		s, pw = devSecretRE.FindStringSubmatch(out), devPassRE.FindStringSubmatch(out)
		if s != nil && pw != nil && strings.Contains(out, "curl") {
			break
		}
	}
	if s == nil || pw == nil {
		t.Fatalf("no demo credentials in the output of serve --dev:\n%s", out)
	}
	return Dev{ClientID: "demo-client", Secret: s[1], Username: "demo", Password: pw[1]}
}

// Control returns an HTTP client that reaches the admin API of the control
// socket; requests go to http://authd/admin/api/...
func (p *Proc) Control() *http.Client {
	return SocketClient(p.Socket)
}

// SocketClient is an HTTP client over the Unix socket at path.
func SocketClient(path string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
}

// ControlJSON sends a JSON request to the control socket and returns the
// status and body.
func (p *Proc) ControlJSON(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://authd"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.Control().Do(req)
	if err != nil {
		t.Fatalf("control socket %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// State is the logical content of a database, read through the storage API.
type State struct {
	Users    []storage.User
	Clients  []storage.Client
	Families []storage.Family
	Keys     []storage.Key
}

// Sum is a SHA-256 of the state's canonical JSON.
func (s State) Sum() string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Dump opens the database file (no server may hold it) and reads its
// logical state, sorted.
func Dump(t testing.TB, path string) State {
	t.Helper()
	db, err := bolt.Open(path, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	return DumpDB(t, db)
}

// DumpDB reads the logical state of an open storage.
func DumpDB(t testing.TB, db storage.Storage) State {
	t.Helper()
	ctx := context.Background()
	var s State
	var err error
	if s.Users, err = db.ListUsers(ctx); err != nil {
		t.Fatalf("list users: %v", err)
	}
	if s.Clients, err = db.ListClients(ctx); err != nil {
		t.Fatalf("list clients: %v", err)
	}
	if s.Families, err = storage.ListAllFamilies(ctx, db, storage.FamilyFilter{}); err != nil {
		t.Fatalf("list families: %v", err)
	}
	if s.Keys, err = db.ListKeys(ctx); err != nil {
		t.Fatalf("list keys: %v", err)
	}
	slices.SortFunc(s.Users, func(a, b storage.User) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(s.Clients, func(a, b storage.Client) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(s.Families, func(a, b storage.Family) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(s.Keys, func(a, b storage.Key) int { return strings.Compare(a.ID, b.ID) })
	return s
}

// Lines returns the lines of s that contain substr.
func Lines(s, substr string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TokenAnswer is a decoded answer of the token, revocation or introspection
// endpoint.
type TokenAnswer struct {
	Status int
	Body   map[string]any
	Raw    string
}

// Str returns the string member k of the body.
func (a TokenAnswer) Str(k string) string { s, _ := a.Body[k].(string); return s }

// PostForm posts a form to base+path with Basic client credentials (when id
// is not empty) and decodes the JSON answer. err is a transport error.
func PostForm(cl *http.Client, base, path string, form map[string]string, id, secret string) (TokenAnswer, error) {
	vals := make([]string, 0, len(form))
	for k, v := range form {
		vals = append(vals, queryEscape(k)+"="+queryEscape(v))
	}
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(strings.Join(vals, "&")))
	if err != nil {
		return TokenAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(queryEscape(id), queryEscape(secret))
	}
	resp, err := cl.Do(req)
	if err != nil {
		return TokenAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return TokenAnswer{}, err
	}
	a := TokenAnswer{Status: resp.StatusCode, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.Body); err != nil {
			return a, fmt.Errorf("answer %d is not JSON: %q", resp.StatusCode, raw)
		}
	}
	return a, nil
}

func queryEscape(s string) string { return url.QueryEscape(s) }
