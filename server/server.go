// Package server is authd's HTTP face: the token endpoint (RFC 6749), the
// authorization endpoint with its sign-in and consent pages (PKCE, RFC
// 7636; the pages' templates come from package web), OpenID Connect
// (ID tokens, UserInfo, Discovery, RP-initiated logout), token revocation
// (RFC 7009), introspection (RFC 7662), server metadata (RFC 8414), the
// JWKS route and health checks; it mounts the admin API of package
// server/admin. With its subpackages it is the only part of authd
// that imports gin.
//
// A Server is built once with New and is safe for concurrent use. Its
// Handler serves the public routes and the bearer-protected admin API; its
// AdminHandler serves the same admin API without a token, for the control
// socket that only the local operator can reach.
package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/server/throttle"
	"github.com/authd/authd/storage"
)

// Server serves authd's HTTP API.
type Server struct {
	cfg    Config
	store  storage.Storage
	keys   Keys
	hasher PasswordHasher
	log    *slog.Logger
	now    Clock

	// rtKey derives a refresh token's successor from the token itself, so
	// that a retried rotation yields the same successor while only hashes
	// are stored.
	rtKey []byte

	clients  clientCache
	users    userCache
	throttle *throttle.Limiter
	metrics  *metrics
	// sleepFn replaces the real delay of throttled logins in tests.
	sleepFn func(context.Context, time.Duration) error

	// The sweeper's batch size, carried from sweep to sweep, and the clock
	// and pause it times batches with (replaced in tests).
	sweepMu    sync.Mutex
	sweepBatch int
	sweepClock func() time.Time
	sweepSleep func(context.Context, time.Duration) error

	// clientThrottle counts failed client authentications, per (client
	// id, address) and per address; secrets verifies client secrets in
	// hasher's bounded hashing.
	clientThrottle *throttle.Limiter
	secrets        *password.SecretVerifier

	// requestIDs gives the ids of requests that come without one.
	requestIDs *requestIDs

	// pages renders the browser pages of the authorization code flow;
	// csrfKey makes their forms' CSRF tokens (loginsession.go).
	pages   *pages
	csrfKey []byte

	// metadataDocs are the metadata bodies for the signing algorithms in
	// use (metadata.go).
	metadataDocs     atomic.Pointer[metadataDocuments]
	jwksCacheControl []string
	// metadataCacheControl: public, max-age=--jwks-max-age.
	metadataCacheControl []string
	jwksHeaders          atomic.Pointer[jwksHeaderValues]

	// cors holds the origins allowed to call /token, /revoke and
	// /userinfo from a browser (cors.go).
	cors corsState

	handler      http.Handler
	adminHandler http.Handler
}

// New validates cfg and builds a Server. ctx bounds the set-up work only.
func New(ctx context.Context, cfg Config) (*Server, error) {
	return newServer(ctx, cfg, false)
}

// NewAdmin builds a Server for its AdminHandler alone, as management
// commands use it on a database no server runs on. Unlike New it writes
// nothing to cfg.Storage while it is built (no server secret, no built-in
// client): the admin requests it serves change only what they ask to
// change. EnsureBuiltins creates the built-in clients when a command needs
// them. Its Handler must not be used.
func NewAdmin(ctx context.Context, cfg Config) (*Server, error) {
	return newServer(ctx, cfg, true)
}

func newServer(ctx context.Context, cfg Config, adminOnly bool) (*Server, error) {
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server: invalid configuration: %w", err)
	}
	s := &Server{
		cfg:    cfg,
		store:  cfg.Storage,
		keys:   cfg.Keys,
		hasher: cfg.Hasher,
		log:    cfg.Logger,
		now:    cfg.Now,

		sweepBatch: sweepFirstBatch,
		sweepClock: time.Now,
		sweepSleep: sleepCtx,
	}
	if s.hasher == nil {
		n := cfg.MaxConcurrentHashes
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		s.hasher = password.New(password.Config{Params: cfg.Argon2, MaxConcurrent: n, Wait: cfg.HashWait})
	}
	if !adminOnly {
		key, err := s.store.Secret(ctx, "refresh-token-derivation", func() ([]byte, error) {
			b := make([]byte, 32)
			_, err := rand.Read(b)
			return b, err
		})
		if err != nil {
			return nil, fmt.Errorf("server: refresh token secret: %w", err)
		}
		s.rtKey = key
		if s.csrfKey, err = s.store.Secret(ctx, "csrf-token", func() ([]byte, error) {
			b := make([]byte, 32)
			_, err := rand.Read(b)
			return b, err
		}); err != nil {
			return nil, fmt.Errorf("server: CSRF token secret: %w", err)
		}
	}
	s.requestIDs = newRequestIDs()
	s.throttle = throttle.New(throttle.Config{Now: cfg.Now})
	s.clientThrottle = throttle.New(throttle.Config{Now: cfg.Now, User: throttle.Off})
	s.secrets = password.NewSecretVerifier(s.hasher, password.Params{})
	s.metrics = newMetrics(s)
	s.jwksCacheControl = cacheControl(cfg.JWKSMaxAge)
	s.metadataCacheControl = []string{"public, max-age=" + strconv.Itoa(int(cfg.JWKSMaxAge/time.Second))}
	if !adminOnly {
		if err := s.ensureBuiltins(ctx); err != nil {
			return nil, err
		}
	}
	// gin's mode is gin's process-wide setting; release mode only keeps
	// gin from printing its routes and warnings to stdout. It is set here,
	// where the engines are built, rather than when the package is
	// imported.
	gin.SetMode(gin.ReleaseMode)
	s.handler = s.routes()
	s.adminHandler = s.adminAPI(false)
	return s, nil
}

// Handler returns the HTTP handler of all public routes and the admin API.
func (s *Server) Handler() http.Handler { return s.handler }

// AdminHandler returns the admin API without bearer authentication, rooted
// at /admin/api/, for the control socket.
func (s *Server) AdminHandler() http.Handler { return s.adminHandler }

func (s *Server) routes() http.Handler {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(s.requestLog(), s.recoverer())
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found", "error_description": "no such endpoint"})
	})
	r.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, gin.H{"error": "invalid_request", "error_description": "method not allowed"})
	})

	r.POST("/token", s.clientCORS, s.handleToken)
	r.OPTIONS("/token", s.clientPreflight("POST"))
	r.POST("/revoke", s.clientCORS, s.handleRevoke)
	r.OPTIONS("/revoke", s.clientPreflight("POST"))
	r.POST("/introspect", s.handleIntrospect)
	r.GET("/userinfo", s.clientCORS, s.handleUserInfo)
	r.POST("/userinfo", s.clientCORS, s.handleUserInfo)
	r.OPTIONS("/userinfo", s.clientPreflight("GET, POST"))
	r.GET("/.well-known/jwks.json", publicCORS, s.handleJWKS)
	r.HEAD("/.well-known/jwks.json", publicCORS, s.handleJWKS)
	r.GET("/.well-known/oauth-authorization-server", publicCORS, s.handleMetadata)
	r.GET("/.well-known/openid-configuration", publicCORS, s.handleOpenIDMetadata)
	for _, p := range []string{"/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		r.OPTIONS(p, publicPreflight)
	}
	r.GET("/healthz", s.handleHealthz)
	r.GET("/readyz", s.handleReadyz)
	r.GET("/metrics", s.metrics.handler())
	s.mountPages(r)
	s.mountConsole(r)
	s.mountAdmin(r)
	return r
}

// requestLog writes one line per request and sets the request id.
func (s *Server) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader("X-Request-Id")
		if !validRequestID(id) {
			id = s.requestIDs.next()
		}
		httpapi.SetRequestID(c, id)
		c.Next()
		end := time.Now()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(route, c.Request.Method, c.Writer.Status(), end.Sub(start))
		ctx := c.Request.Context()
		h := s.log.Handler()
		if !h.Enabled(ctx, slog.LevelInfo) {
			return
		}
		// A record without a program counter: Logger.LogAttrs would walk
		// the stack for one on every request, and no handler of ours
		// reports the source of request lines.
		r := slog.NewRecord(end, slog.LevelInfo, "request", 0)
		r.AddAttrs(
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", end.Sub(start)),
			slog.String("request_id", id),
			slog.String("client_ip", s.clientIP(c.Request).String()),
		)
		h.Handle(ctx, r)
	}
}

// requestID is the id of the request being served, which the request log
// middleware gave it (httpapi.RequestID).
func requestID(c *gin.Context) string { return httpapi.RequestID(c) }

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

// requestIDs is a server's source of request ids: a random prefix of its
// own and a counter. Ids are unique, cheap (no system call per request),
// and not secret. It is safe for concurrent use.
type requestIDs struct {
	prefix  string
	counter atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

// next returns a new id: the prefix and the counter, 32 hex digits.
func (r *requestIDs) next() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r.counter.Add(1))
	return r.prefix + hex.EncodeToString(b[:])
}

// recoverer turns a panic into a 503 JSON answer and an error log line, so
// that no input ever produces a bare 500 page. A panic is a bug; it is
// logged with the request id.
func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "path", c.Request.URL.Path, "request_id", requestID(c), "panic", fmt.Sprint(v))
				if !c.Writer.Written() {
					s.writeError(c, serverError(fmt.Errorf("panic: %v", v)))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}
