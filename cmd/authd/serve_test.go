package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/storage/bolt"
)

// serving is an authd serve running in the test's process.
type serving struct {
	out, err *syncBuffer
	cancel   context.CancelFunc
	done     chan int
}

// startServe runs authd serve with args and waits until it listens (its
// startup log line), or fails the test if it exits first.
func startServe(t *testing.T, env map[string]string, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{out: &syncBuffer{}, err: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	a := &app{stdin: strings.NewReader(""), stdout: s.out, stderr: s.err, env: mapEnv(env), lockWait: time.Second}
	go func() { s.done <- a.run(ctx, args) }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(s.err.String(), "authd listening") {
		select {
		case code := <-s.done:
			cancel()
			t.Fatalf("authd serve exited with %d before listening:\n%s", code, s.err.String())
		case <-deadline:
			cancel()
			t.Fatalf("authd serve did not start:\n%s", s.err.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop sends the equivalent of SIGTERM and returns the exit status.
func (s *serving) stop(t *testing.T) int {
	t.Helper()
	if s.cancel == nil {
		return 0
	}
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("authd serve did not stop")
		return -1
	}
}

var listenRE = regexp.MustCompile(`msg="authd listening" addr=(\S+) issuer=(\S+)`)

func (s *serving) addr(t *testing.T) (addr, issuer string) {
	t.Helper()
	m := listenRE.FindStringSubmatch(s.err.String())
	if m == nil {
		t.Fatalf("no startup line in:\n%s", s.err.String())
	}
	return m[1], m[2]
}

var curlRE = regexp.MustCompile(`curl -s -u '([^:']+):([^']+)' -d grant_type=password -d username=(\S+) -d 'password=([^']+)' (\S+)`)

// TestServe_Dev starts authd serve --dev on an empty database, runs the
// password grant its curl command describes, manages the running server
// over its socket, and checks that shutdown removes the socket.
func TestServe_Dev(t *testing.T) {
	dbPath := newDB(t)
	sockPath := dbPath + ".sock"
	s := startServe(t, nil, "--db", dbPath, "serve", "--addr", "127.0.0.1:0", "--dev")
	addr, issuer := s.addr(t)
	if want := "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]; issuer != want {
		t.Errorf("issuer %s, want the default %s", issuer, want)
	}

	fi, err := os.Lstat(sockPath)
	if err != nil {
		t.Fatalf("no control socket: %v", err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want a socket with 0600", fi.Mode())
	}

	m := curlRE.FindStringSubmatch(s.out.String())
	if m == nil {
		t.Fatalf("no curl command in the --dev output:\n%s", s.out.String())
	}
	id, secret, user, pw, tokenURL := m[1], m[2], m[3], m[4], m[5]
	if tokenURL != "http://"+addr+"/token" {
		t.Errorf("curl goes to %s, want http://%s/token", tokenURL, addr)
	}
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(url.Values{
		"grant_type": {"password"}, "username": {user}, "password": {pw},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tok["access_token"] == nil || tok["refresh_token"] == nil {
		t.Fatalf("password grant of the --dev curl command: %d %v", resp.StatusCode, tok)
	}

	// The database is locked by the server: these can only work over the
	// socket. The login above made a session.
	env := map[string]string{"AUTHD_DB": dbPath}
	r := mustCLI(t, env, "", "session", "list", "--user", "demo", "--json")
	if !strings.Contains(r.stdout, `"status": "active"`) || !strings.Contains(r.stdout, `"client": "demo-client"`) {
		t.Errorf("session list after the login: %s", r.stdout)
	}
	mustCLI(t, env, "", "user", "disable", "demo")
	r = mustCLI(t, env, "", "session", "list", "--user", "demo", "--json")
	if !strings.Contains(r.stdout, `"status": "revoked"`) {
		t.Errorf("session list after disabling the user: %s", r.stdout)
	}
	// The refresh token of the disabled user no longer works.
	resp, err = http.PostForm(tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)},
		"client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh after disabling the user: %d, want 400", resp.StatusCode)
	}

	// A backup over the socket is a complete database.
	bk := filepath.Join(t.TempDir(), "backup.db")
	mustCLI(t, env, "", "backup", bk)
	if fi, err := os.Stat(bk); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	bdb, err := bolt.Open(bk, nil)
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	if _, err := bdb.GetUser(context.Background(), "demo"); err != nil {
		t.Errorf("the backup lacks the demo user: %v", err)
	}
	bdb.Close()

	// A second server on the same database refuses at once.
	if r := cli(t, nil, "", "--db", dbPath, "serve", "--addr", "127.0.0.1:0"); r.code != 1 || !strings.Contains(r.stderr, "already answers") {
		t.Errorf("second serve: %v", r)
	}

	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.err.String())
	}
	if _, err := os.Lstat(sockPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket is still there after shutdown: %v", err)
	}
	// After shutdown the commands open the database themselves.
	r = mustCLI(t, env, "", "user", "list")
	if !strings.Contains(r.stdout, "demo") {
		t.Errorf("user list after shutdown: %s", r.stdout)
	}
	// --dev on a database that is no longer empty creates nothing.
	s = startServe(t, env, "serve", "--addr", "127.0.0.1:0", "--dev")
	if strings.Contains(s.out.String(), "curl") {
		t.Errorf("--dev on a non-empty database printed:\n%s", s.out.String())
	}
}

// TestServe_StaleSocket: a socket file left by a dead server is replaced; a
// file that is not a socket is left alone and serve fails.
func TestServe_StaleSocket(t *testing.T) {
	dbPath := newDB(t)
	sockPath := dbPath + ".sock"
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	s := startServe(t, nil, "--db", dbPath, "serve", "--addr", "127.0.0.1:0")
	if !socketAnswers(sockPath, time.Second) {
		t.Error("the server does not answer on the socket that replaced the stale one")
	}
	s.stop(t)

	if err := os.WriteFile(sockPath, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "", "--db", dbPath, "serve", "--addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "not a socket") {
		t.Errorf("serve with a regular file at the socket path: %v", r)
	}
	if b, _ := os.ReadFile(sockPath); string(b) != "not a socket" {
		t.Error("serve changed a file that is not a socket")
	}
}

// TestServe_WrongKEK: with a wrong key-encryption key serve exits 1 before
// it listens and changes nothing.
func TestServe_WrongKEK(t *testing.T) {
	dbPath := newDB(t)
	dir := filepath.Dir(dbPath)
	encryptKeys(t, dbPath)
	kekB := writeFile(t, dir, "b.kek", randomKEK(t))
	before, _ := os.ReadFile(dbPath)

	r := cli(t, nil, "", "--db", dbPath, "serve", "--addr", "127.0.0.1:0", "--key-encryption-key-file", kekB)
	if r.code != 1 || !strings.Contains(r.stderr, "does not decrypt") {
		t.Errorf("serve with the wrong KEK: %v", r)
	}
	if strings.Contains(r.stderr, "authd listening") {
		t.Error("serve listened with the wrong KEK")
	}
	if after, _ := os.ReadFile(dbPath); !bytes.Equal(before, after) {
		t.Error("serve with the wrong KEK changed the database")
	}
	if _, err := os.Lstat(dbPath + ".sock"); !errors.Is(err, fs.ErrNotExist) {
		t.Error("serve with the wrong KEK left a socket")
	}
	// A management command that needs the KEK says how to give it.
	r = cli(t, nil, "", "--db", dbPath, "keys", "rotate")
	if r.code != 1 || !strings.Contains(r.stderr, "AUTHD_KEY_ENCRYPTION_KEY_FILE") {
		t.Errorf("keys rotate without the KEK: %v", r)
	}
	// A KEK file of the wrong size is refused.
	short := writeFile(t, dir, "short.kek", "tooshort")
	if r := cli(t, nil, "", "--db", dbPath, "serve", "--key-encryption-key-file", short); r.code != 1 {
		t.Errorf("serve with a short KEK: %v", r)
	}
}

func randomKEK(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// TestCLI_LockedDatabase: a database held by a process that does not answer
// on the socket gives a clear sentence after a short wait, not "database
// locked" at once.
func TestCLI_LockedDatabase(t *testing.T) {
	dbPath := newDB(t)
	db, err := bolt.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	r := cli(t, nil, "", "--db", dbPath, "user", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "in use by another process that does not answer on the control socket") {
		t.Errorf("user list on a locked database: %v", r)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("gave up after %v, want a retry for the lock wait", d)
	}
	// Released meanwhile: the command succeeds.
	go func() {
		time.Sleep(200 * time.Millisecond)
		db.Close()
	}()
	a := &app{stdin: strings.NewReader(""), stdout: &syncBuffer{}, stderr: &syncBuffer{}, env: mapEnv(nil), lockWait: 5 * time.Second}
	if code := a.run(context.Background(), []string{"--db", dbPath, "user", "list"}); code != 0 {
		t.Errorf("user list once the lock is released: exit %d: %s", code, a.stderr)
	}
}

// TestServe_SIGTERM: the signal stops the server gracefully: exit 0, the
// socket removed and the database closed (a command can open it).
func TestServe_SIGTERM(t *testing.T) {
	dbPath := newDB(t)
	s := startServe(t, nil, "--db", dbPath, "serve", "--addr", "127.0.0.1:0", "--log-format", "json")
	if !strings.Contains(s.err.String(), `"msg":"authd listening"`) {
		t.Errorf("--log-format json did not log JSON:\n%s", s.err.String())
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-s.done:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM:\n%s", code, s.err.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	s.cancel()
	s.cancel = nil
	if _, err := os.Lstat(dbPath + ".sock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after SIGTERM: %v", err)
	}
	mustCLI(t, map[string]string{"AUTHD_DB": dbPath}, "", "user", "list")
}

// TestKeys_RevokeActiveWarns: revoking the active key says that caching
// verifiers may reject new tokens; revoking another key does not.
func TestKeys_RevokeActiveWarns(t *testing.T) {
	dbPath := newDB(t)
	env := map[string]string{"AUTHD_DB": dbPath}
	var ks []struct{ Kid, State string }
	json.Unmarshal([]byte(mustCLI(t, env, "", "keys", "list", "--json").stdout), &ks)
	var active, next string
	for _, k := range ks {
		switch k.State {
		case "active":
			active = k.Kid
		case "next":
			next = k.Kid
		}
	}
	if active == "" || next == "" {
		t.Fatalf("keys: %+v", ks)
	}
	// "--": a kid may begin with "-".
	r := mustCLI(t, env, "", "keys", "revoke", "--", next)
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("revoking the next key warned: %q", r.stderr)
	}
	r = mustCLI(t, env, "", "keys", "revoke", "--", active)
	if !strings.Contains(r.stderr, "may reject new tokens until they refetch") {
		t.Errorf("revoking the active key: %v", r)
	}
	r = mustCLI(t, env, "", "keys", "list")
	if strings.Count(r.stdout, "revoked") != 2 || !strings.Contains(r.stdout, "active") {
		t.Errorf("keys after the revocations:\n%s", r.stdout)
	}
}
