package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/storage/bolt"
)

// checkStartFailure checks what a serve that must fail before it listens
// left behind: exit status code, exactly one error line on stderr ("authd:
// ..."), every other line a log line, each of names exactly once in the
// error line, nothing of a Go stack or of wrapped error chains, no startup
// line and no control socket. It returns the error line.
func checkStartFailure(t *testing.T, r result, code int, sockPath string, names ...string) string {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\n%v", r.code, code, r)
	}
	var errLine string
	for line := range strings.Lines(r.stderr) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "authd: "):
			if errLine != "" {
				t.Errorf("two error lines:\n%s\n%s", errLine, line)
			}
			errLine = line
		case strings.HasPrefix(line, "time="), strings.HasPrefix(line, "{"):
			// A log line of the server (text or JSON).
		default:
			t.Errorf("stderr line %q is neither the error nor a log line", line)
		}
	}
	if errLine == "" {
		t.Fatalf("no error line in stderr:\n%s", r.stderr)
	}
	for _, n := range names {
		if c := strings.Count(errLine, n); c != 1 {
			t.Errorf("error line names %q %d times, want once: %s", n, c, errLine)
		}
	}
	for _, noise := range []string{"goroutine ", "panic", ".go:", "bolt:", "server:", "listen tcp", "open " + names[0] + ":"} {
		if strings.Contains(errLine, noise) {
			t.Errorf("error line contains %q: %s", noise, errLine)
		}
	}
	if strings.Contains(r.stderr, "authd listening") {
		t.Errorf("serve listened before it failed:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout of a failed serve: %q", r.stdout)
	}
	if sockPath != "" {
		if _, err := os.Lstat(sockPath); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a failed serve left the control socket %s: %v", sockPath, err)
		}
	}
	return errLine
}

// mountReadOnly mounts a tmpfs at dir holding files (name to content) and
// remounts it read-only. Tests run as root in CI; elsewhere the test skips.
func mountReadOnly(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if err := syscall.Mount("authd-test", dir, "tmpfs", 0, "size=8m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs for the read-only case (needs root and CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}

// TestServe_DatabaseErrors: a database that cannot be opened for reading
// and writing, or that is not a bbolt file, makes serve exit 1 with one
// sentence naming the file, before it listens and without changing it.
//
// Permission bits do not stop root, which runs the tests in CI, so the
// cases are ones that fail for root too: a directory at the path, a
// read-only file system, an immutable file (chattr +i), random bytes. A
// file with mode 000 is checked only when the test does not run as root.
func TestServe_DatabaseErrors(t *testing.T) {
	template, err := os.ReadFile(templateDB)
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 64<<10)
	rand.Read(random)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the database path
		want  string
	}{
		{"directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "authd.db")
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			return p
		}, "is a directory, not a file"},
		{"missing directory", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "nowhere", "authd.db")
		}, "does not exist"},
		{"read-only file system", func(t *testing.T, dir string) string {
			ro := filepath.Join(dir, "ro")
			if err := os.Mkdir(ro, 0o700); err != nil {
				t.Fatal(err)
			}
			mountReadOnly(t, ro, map[string][]byte{"authd.db": template})
			return filepath.Join(ro, "authd.db")
		}, "for reading and writing: read-only file system"},
		{"immutable file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "authd.db")
			if err := os.WriteFile(p, template, 0o600); err != nil {
				t.Fatal(err)
			}
			chattr, err := exec.LookPath("chattr")
			if err != nil {
				t.Skip("no chattr to make the database immutable")
			}
			if out, err := exec.Command(chattr, "+i", p).CombinedOutput(); err != nil {
				t.Skipf("chattr +i %s (needs root and a file system with attributes): %v %s", p, err, out)
			}
			t.Cleanup(func() { exec.Command(chattr, "-i", p).Run() })
			return p
		}, "for reading and writing: operation not permitted"},
		{"mode 000", func(t *testing.T, dir string) string {
			if os.Geteuid() == 0 {
				t.Skip("permission bits do not stop root; the directory, read-only and immutable cases cover this")
			}
			p := filepath.Join(dir, "authd.db")
			if err := os.WriteFile(p, template, 0o000); err != nil {
				t.Fatal(err)
			}
			return p
		}, "for reading and writing: permission denied"},
		{"not a bbolt file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "authd.db")
			if err := os.WriteFile(p, random, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, "is not an authd database"},
		{"truncated", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "authd.db")
			if err := os.WriteFile(p, template[:100], 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, "is not an authd database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dbPath := tt.setup(t, dir)
			before, _ := os.ReadFile(dbPath)
			r := cli(t, nil, "", "--db", dbPath, "serve", "--addr", "127.0.0.1:0")
			line := checkStartFailure(t, r, 1, dbPath+".sock", dbPath)
			if !strings.Contains(line, tt.want) {
				t.Errorf("error line %q, want it to contain %q", line, tt.want)
			}
			if after, _ := os.ReadFile(dbPath); !bytes.Equal(before, after) {
				t.Error("the failed serve changed the database file")
			}
		})
	}
}

// TestServe_AddressInUse: an address another process listens on makes serve
// exit 1 with one sentence naming the address, leaving no socket and the
// database free.
func TestServe_AddressInUse(t *testing.T) {
	dbPath := newDB(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	r := cli(t, nil, "", "--db", dbPath, "serve", "--addr", addr)
	line := checkStartFailure(t, r, 1, dbPath+".sock", addr)
	if !strings.Contains(line, "already in use") {
		t.Errorf("error line %q, want it to say the address is in use", line)
	}
	db, err := bolt.Open(dbPath, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("the database is not free after the failed serve: %v", err)
	}
	db.Close()
}

// TestServe_IssuerLoopback: an http issuer is accepted on loopback only
// (SPEC §1), from the flag or from AUTHD_ISSUER; https anywhere.
func TestServe_IssuerLoopback(t *testing.T) {
	refused := []struct {
		name, issuer string
	}{
		{"public host", "http://auth.example.com"},
		{"private address", "http://10.0.0.1:8080"},
		{"unspecified address", "http://0.0.0.0:8080"},
		{"loopback lookalike", "http://localhost.example.com"},
		{"loopback as userinfo", "http://localhost@auth.example.com"},
		{"no scheme", "localhost:8080"},
		{"other scheme", "ftp://localhost"},
		{"query", "https://auth.example.com?x=1"},
	}
	dbPath := newDB(t)
	for _, tt := range refused {
		t.Run("refuse "+tt.name, func(t *testing.T) {
			r := cli(t, nil, "", "--db", dbPath, "serve", "--addr", "127.0.0.1:0", "--issuer", tt.issuer)
			line := checkStartFailure(t, r, 2, dbPath+".sock", tt.issuer)
			if !strings.Contains(line, "--issuer") {
				t.Errorf("error line %q does not name --issuer", line)
			}
			r = cli(t, map[string]string{"AUTHD_ISSUER": tt.issuer}, "", "--db", dbPath, "serve", "--addr", "127.0.0.1:0")
			checkStartFailure(t, r, 2, dbPath+".sock", tt.issuer)
		})
	}

	for _, issuer := range []string{"http://localhost:9999", "http://127.0.0.1:9999", "http://127.1.2.3", "http://[::1]:9999/authd", "https://auth.example.com"} {
		t.Run("accept "+issuer, func(t *testing.T) {
			s := startServe(t, nil, "--db", dbPath, "serve", "--addr", "127.0.0.1:0", "--issuer", issuer)
			addr, logged := s.addr(t)
			if logged != issuer {
				t.Errorf("startup line issuer %s, want %s", logged, issuer)
			}
			var md map[string]any
			getJSON(t, http.DefaultClient, "http://"+addr+"/.well-known/oauth-authorization-server", &md)
			if md["issuer"] != issuer || md["token_endpoint"] != issuer+"/token" {
				t.Errorf("metadata issuer %v token_endpoint %v, want %s", md["issuer"], md["token_endpoint"], issuer)
			}
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d:\n%s", code, s.err.String())
			}
		})
	}
}

// getJSON fetches url with c, expects 200 and decodes the body into v.
func getJSON(t *testing.T, c *http.Client, url string, v any) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return resp
}

// TestServe_GracefulShutdown: on SIGTERM serve stops accepting on both the
// HTTP port and the control socket at once, lets a request whose body is
// still arriving finish with its normal answer, then closes the database
// cleanly and removes the socket.
func TestServe_GracefulShutdown(t *testing.T) {
	dbPath := newDB(t)
	sockPath := dbPath + ".sock"
	env := map[string]string{"AUTHD_DB": dbPath}
	s := startServe(t, env, "serve", "--addr", "127.0.0.1:0")
	addr, _ := s.addr(t)
	const secret = "shutdown-test-secret"
	mustCLI(t, env, secret+"\n", "client", "add", "svc", "--secret-stdin", "--grant", "client_credentials")

	// A token request whose body arrives in two parts: the server has read
	// its header and waits in the handler for the rest.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "grant_type=client_credentials"
	fmt.Fprintf(conn, "POST /token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Authorization: Basic %s\r\nX-Request-Id: in-flight-1\r\nContent-Length: %d\r\n\r\n%s",
		addr, base64.StdEncoding.EncodeToString([]byte("svc:"+secret)), len(body), body[:10])
	// Give the server time to read the header. Had it not, the connection
	// would still count as in flight: http.Server.Shutdown waits 5s for a
	// new connection's first request.
	time.Sleep(100 * time.Millisecond)

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, s, `msg="shutting down"`, 10*time.Second)

	// New connections are refused at once, on both listeners, while the
	// request is still in flight.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("dial after SIGTERM: %v, want connection refused", err)
			}
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("serve still accepts HTTP connections 5s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for socketAnswers(sockPath, time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("serve still accepts on the control socket 5s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case code := <-s.done:
		t.Fatalf("serve exited %d with a request in flight:\n%s", code, s.err.String())
	default:
	}

	// The rest of the body: the request completes normally.
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatalf("write the rest of the body: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer of the in-flight request: %v", err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tok["access_token"] == nil {
		t.Errorf("in-flight token request: %d %v, want 200 with an access token", resp.StatusCode, tok)
	}

	select {
	case code := <-s.done:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM:\n%s", code, s.err.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after the in-flight request finished")
	}
	s.cancel()
	s.cancel = nil
	if !strings.Contains(s.err.String(), `request_id=in-flight-1`) || !strings.Contains(s.err.String(), `msg=stopped`) {
		t.Errorf("log lacks the in-flight request or the final line:\n%s", s.err.String())
	}
	if _, err := os.Lstat(sockPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after SIGTERM: %v", err)
	}
	// Closed cleanly: the file opens at once, and holds the client.
	db, err := bolt.Open(dbPath, &bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("reopen the database after shutdown: %v", err)
	}
	defer db.Close()
	if _, err := db.GetClient(context.Background(), "svc"); err != nil {
		t.Errorf("the client added before shutdown: %v", err)
	}
}

// waitLog waits until serve's stderr contains s.
func waitLog(t *testing.T, sv *serving, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(sv.err.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after %v:\n%s", s, d, sv.err.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var generatedIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestServe_RequestID: a well-formed X-Request-Id is echoed and logged; any
// other is replaced by a generated one, which is returned and logged.
func TestServe_RequestID(t *testing.T) {
	dbPath := newDB(t)
	s := startServe(t, nil, "--db", dbPath, "serve", "--addr", "127.0.0.1:0")
	addr, _ := s.addr(t)
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"well-formed", "req-2026.11_26-A", true},
		{"uuid", "0b9d6c1e-4d7a-4bf5-9a43-0d5c8e7e6f21", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"none", "", false},
		{"129 characters", strings.Repeat("b", 129), false},
		{"space", "two words", false},
		{"log injection", `x" level=ERROR msg="forged`, false},
		{"non-ASCII", "idé", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/healthz?case=" + strings.ReplaceAll(tt.name, " ", "-")
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
			if tt.sent != "" {
				req.Header.Set("X-Request-Id", tt.sent)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.Header.Get("X-Request-Id")
			switch {
			case tt.keep && got != tt.sent:
				t.Errorf("X-Request-Id %q, want the one sent, %q", got, tt.sent)
			case !tt.keep && !generatedIDRE.MatchString(got):
				t.Errorf("X-Request-Id %q, want a generated id for %q", got, tt.sent)
			}
			if seen[got] {
				t.Errorf("request id %q was returned twice", got)
			}
			seen[got] = true
			// The request line is written after the answer.
			waitLog(t, s, "request_id="+got, 5*time.Second)
			n := 0
			for line := range strings.Lines(s.err.String()) {
				if !strings.Contains(line, " request_id="+got+" ") && !strings.HasSuffix(line, " request_id="+got+"\n") {
					continue
				}
				n++
				for _, f := range []string{"msg=request ", " method=GET ", " path=/healthz ", " status=200 ", " duration="} {
					if !strings.Contains(line, f) {
						t.Errorf("request line %q lacks %q", line, f)
					}
				}
			}
			if n != 1 {
				t.Errorf("%d log lines with request id %s, want 1", n, got)
			}
		})
	}
	// An error answer carries one too.
	resp, err := http.Get("http://" + addr + "/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !generatedIDRE.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Errorf("404 answer: status %d X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	if strings.Contains(s.err.String(), "forged") {
		t.Errorf("a refused request id reached the log:\n%s", s.err.String())
	}
}

// TestServe_JSONLogs: with --log-format json every line serve writes, from
// start to stop, is a JSON object with time, level and msg; request lines
// carry the request fields, admin changes over the socket are audited.
func TestServe_JSONLogs(t *testing.T) {
	dbPath := newDB(t)
	env := map[string]string{"AUTHD_DB": dbPath}
	s := startServe(t, env, "serve", "--addr", "127.0.0.1:0", "--log-format", "json")
	var addr string
	for _, m := range jsonLines(t, s.err.String()) {
		if m["msg"] == "authd listening" {
			addr, _ = m["addr"].(string)
		}
	}
	if addr == "" {
		t.Fatalf("no startup line with the address:\n%s", s.err.String())
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Request-Id", "json-log-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Post("http://"+addr+"/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=password"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mustCLI(t, env, "", "client", "add", "json-log-client", "--public")
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.err.String())
	}
	if s.out.String() != "" {
		t.Errorf("stdout: %q", s.out.String())
	}

	var request, tokenErr, audit, stopped bool
	for _, m := range jsonLines(t, s.err.String()) {
		switch {
		case m["msg"] == "request" && m["request_id"] == "json-log-1":
			request = m["method"] == "GET" && m["path"] == "/healthz" && m["status"] == float64(200) && m["duration"] != nil
		case m["msg"] == "request" && m["path"] == "/token":
			tokenErr = m["status"] == float64(401) || m["status"] == float64(400)
		case m["msg"] == "admin change":
			audit = audit || m["action"] == "client.create" && m["client_id"] == "json-log-client"
		case m["msg"] == "stopped":
			stopped = true
		}
	}
	if !request || !tokenErr || !audit || !stopped {
		t.Errorf("request line %v, token error line %v, audit line %v, stop line %v; log:\n%s", request, tokenErr, audit, stopped, s.err.String())
	}
}

// jsonLines parses every line of a JSON log and checks that each has the
// fields of log/slog's JSON handler: time (RFC 3339), level and msg.
func jsonLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(log) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %v: %q", err, line)
			continue
		}
		ts, _ := m["time"].(string)
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("log line without a valid time: %q", line)
		}
		if lv, _ := m["level"].(string); lv == "" {
			t.Errorf("log line without a level: %q", line)
		}
		if msg, _ := m["msg"].(string); msg == "" {
			t.Errorf("log line without a msg: %q", line)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		t.Error("no log lines")
	}
	return out
}
