package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/server"
	"github.com/authd/authd/storage/bolt"
)

// adminClient speaks to the admin API (SPEC §2.5). Every management command
// is a client of that API; only the transport differs: the control socket
// of a running server, or a server built in this process on the database
// file when none runs. The requests and answers are the same either way.
type adminClient struct {
	http  *http.Client
	via   string // for error messages
	close func()
}

// apiError is an error answer of the admin API.
type apiError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *apiError) Error() string {
	if e.Description != "" {
		return e.Description
	}
	return fmt.Sprintf("the server answered %d %s", e.Status, e.Code)
}

// Timeouts of the connection logic.
const (
	socketDialTimeout = time.Second
	// directLockTimeout is how long one attempt to open the database waits
	// for its lock.
	directLockTimeout = 250 * time.Millisecond
)

// connect returns a client of the admin API. It prefers the control socket
// (if the CLI may trust it, socktrust.go); if nothing answers there it opens
// the database itself. A database held by a process that does not answer on
// the socket (a server starting or stopping, another command) is retried
// until a.lockWait has passed. With create false a missing database file is
// an error rather than created.
func (a *app) connect(ctx context.Context, create bool) (*adminClient, error) {
	deadline := time.Now().Add(a.lockWait)
	for {
		answers, err := trustedSocketAnswers(a.socket, a.db, socketDialTimeout)
		if err != nil {
			return nil, err
		}
		if answers {
			return a.socketClient(), nil
		}
		if !create {
			if _, err := os.Stat(a.db); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("there is no database at %s and no server answers on %s", a.db, a.socket)
			}
		}
		c, err := a.directClient(ctx)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, bolt.ErrLocked) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the database %s is in use by another process that does not answer on the control socket %s; if a server runs on it, pass its --socket", a.db, a.socket)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *app) socketClient() *adminClient {
	path := a.socket
	trusted := trustedUIDs(a.db)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialTrusted(ctx, path, trusted)
		},
		MaxIdleConns:    1,
		IdleConnTimeout: 10 * time.Second,
	}
	return &adminClient{
		http:  &http.Client{Transport: tr},
		via:   "the server on " + path,
		close: tr.CloseIdleConnections,
	}
}

// directClient opens the database and serves the admin API in-process. The
// server is configured from the same AUTHD_* variables as authd serve, so
// that password hashing and key settings agree with the server's. It is
// built without the server's start-up work (server.NewAdmin, offlineKeys):
// no key is generated, rotated, encrypted or even decrypted, no expired
// record is swept and no server secret or built-in client is created, so a
// command changes only what it asks to change, and commands that do not
// change keys need no key-encryption key. What a request needs beyond the
// store, offlineHandler provides just before it is served.
//
// Opening the file initialises a new one and migrates an older schema, as
// serve would: this binary reads and writes only its own schema. A file
// written by a newer authd is refused (openErr).
func (a *app) directClient(ctx context.Context) (*adminClient, error) {
	cfg, err := serveConfigFromEnv(a.env)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	db, err := bolt.Open(a.db, &bolt.Options{Timeout: directLockTimeout, Logger: logger})
	if err != nil {
		return nil, openErr(a.db, err)
	}
	ks := &offlineKeys{cfg: cfg, db: db, dbPath: a.db, logger: logger}
	scfg := cfg.serverConfig(db, ks, logger)
	if scfg.Issuer == "" {
		// The issuer matters to the admin API only when it creates the
		// built-in console client, whose redirect URI is ISSUER/admin/:
		// serve's default for the configured address is the best guess,
		// and serve corrects it at start if it was wrong.
		scfg.Issuer = offlineIssuer(cfg.Addr, cfg.TLSCert != "")
	}
	srv, err := server.NewAdmin(ctx, scfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	c := inProcessClient(&offlineHandler{srv: srv, keys: ks})
	closeHTTP := c.close
	c.via = "the database " + a.db
	c.close = func() {
		closeHTTP()
		db.Close()
	}
	return c, nil
}

// offlineIssuer is the issuer serve would default to on addr
// (defaultIssuer), without listening: http://localhost:PORT, https with
// TLS; http://localhost when the port is not known before listening.
func offlineIssuer(addr string, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	_, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n <= 0 || n > 65535 {
		return scheme + "://localhost"
	}
	return scheme + "://localhost:" + port
}

// offlineHandler serves the admin API of a server built with
// server.NewAdmin, and gives each request what it needs beyond the store:
// a change of clients first creates the built-in clients (a server would
// have; their ids are reserved), and a change of keys loads the signing
// keys. Reads need neither and change nothing.
type offlineHandler struct {
	srv  *server.Server
	keys *offlineKeys

	mu       sync.Mutex
	builtins bool // created
}

func (h *offlineHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		switch p := r.URL.Path; {
		case p == "/admin/api/clients" || strings.HasPrefix(p, "/admin/api/clients/"):
			err = h.ensureBuiltins(r.Context())
		case p == "/admin/api/keys" || strings.HasPrefix(p, "/admin/api/keys/"):
			err = h.keys.load(r.Context())
		}
	}
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]string{"error": "server_error", "error_description": err.Error()})
		return
	}
	h.srv.AdminHandler().ServeHTTP(w, r)
}

func (h *offlineHandler) ensureBuiltins(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.builtins {
		return nil
	}
	if err := h.srv.EnsureBuiltins(ctx); err != nil {
		return err
	}
	h.builtins = true
	return nil
}

// errKeysNotLoaded is a bug: a request used the signing keys that
// offlineHandler did not load for it.
var errKeysNotLoaded = errors.New("the signing keys are not loaded for this command")

// offlineKeys are the signing keys of a database opened by a management
// command. Listing reads the stored records (keys.ListStored): nothing is
// decrypted, so no key-encryption key is needed. Rotate and Revoke need the
// keys loaded first (load), which is when the key-encryption key is read
// and, as at server start, any change the schedule made due is made.
type offlineKeys struct {
	cfg    *serveConfig
	db     *bolt.DB
	dbPath string
	logger *slog.Logger

	mu sync.Mutex
	m  *keys.Manager // nil until load
}

func (k *offlineKeys) manager() *keys.Manager {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m
}

// load loads the signing keys, with the key-encryption key of
// AUTHD_KEY_ENCRYPTION_KEY_FILE if set.
func (k *offlineKeys) load(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m != nil {
		return nil
	}
	var kek []byte
	if k.cfg.KEKFile != "" {
		var err error
		if kek, err = keys.LoadKEK(k.cfg.KEKFile); err != nil {
			return err
		}
	}
	m, err := keys.New(ctx, k.cfg.keysConfig(k.db, kek, k.logger))
	if err != nil {
		return keysErr(k.dbPath, k.cfg.KEKFile, "AUTHD_KEY_ENCRYPTION_KEY_FILE", err)
	}
	k.m = m
	return nil
}

func (k *offlineKeys) Sign(claims []byte) (string, error) {
	if m := k.manager(); m != nil {
		return m.Sign(claims)
	}
	return "", errKeysNotLoaded
}

func (k *offlineKeys) Verify(token string) ([]byte, error) {
	if m := k.manager(); m != nil {
		return m.Verify(token)
	}
	return nil, errKeysNotLoaded
}

func (k *offlineKeys) SignIDToken(claims []byte) (string, error) {
	if m := k.manager(); m != nil {
		return m.SignIDToken(claims)
	}
	return "", errKeysNotLoaded
}

func (k *offlineKeys) SignIDTokenWith(claims func(alg string) ([]byte, error)) (string, error) {
	if m := k.manager(); m != nil {
		return m.SignIDTokenWith(claims)
	}
	return "", errKeysNotLoaded
}

func (k *offlineKeys) SigningAlgs() []string {
	if m := k.manager(); m != nil {
		return m.SigningAlgs()
	}
	return nil
}

func (k *offlineKeys) VerifyIDToken(token string) ([]byte, error) {
	if m := k.manager(); m != nil {
		return m.VerifyIDToken(token)
	}
	return nil, errKeysNotLoaded
}

func (k *offlineKeys) JWKS() ([]byte, string) {
	if m := k.manager(); m != nil {
		return m.JWKS()
	}
	return nil, ""
}

func (k *offlineKeys) Ready() bool {
	m := k.manager()
	return m != nil && m.Ready()
}

func (k *offlineKeys) Active() (keys.Info, bool) {
	if m := k.manager(); m != nil {
		return m.Active()
	}
	return keys.Info{}, false
}

func (k *offlineKeys) List(ctx context.Context) ([]keys.Info, error) {
	if m := k.manager(); m != nil {
		return m.List(ctx)
	}
	return keys.ListStored(ctx, k.cfg.keysConfig(k.db, nil, k.logger))
}

func (k *offlineKeys) Rotate(ctx context.Context, now bool) (keys.Info, error) {
	if m := k.manager(); m != nil {
		return m.Rotate(ctx, now)
	}
	return keys.Info{}, errKeysNotLoaded
}

func (k *offlineKeys) Revoke(ctx context.Context, kid string) (keys.Info, error) {
	if m := k.manager(); m != nil {
		return m.Revoke(ctx, kid)
	}
	return keys.Info{}, errKeysNotLoaded
}

// inProcessClient serves h with an http.Server on an in-memory listener and
// returns a client of it.
func inProcessClient(h http.Handler) *adminClient {
	l := newMemListener()
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(l)
	}()
	tr := &http.Transport{DialContext: l.dial, MaxIdleConns: 1}
	return &adminClient{
		http: &http.Client{Transport: tr},
		via:  "the in-process server",
		close: func() {
			tr.CloseIdleConnections()
			hs.Close()
			<-done
		},
	}
}

// openErr turns an error of bolt.Open into a sentence.
func openErr(path string, err error) error {
	switch {
	case errors.Is(err, bolt.ErrLocked):
		return fmt.Errorf("the database %s is in use by another process: %w", path, err)
	case errors.Is(err, bolt.ErrInvalidFile):
		return fmt.Errorf("%s is not an authd database", path)
	case errors.Is(err, bolt.ErrSchemaTooNew):
		return fmt.Errorf("the database %s was written by a newer authd; upgrade this binary", path)
	}
	if e := fileOpenErr(path, err); e != nil {
		return e
	}
	return fmt.Errorf("open database %s: %w", path, err)
}

// keysErr turns an error of keys.New into a sentence.
func keysErr(db, kekFile, kekSource string, err error) error {
	if errors.Is(err, keys.ErrWrongKEK) {
		if kekFile == "" {
			return fmt.Errorf("the signing keys in %s are encrypted; give the key-encryption key file with %s", db, kekSource)
		}
		return fmt.Errorf("the key-encryption key in %s does not decrypt the signing keys in %s; nothing was changed", kekFile, db)
	}
	return fmt.Errorf("load signing keys from %s: %w", db, err)
}

// do sends a request to the admin API. body, if not nil, is sent as JSON.
// On success the raw answer is returned; an error answer is an *apiError.
func (c *adminClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s: %w", c.via, err)
	}
	if resp.StatusCode >= 300 {
		return nil, answerErr(resp.StatusCode, raw)
	}
	return raw, nil
}

// doJSON is do, decoding a successful answer into out.
func (c *adminClient) doJSON(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	raw, err := c.do(ctx, method, path, body)
	if err != nil || out == nil {
		return raw, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("the answer of %s is not what this authd expects: %w", c.via, err)
	}
	return raw, nil
}

// send sends a request and returns the response for the caller to read.
func (c *adminClient) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://authd"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	var ue *untrustedPeerError
	if errors.As(err, &ue) {
		return nil, ue
	}
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.via, err)
	}
	return resp, nil
}

func answerErr(status int, raw []byte) error {
	e := &apiError{Status: status}
	if json.Unmarshal(raw, e) != nil || e.Code == "" {
		e.Code = http.StatusText(status)
	}
	return e
}
