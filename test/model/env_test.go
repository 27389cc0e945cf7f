// Package model checks the refresh-token state machine of authd (SPEC §2.1)
// against a plain in-memory model, with many concurrent clients, on a real
// server on a loopback port over a real bbolt file, with an injected clock.
package model

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/server"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
	"github.com/authd/authd/test/internal/authdtest"
)

// clock is the injected clock: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	clientID     = "model-app"
	clientSecret = "model-secret-0123456789-0123456789-0123456789"
	refreshTTL   = 2 * time.Hour
	idleTTL      = 30 * time.Minute
)

// env is an in-process authd over a bbolt file.
type env struct {
	t     *testing.T
	clock *clock
	store *bolt.DB
	srv   *server.Server
	url   string
	hc    *http.Client
}

func newEnv(t *testing.T, grace time.Duration) *env {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	// NoSync: this test is about logic and races; durability is the crash
	// test's subject.
	db, err := bolt.Open(filepath.Join(t.TempDir(), "authd.db"), &bolt.Options{NoSync: true, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ts := httptest.NewUnstartedServer(nil)
	settings := config.Default()
	settings.Issuer = "http://" + ts.Listener.Addr().String()
	settings.RefreshTTL, settings.RefreshIdleTTL, settings.RefreshReuseGrace = refreshTTL, idleTTL, grace
	km, err := keys.New(ctx, keys.Config{Settings: settings, Store: db, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Config{
		Settings: settings,
		Storage:  db,
		Keys:     km,
		Now:      c.Now,
		Hasher:   password.New(password.Config{Params: password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, MaxConcurrent: 4, Wait: 10 * time.Second}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	e := &env{t: t, clock: c, store: db, srv: srv, url: ts.URL,
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if err := db.CreateClient(ctx, storage.Client{ID: clientID, SecretHash: password.HashSecret(clientSecret),
		Grants: []string{server.GrantPassword, server.GrantRefreshToken}, Scopes: []string{"read"}, CreatedAt: c.Now()}); err != nil {
		t.Fatal(err)
	}
	return e
}

// admin sends a JSON request to the admin API as the local operator.
func (e *env) admin(method, path string, body any) int {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.srv.AdminHandler().ServeHTTP(w, req)
	return w.Code
}

func (e *env) token(form map[string]string) (authdtest.TokenAnswer, error) {
	return authdtest.PostForm(e.hc, e.url, "/token", form, clientID, clientSecret)
}

func (e *env) refresh(tok string) (authdtest.TokenAnswer, error) {
	return e.token(map[string]string{"grant_type": "refresh_token", "refresh_token": tok})
}
