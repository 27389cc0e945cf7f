package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
)

// testClock is the injectable clock of the tests: it moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testParams keep argon2id cheap in tests; the production parameters are
// tested in package password.
var testParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testEnv is a real server on a loopback port over a real bbolt file.
type testEnv struct {
	t      testing.TB
	dir    string
	dbPath string
	clock  *testClock
	store  *bolt.DB
	keys   *keys.Manager
	srv    *Server
	http   *httptest.Server
	url    string
	cfg    Config
	logBuf *lockedBuffer
	// wrap, if set, wraps the storage the server uses; store stays the
	// bbolt file itself.
	wrap func(storage.Storage) storage.Storage
}

type envOption func(*Config)

func withGrace(d time.Duration) envOption {
	return func(c *Config) { c.RefreshReuseGrace = d }
}

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	return newWrappedEnv(t, nil, opts...)
}

// newWrappedEnv is newEnv with the server's storage wrapped by wrap.
func newWrappedEnv(t testing.TB, wrap func(storage.Storage) storage.Storage, opts ...envOption) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{t: t, dir: dir, dbPath: filepath.Join(dir, "authd.db"), clock: newTestClock(), logBuf: &lockedBuffer{}, wrap: wrap}
	e.cfg = Config{Settings: config.Default()}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.start()
	return e
}

func (e *testEnv) start() {
	t := e.t
	t.Helper()
	db, err := bolt.Open(e.dbPath, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	e.store = db
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(e.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	km, err := keys.New(ctx, keys.Config{Settings: e.cfg.Settings, Store: db, Now: e.clock.Now, Logger: logger})
	if err != nil {
		t.Fatalf("keys.New: %v", err)
	}
	e.keys = km
	e.http = httptest.NewUnstartedServer(nil)
	if e.url != "" {
		// A restart listens on the same port, so the issuer stays.
		e.http.Listener.Close()
		l, err := net.Listen("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatalf("listen again: %v", err)
		}
		e.http.Listener = l
	}
	e.url = "http://" + e.http.Listener.Addr().String()
	cfg := e.cfg
	cfg.Issuer = e.url
	cfg.Storage = db
	if e.wrap != nil {
		cfg.Storage = e.wrap(db)
	}
	cfg.Keys = km
	cfg.Logger = logger
	cfg.Now = e.clock.Now
	if cfg.Hasher == nil {
		cfg.Hasher = password.New(password.Config{Params: testParams, MaxConcurrent: 4, Wait: 5 * time.Second})
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	srv.sleepFn = func(context.Context, time.Duration) error { return nil }
	e.srv = srv
	e.http.Config.Handler = srv.Handler()
	e.http.Start()
	t.Cleanup(e.stop)
}

func (e *testEnv) stop() {
	if e.http != nil {
		e.http.Close()
		e.http = nil
	}
	if e.store != nil {
		e.store.Close()
		e.store = nil
	}
}

// restart stops the server and opens the same file again.
func (e *testEnv) restart() {
	e.stop()
	e.start()
}

func (e *testEnv) addUser(name, pw string, mod func(*storage.User)) storage.User {
	e.t.Helper()
	h, err := e.srv.hasher.Hash(context.Background(), pw)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	u := storage.User{ID: newID(), Username: name, PasswordHash: h, CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(&u)
	}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *testEnv) addClient(id, secret string, mod func(*storage.Client)) storage.Client {
	e.t.Helper()
	c := storage.Client{ID: id, Grants: []string{GrantPassword, GrantRefreshToken}, Scopes: []string{"read", "write"}, CreatedAt: e.clock.Now()}
	if secret == "" {
		c.Public = true
	} else {
		c.SecretHash = password.HashSecret(secret)
	}
	if mod != nil {
		mod(&c)
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// post sends a form to path with optional Basic credentials.
func (e *testEnv) post(path string, form url.Values, basicID, basicSecret string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.Header.Set("Authorization", basicAuth(basicID, basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// tokenResult is a decoded token endpoint answer.
type tokenResult struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r tokenResult) str(k string) string { s, _ := r.Body[k].(string); return s }

func decode(t testing.TB, resp *http.Response) tokenResult {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := tokenResult{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("body is not JSON: %q", raw)
		}
	}
	return r
}

func (e *testEnv) token(form url.Values, id, secret string) tokenResult {
	e.t.Helper()
	return decode(e.t, e.post("/token", form, id, secret))
}

func (e *testEnv) login(clientID, secret, user, pw string) tokenResult {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}, clientID, secret)
}

func (e *testEnv) refresh(clientID, secret, rt string) tokenResult {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, clientID, secret)
}
