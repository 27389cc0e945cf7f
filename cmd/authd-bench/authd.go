package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
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
	a.cmd = exec.Command(a.bin, "--db", a.db, "serve",
		"--addr", fmt.Sprintf("127.0.0.1:%d", a.port),
		"--issuer", a.base)
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

// Seeding.

const (
	appClient = "bench-app" // confidential: password, refresh_token
	svcClient = "bench-svc" // confidential: client_credentials; introspects
	// benchAudience is the audience of appClient's tokens; svcClient is
	// registered with it, the resource server that may introspect them
	// (SPEC 2.4).
	benchAudience = "https://bench-api.example"
)

var appScopes = []string{"api:read", "api:write"}

type seedInfo struct {
	users     []string // usernames; password of users[i] is passwordOf(i)
	appSecret string
	svcSecret string
}

func passwordOf(i int) string { return fmt.Sprintf("bench-password-%d-long-enough", i) }

func userName(i int) string { return fmt.Sprintf("bench-user-%d", i) }

// generateSecret makes a client secret shaped like the ones authd
// generates: a prefix and 32 random bytes, so authd uses its fast secret
// hash for it, as it would for a generated one.
func generateSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "authd_cs_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// seed creates users and clients through authd's own command line, on the
// database of a server that is not running.
func (a *authd) seed(ctx context.Context, users int) (seedInfo, error) {
	si := seedInfo{appSecret: generateSecret(), svcSecret: generateSecret()}
	for i := range users {
		name := userName(i)
		if _, err := a.cli(ctx, passwordOf(i)+"\n", "user", "add", name, "--password-stdin"); err != nil {
			return si, err
		}
		si.users = append(si.users, name)
	}
	args := []string{"client", "add", appClient, "--secret-stdin", "--grant", "password", "--grant", "refresh_token", "--audience", benchAudience}
	for _, s := range appScopes {
		args = append(args, "--scope", s)
	}
	if _, err := a.cli(ctx, si.appSecret+"\n", args...); err != nil {
		return si, err
	}
	if _, err := a.cli(ctx, si.svcSecret+"\n", "client", "add", svcClient, "--secret-stdin", "--grant", "client_credentials", "--scope", "api:read", "--audience", benchAudience); err != nil {
		return si, err
	}
	return si, nil
}

// familySeeder writes refresh-token families straight into the database
// file while no server runs, through storage/bolt's CreateFamily: the very
// records authd writes at a password login of appClient (same fields, same
// scope and audience rules, same lifetimes as the defaults), only faster
// than logging in a million times.
type familySeeder struct {
	db       *bolt.DB
	users    []storage.User
	scope    []string
	audience string
}

// Default lifetimes of `authd serve` (SPEC §1).
const (
	refreshTTL     = 720 * time.Hour
	refreshIdleTTL = 168 * time.Hour
)

func openSeeder(ctx context.Context, path, issuer string, usernames []string) (*familySeeder, error) {
	db, err := bolt.Open(path, &bolt.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	s := &familySeeder{db: db}
	for _, name := range usernames {
		u, err := db.GetUser(ctx, name)
		if err != nil {
			db.Close()
			return nil, err
		}
		s.users = append(s.users, u)
	}
	cl, err := db.GetClient(ctx, appClient)
	if err != nil {
		db.Close()
		return nil, err
	}
	// The scope and audience a login without scope and resource parameters
	// gets (server.grantScope, server.audience): the client's scopes the
	// user may have, and the client's first audience or the issuer.
	for _, sc := range cl.Scopes {
		if sc != "authd:admin" {
			s.scope = append(s.scope, sc)
		}
	}
	s.audience = issuer
	if len(cl.Audiences) > 0 {
		s.audience = cl.Audiences[0]
	}
	return s, nil
}

// Close closes the database and flushes it to disk: seeding skipped fsync,
// and the server must not pay for that backlog in its first fsync'd write.
func (s *familySeeder) Close() error {
	path := s.db.Path()
	if err := s.db.Close(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// seededFamily is one family to write: its id and its first token.
type seededFamily struct {
	id    string
	token string // empty when the caller does not need the token itself
	hash  string
}

func newToken() (token, hash string) {
	var b [32]byte
	rand.Read(b[:])
	token = "authd_rt_" + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:])
}

// write stores fams, logged in at times from start on, one microsecond
// apart, spread over the users. Writes run from many goroutines so that
// the committer packs them into large transactions.
func (s *familySeeder) write(ctx context.Context, fams []seededFamily, start time.Time) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 256 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(fams)) {
					return
				}
				f := fams[i]
				u := s.users[int(i)%len(s.users)]
				now := start.Add(time.Duration(i) * time.Microsecond).UTC()
				fam := storage.Family{
					ID: f.id, UserID: u.ID, ClientID: appClient, Scope: s.scope, Audience: s.audience,
					UserGen: u.SessionGen, AuthTime: now, CreatedAt: now, LastUsedAt: now,
					ExpiresAt: now.Add(refreshTTL),
				}
				tok := storage.RefreshToken{Hash: f.hash, FamilyID: f.id, IssuedAt: now, IdleExpiresAt: now.Add(refreshIdleTTL)}
				if err := s.db.CreateFamily(ctx, fam, tok); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return ctx.Err()
}

func newFamilyID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func mib(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64)
}
