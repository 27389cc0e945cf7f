package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/server"
	"github.com/authd/authd/storage/bolt"
)

// templateDB is a database with signing keys already generated: RSA key
// generation is slow, so every test starts from a copy of it.
var templateDB string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authd-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	templateDB = filepath.Join(dir, "template.db")
	if err := makeTemplate(templateDB); err != nil {
		fmt.Fprintln(os.Stderr, "make template database:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func makeTemplate(path string) error {
	db, err := bolt.Open(path, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := keys.New(context.Background(), keys.Config{Settings: config.Default(), Store: db}); err != nil {
		return err
	}
	return nil
}

// newDB copies the template into a fresh directory and returns its path.
func newDB(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(templateDB)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "authd.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer collects output written from several goroutines.
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

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// result is what one command line produced.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs one command line in-process with the given stdin and
// environment. A management command waits at most 500ms for a locked
// database, so that a test that should have used the socket fails fast.
func cli(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, env: mapEnv(env), lockWait: 500 * time.Millisecond}
	code := a.run(context.Background(), args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustCLI is cli that fails the test unless the command succeeds.
func mustCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	r := cli(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("authd %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// testServer is a server running on a database with its control socket, as
// authd serve runs it, built in the test.
type testServer struct {
	db   *bolt.DB
	srv  *server.Server
	hs   *http.Server
	sock *socketListener
	done chan struct{}
}

func startServer(t *testing.T, dbPath string) *testServer {
	t.Helper()
	ctx := context.Background()
	db, err := bolt.Open(dbPath, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	settings := config.Default()
	// The issuer a management command without a server assumes
	// (offlineIssuer), so that the built-in console is the same either way.
	settings.Issuer = "http://localhost:8080"
	km, err := keys.New(ctx, keys.Config{Settings: settings, Store: db})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Config{Settings: settings, Storage: db, Keys: km, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	sock, err := listenSocket(dbPath + ".sock")
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	ts := &testServer{db: db, srv: srv, sock: sock, done: make(chan struct{}),
		hs: &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: time.Second}}
	go func() {
		defer close(ts.done)
		ts.hs.Serve(sock)
	}()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.hs == nil {
		return
	}
	ts.hs.Shutdown(context.Background())
	<-ts.done
	ts.db.Close()
	ts.hs = nil
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
