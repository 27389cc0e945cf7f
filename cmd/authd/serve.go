package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/server"
	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/server/logline"
	"github.com/authd/authd/storage/bolt"
)

// HTTP server limits of authd serve.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 32 << 10
	shutdownTimeout   = 20 * time.Second
	// serveLockTimeout is how long serve waits for a database held by a
	// management command that opened it directly.
	serveLockTimeout = 10 * time.Second
)

// serveConfig holds the settings of authd serve: config.Settings, and the
// flags whose values are parsed into them by validate.
type serveConfig struct {
	config.Settings
	trustedProxies listFlag
	argonMemory    uint // KiB
	argonTime      uint // passes
	argonThreads   uint // lanes
}

// serveFlags defines the flags of authd serve, with the defaults of
// config.Default.
func serveFlags(c *serveConfig) *flag.FlagSet {
	c.Settings = config.Default()
	s := &c.Settings
	fs := newFlagSet("serve")
	fs.StringVar(&s.Addr, "addr", s.Addr, "listen address")
	fs.StringVar(&s.Issuer, "issuer", s.Issuer, "the iss claim and metadata issuer (default http://localhost:PORT)")
	fs.StringVar(&s.Audience, "audience", s.Audience, "default aud of access tokens (default the issuer)")
	fs.DurationVar(&s.AccessTTL, "access-ttl", s.AccessTTL, "access token lifetime")
	fs.DurationVar(&s.RefreshTTL, "refresh-ttl", s.RefreshTTL, "absolute lifetime of a refresh-token family")
	fs.DurationVar(&s.RefreshIdleTTL, "refresh-idle-ttl", s.RefreshIdleTTL, "a refresh token unused this long expires")
	fs.DurationVar(&s.LoginSessionTTL, "login-session-ttl", s.LoginSessionTTL, "absolute lifetime of a browser sign-in session")
	fs.DurationVar(&s.LoginSessionIdleTTL, "login-session-idle-ttl", s.LoginSessionIdleTTL, "a browser sign-in session unused this long ends")
	fs.DurationVar(&s.RefreshReuseGrace, "refresh-reuse-grace", s.RefreshReuseGrace, "window in which a just-rotated refresh token gets the same answer")
	fs.DurationVar(&s.KeyRotation, "key-rotation", s.KeyRotation, "how often a new signing key becomes active")
	fs.IntVar(&s.KeyBits, "key-bits", s.KeyBits, "RSA key size (2048, 3072, 4096)")
	fs.StringVar(&s.SigningAlg, "signing-alg", s.SigningAlg, "algorithm of new signing keys: RS256, ES256 (P-256) or EdDSA (Ed25519)")
	fs.DurationVar(&s.JWKSMaxAge, "jwks-max-age", s.JWKSMaxAge, "Cache-Control max-age of the JWKS")
	fs.StringVar(&s.KEKFile, "key-encryption-key-file", s.KEKFile, "file with a 32-byte key that encrypts private keys at rest")
	fs.StringVar(&s.TLSCert, "tls-cert", s.TLSCert, "TLS certificate file (PEM)")
	fs.StringVar(&s.TLSKey, "tls-key", s.TLSKey, "TLS private key file (PEM)")
	fs.Var(&c.trustedProxies, "trusted-proxies", "CIDRs whose X-Forwarded-For is believed")
	fs.BoolVar(&s.Dev, "dev", s.Dev, "on an empty database, create a demo client, a demo user and a demo app of the authorization code flow, and print how to use them")
	fs.StringVar(&s.LogFormat, "log-format", s.LogFormat, "text or json")
	fs.UintVar(&c.argonMemory, "argon2-memory", uint(s.Argon2.Memory), "argon2id memory per password hash, in KiB")
	fs.UintVar(&c.argonTime, "argon2-time", uint(s.Argon2.Time), "argon2id passes per password hash")
	fs.UintVar(&c.argonThreads, "argon2-threads", uint(s.Argon2.Threads), "argon2id lanes per password hash")
	fs.IntVar(&s.MaxConcurrentHashes, "max-concurrent-hashes", s.MaxConcurrentHashes, "password hashes running at once (default the number of CPUs)")
	fs.DurationVar(&s.HashWait, "hash-wait", s.HashWait, "how long a login waits for a hashing slot before 503")
	return fs
}

// serveConfigFromEnv reads the serve settings from the environment only;
// management commands that open the database use it so that they manage
// keys exactly as the server would.
func serveConfigFromEnv(env func(string) string) (*serveConfig, error) {
	c := &serveConfig{}
	fs := serveFlags(c)
	if err := fs.Parse(nil); err != nil {
		return nil, err
	}
	if err := applyEnv(fs, env); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// validate parses the flags that config.Settings holds parsed, and reports
// every problem of the settings at once (config.Settings.Validate), as a
// usage error.
func (c *serveConfig) validate() error {
	var parseProbs []string
	if p, err := c.proxies(); err != nil {
		parseProbs = append(parseProbs, err.Error())
	} else {
		c.TrustedProxies = p
	}
	if c.argonMemory > 1<<22 || c.argonTime > 1<<10 || c.argonThreads > 255 {
		parseProbs = append(parseProbs, "--argon2-memory, --argon2-time or --argon2-threads is out of range")
	} else {
		c.Argon2.Memory, c.Argon2.Time, c.Argon2.Threads = uint32(c.argonMemory), uint32(c.argonTime), uint8(c.argonThreads)
	}
	var probs []string
	if err := c.Settings.Validate(); err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				probs = append(probs, e.Error())
			}
		} else {
			probs = append(probs, err.Error())
		}
	}
	probs = append(probs, parseProbs...)
	if len(probs) > 0 {
		return usagef("%s", strings.Join(probs, "; "))
	}
	return nil
}

// proxies parses --trusted-proxies; a bare address is a one-address prefix.
func (c *serveConfig) proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.trustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// setMemoryLimit gives the Go runtime a soft memory limit, unless the
// operator set GOMEMLIMIT: the memory of the concurrent password hashes plus
// 48 MiB for everything else. The hashes' working memory (19 MiB each by
// default) is kept from one hash to the next, one per slot, so under load
// it is live heap, and without a limit the collector would let other
// garbage pile up to as much again; a stored hash with more memory than the
// current parameters still allocates its own once. It returns a function
// that restores the previous limit.
func setMemoryLimit(c serveConfig, logger *slog.Logger) (restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	n := c.MaxConcurrentHashes
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	limit := int64(n)*int64(c.Argon2.Memory)<<10 + 48<<20
	prev := debug.SetMemoryLimit(limit)
	logger.Debug("soft memory limit set", "bytes", limit)
	return func() { debug.SetMemoryLimit(prev) }
}

// keysConfig is the keys' configuration of the settings.
func (c *serveConfig) keysConfig(db *bolt.DB, kek []byte, logger *slog.Logger) keys.Config {
	return keys.Config{Settings: c.Settings, Store: db, KEK: kek, Now: time.Now, Logger: logger}
}

// serverConfig is the server's configuration of the settings. The server
// builds its password hasher from them.
func (c *serveConfig) serverConfig(db *bolt.DB, km server.Keys, logger *slog.Logger) server.Config {
	return server.Config{
		Settings:   c.Settings,
		Storage:    db,
		Keys:       km,
		Logger:     logger,
		Collectors: []prometheus.Collector{newBoltCollector(db)},
		Now:        time.Now,
	}
}

// serve runs the server until SIGINT or SIGTERM (or ctx ends), then shuts
// down gracefully: it stops accepting, finishes in-flight requests, stops
// the key rotation, closes the database and removes the control socket.
func (a *app) serve(ctx context.Context, args []string) error {
	var c serveConfig
	fs := serveFlags(&c)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		a.serveUsage(fs)
		return err
	}
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q", pos[0])
	}
	if err := applyEnv(fs, a.env); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	logOut := newBufferedLog(a.stderr)
	defer logOut.Close()
	var logger *slog.Logger
	if c.LogFormat == "json" {
		logger = slog.New(logline.NewJSON(logOut, nil))
	} else {
		logger = slog.New(logline.NewText(logOut, nil))
	}

	defer setMemoryLimit(c, logger)()

	var kek []byte
	if c.KEKFile != "" {
		if kek, err = keys.LoadKEK(c.KEKFile); err != nil {
			return err
		}
		warnOpenSecretFile("the key-encryption key file", c.KEKFile, logger)
	}
	var tlsCfg *tls.Config
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return tlsErr(c.TLSCert, c.TLSKey, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		warnOpenSecretFile("the TLS key file", c.TLSKey, logger)
	}

	if socketAnswers(a.socket, socketDialTimeout) {
		return fmt.Errorf("a server already answers on the control socket %s", a.socket)
	}
	db, err := bolt.Open(a.db, &bolt.Options{Timeout: serveLockTimeout, Logger: logger})
	if err != nil {
		return openErr(a.db, err)
	}
	defer db.Close()

	km, err := keys.New(ctx, c.keysConfig(db, kek, logger))
	if err != nil {
		return keysErr(a.db, c.KEKFile, "--key-encryption-key-file", err)
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return listenErr(c.Addr, err)
	}
	defer ln.Close()
	scfg := c.serverConfig(db, km, logger)
	if scfg.Issuer == "" {
		scfg.Issuer = defaultIssuer(ln.Addr(), tlsCfg != nil)
	}
	srv, err := server.New(ctx, scfg)
	if err != nil {
		return err
	}
	sock, err := listenSocket(a.socket)
	if err != nil {
		return err
	}
	defer sock.Close()

	if c.Dev {
		if err := a.devSetup(ctx, srv, logger, baseURL(ln.Addr(), tlsCfg != nil)); err != nil {
			return err
		}
	}

	// Key rotation and the expiry sweep run until the HTTP servers have shut
	// down, and stop before the database closes.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { km.Run(bgCtx) })
	wg.Go(func() { srv.Run(bgCtx) })
	defer func() {
		stopBackground()
		wg.Wait()
	}()

	pub := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ctl := &http.Server{
		Handler:           srv.AdminHandler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() {
		if tlsCfg != nil {
			errc <- pub.ServeTLS(ln, "", "")
		} else {
			errc <- pub.Serve(ln)
		}
	}()
	go func() { errc <- ctl.Serve(sock) }()
	logger.Info("authd listening", "addr", ln.Addr().String(), "issuer", scfg.Issuer,
		"tls", tlsCfg != nil, "db", a.db, "socket", a.socket)

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-errc:
		serveErr = fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	// Both servers stop accepting at once, then finish their requests.
	shutErrs := make([]error, 2)
	var swg sync.WaitGroup
	for i, hs := range []*http.Server{pub, ctl} {
		swg.Go(func() {
			if err := hs.Shutdown(sctx); err != nil {
				shutErrs[i] = err
				hs.Close()
			}
		})
	}
	swg.Wait()
	shutErr := errors.Join(shutErrs...)
	if serveErr != nil {
		return serveErr
	}
	if shutErr != nil {
		return fmt.Errorf("graceful shutdown did not finish in %s: %w", shutdownTimeout, shutErr)
	}
	logger.Info("stopped")
	return nil
}

// warnOpenSecretFile logs a warning when a file of secrets (the file a
// symbolic link names) is readable or writable by group or others, or
// belongs to a user other than this process's or root, who could replace
// it: whoever reads the key-encryption key can decrypt the signing keys of
// the database and its backups; whoever reads the TLS key can impersonate
// the server.
func warnOpenSecretFile(what, path string, logger *slog.Logger) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	uid := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	if fi.Mode().Perm()&0o077 == 0 && (uid == -1 || uid == 0 || uid == os.Geteuid()) {
		return
	}
	logger.Warn(what+" is open to other users; make it belong to authd's user or root and readable by its owner only (chmod 0400)",
		"path", path, "mode", fi.Mode().Perm().String(), "uid", uid)
}

func (a *app) serveUsage(fs *flag.FlagSet) {
	a.helpShown = true
	fmt.Fprintln(a.stdout, "usage: authd [--db PATH] [--socket PATH] serve [flags]")
	fmt.Fprintln(a.stdout, "\nEvery flag is also read from AUTHD_<FLAG> (e.g. AUTHD_ADDR); the flag wins.")
	fmt.Fprintln(a.stdout)
	fs.SetOutput(a.stdout)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// defaultIssuer is http://localhost:PORT (https with TLS) for the listener.
func defaultIssuer(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	port := "80"
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
	}
	return scheme + "://localhost:" + port
}

// baseURL is a URL that reaches the listener from this machine.
func baseURL(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return scheme + "://" + addr.String()
	}
	ip := ta.IP
	if ip.IsUnspecified() {
		if ip.To4() != nil {
			ip = net.IPv4(127, 0, 0, 1)
		} else {
			ip = net.IPv6loopback
		}
	}
	return scheme + "://" + net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

// Demo data of authd serve --dev.
const (
	devClientID = "demo-client"
	devUsername = "demo"
)

// devSetup creates a demo confidential client, a demo user and a demo
// public client of the authorization code flow on an empty database (no
// users, no clients but the built-in ones), through the admin API, and
// prints them with a curl command for the password grant, an
// authorization URL and the curl command of its code exchange.
func (a *app) devSetup(ctx context.Context, srv *server.Server, logger *slog.Logger, base string) error {
	logger.Warn("development mode (--dev): do not use it in production")
	c := inProcessClient(srv.AdminHandler())
	defer c.close()
	var users []admin.User
	if _, err := c.doJSON(ctx, http.MethodGet, "/admin/api/users", nil, &users); err != nil {
		return err
	}
	var clients []admin.Client
	if _, err := c.doJSON(ctx, http.MethodGet, "/admin/api/clients", nil, &clients); err != nil {
		return err
	}
	empty := len(users) == 0
	for _, cl := range clients {
		empty = empty && cl.BuiltIn
	}
	if !empty {
		logger.Info("development mode: the database is not empty, so no demo client or user was created; for a fresh demo, start on a new database file (--db)", "db", a.db)
		return nil
	}
	var cl admin.Client
	if _, err := c.doJSON(ctx, http.MethodPost, "/admin/api/clients", admin.CreateClient{
		ID:     devClientID,
		Grants: []string{server.GrantPassword, server.GrantRefreshToken, server.GrantClientCredentials},
		Scopes: []string{"read", "write"},
	}, &cl); err != nil {
		return fmt.Errorf("create the demo client: %w", err)
	}
	if _, err := c.doJSON(ctx, http.MethodPost, "/admin/api/clients", admin.CreateClient{
		ID:           devAppID,
		Public:       true,
		Grants:       []string{grantAuthorizationCode, server.GrantRefreshToken},
		Scopes:       []string{"openid", "profile"},
		RedirectURIs: []string{devAppRedirect},
	}, nil); err != nil {
		return fmt.Errorf("create the demo app: %w", err)
	}
	var b [18]byte
	rand.Read(b[:])
	pw := base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := c.doJSON(ctx, http.MethodPost, "/admin/api/users", admin.CreateUser{
		Username: devUsername, Password: pw,
	}, nil); err != nil {
		return fmt.Errorf("create the demo user: %w", err)
	}
	fmt.Fprintf(a.stdout, `Development mode: created a demo client and a demo user on the empty database.

  client_id:      %s
  client_secret:  %s
  username:       %s
  password:       %s

Get a token with the password grant:

  %s

`, devClientID, cl.Secret, devUsername, pw, devCurl(base, cl.Secret, pw))
	a.printDevAuthCode(base)
	return nil
}

// devCurl is the ready-to-paste password grant of the demo user. The secret
// and password are base64url, which needs no quoting beyond the single
// quotes.
func devCurl(base, secret, pw string) string {
	return fmt.Sprintf("curl -s -u '%s:%s' -d grant_type=password -d username=%s -d 'password=%s' %s/token",
		devClientID, secret, devUsername, pw, base)
}
