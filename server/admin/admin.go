// Package admin is authd's admin API (SPEC §2.5): users, clients,
// sessions, consents, signing keys and backups, under /admin/api/. It is one gin
// engine, built by New from a Config that names the few things it needs of
// the rest of authd: the store's records, the key manager's management
// methods, a password hasher, the server's acceptance of bearer tokens and
// its client cache.
//
// The server mounts the handler under /admin/api/ of its public router,
// with Tokens set so that every request needs a bearer access token with
// scope authd:admin (RFC 6750); the control socket serves a handler
// without Tokens, for the local operator. Both reach the same handlers, so
// the CLI sees identical results either way.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/server/internal/scopes"
	"github.com/authd/authd/storage"
)

// Error is an error answer of the admin API; handlers return it and it is
// rendered in one place.
type Error = httpapi.Error

const (
	// MaxBody caps request bodies; MaxImportBody caps user imports.
	MaxBody       = 64 << 10
	MaxImportBody = 32 << 20

	actorKey = "admin_actor"
)

// Store is what the admin API reads and changes in storage. A
// storage.Storage implements it.
type Store interface {
	GetUser(ctx context.Context, username string) (storage.User, error)
	ListUsers(ctx context.Context) ([]storage.User, error)
	CreateUser(ctx context.Context, u storage.User) error
	UpdateUser(ctx context.Context, username string, fn func(storage.User) (storage.User, error)) (storage.User, error)
	DeleteUser(ctx context.Context, username string, at time.Time) error

	GetClient(ctx context.Context, id string) (storage.Client, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
	CreateClient(ctx context.Context, c storage.Client) error
	UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error)) (storage.Client, error)
	DeleteClient(ctx context.Context, id string) error

	ListFamilies(ctx context.Context, f storage.FamilyFilter, p storage.Page) ([]storage.Family, string, error)
	RevokeFamily(ctx context.Context, id string, at time.Time, reason string) (storage.Family, error)

	GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error)
	ListConsents(ctx context.Context, f storage.ConsentFilter, p storage.Page) ([]storage.Consent, string, error)
	RevokeConsent(ctx context.Context, userID, clientID string, at time.Time) error

	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// Keys is what the admin API needs of the signing keys. *keys.Manager
// implements it.
type Keys interface {
	List(ctx context.Context) ([]keys.Info, error)
	Rotate(ctx context.Context, now bool) (keys.Info, error)
	Revoke(ctx context.Context, kid string) (keys.Info, error)
}

// Hasher hashes the passwords the admin API sets.
type Hasher interface {
	// Hash returns a PHC string of pw; password.ErrTooLong if pw is too
	// long to hash.
	Hash(ctx context.Context, pw string) (string, error)
}

// Tokens is the server's acceptance of bearer access tokens.
type Tokens interface {
	// Accept decides whether the access token may use the admin
	// API (SPEC §2.5) and returns its user's username. A refusal is an
	// *Error: 401 invalid_token for a token that is not valid, expired,
	// revoked, badly signed, not issued to the console for this server,
	// not of an enabled admin user or no longer current; 403
	// insufficient_scope for a valid token without authd:admin; 503 when
	// storage fails.
	Accept(ctx context.Context, token string) (username string, e *Error)
}

// ClientCache is the server's cache of client records, which every change
// of a client drops the client from.
type ClientCache interface {
	ForgetClient(id string)
}

// UserCache is the server's cache of what it checks of a user on every
// access token (exists, disabled, session generation), which every change
// or deletion of a user drops the user from, after the change is
// committed.
type UserCache interface {
	ForgetUser(id string)
}

// Config is what New builds the admin API from. Every field but Tokens
// and Middleware is required.
type Config struct {
	Store   Store
	Keys    Keys
	Hasher  Hasher
	Clients ClientCache
	Users   UserCache
	Log     *slog.Logger
	Now     func() time.Time
	// RefreshIdleTTL is the server's refresh idle timeout. A session shows
	// the idle expiry its family recorded; this computes one for families
	// stored before they recorded it.
	RefreshIdleTTL time.Duration

	// Tokens, if set, makes every request carry a bearer access token that
	// Tokens accepts (RFC 6750). Without it (the control socket) the
	// caller is the local operator.
	Tokens Tokens
	// Middleware runs first on every request: the server's request log and
	// panic recovery.
	Middleware []gin.HandlerFunc
}

// handler serves the admin API.
type handler struct {
	store          Store
	keys           Keys
	hasher         Hasher
	clients        ClientCache
	users          UserCache
	log            *slog.Logger
	now            func() time.Time
	refreshIdleTTL time.Duration
}

// New builds the admin API, rooted at /admin/api/. Its handlers are safe
// for concurrent use.
func New(cfg Config) http.Handler {
	h := &handler{
		store:          cfg.Store,
		keys:           cfg.Keys,
		hasher:         cfg.Hasher,
		clients:        cfg.Clients,
		users:          cfg.Users,
		log:            cfg.Log,
		now:            cfg.Now,
		refreshIdleTTL: cfg.RefreshIdleTTL,
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	// Usernames may contain any character but white space and ':', so the
	// CLI path-escapes them and parameters are matched on the raw path.
	r.UseRawPath = true
	r.UnescapePathValues = true
	r.Use(cfg.Middleware...)
	r.Use(httpapi.NoStore)
	if cfg.Tokens != nil {
		r.Use(h.authenticate(cfg.Tokens))
	} else {
		r.Use(func(c *gin.Context) { c.Set(actorKey, "local") })
	}
	r.NoRoute(func(c *gin.Context) {
		h.writeError(c, newErr(http.StatusNotFound, "not_found", "no such admin endpoint"))
	})
	r.NoMethod(func(c *gin.Context) {
		h.writeError(c, newErr(http.StatusMethodNotAllowed, "invalid_request", "method not allowed"))
	})

	g := r.Group("/admin/api")
	g.GET("/users", h.do(h.listUsers))
	g.POST("/users", h.do(h.createUser))
	g.POST("/users/import", h.do(h.importUsers))
	g.GET("/users/:username", h.do(h.getUser))
	g.PATCH("/users/:username", h.do(h.patchUser))
	g.DELETE("/users/:username", h.do(h.deleteUser))
	g.DELETE("/users/:username/sessions", h.do(h.revokeUserSessions))

	g.GET("/clients", h.do(h.listClients))
	g.POST("/clients", h.do(h.createClient))
	g.GET("/clients/:id", h.do(h.getClient))
	g.PATCH("/clients/:id", h.do(h.patchClient))
	g.DELETE("/clients/:id", h.do(h.deleteClient))

	g.GET("/sessions", h.do(h.listSessions))
	g.DELETE("/sessions/:id", h.do(h.revokeSession))

	g.GET("/consents", h.do(h.listConsents))
	g.DELETE("/consents/:username/:client", h.do(h.revokeConsent))

	g.GET("/keys", h.do(h.listKeys))
	g.POST("/keys/rotate", h.do(h.rotateKeys))
	g.DELETE("/keys/:kid", h.do(h.revokeKey))

	g.GET("/backup", h.do(h.backup))
	return r
}

// endpoint is an admin endpoint: it writes its success answer itself and
// returns an *Error for everything else, rendered in one place.
type endpoint func(c *gin.Context) *Error

func (h *handler) do(ep endpoint) gin.HandlerFunc {
	return func(c *gin.Context) {
		if e := ep(c); e != nil {
			if e.Cause != nil {
				h.log.LogAttrs(c.Request.Context(), slog.LevelError, "admin request failed",
					slog.String("path", c.Request.URL.Path),
					slog.String("request_id", requestID(c)),
					slog.Any("error", e.Cause))
			}
			h.writeError(c, e)
		}
	}
}

func (h *handler) writeError(c *gin.Context, e *Error) { httpapi.WriteError(c, h.log, e) }

// requestID is the id the server's request log gave the request.
func requestID(c *gin.Context) string { return httpapi.RequestID(c) }

// newErr is an error answer without a cause.
func newErr(status int, code, desc string) *Error {
	return &Error{Code: code, Description: desc, Status: status}
}

func badRequest(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...))
}

func notFound(format string, args ...any) *Error {
	return newErr(http.StatusNotFound, "not_found", fmt.Sprintf(format, args...))
}

func conflict(format string, args ...any) *Error {
	return newErr(http.StatusConflict, "conflict", fmt.Sprintf(format, args...))
}

// storeErr maps a storage error: ErrNotFound to 404 and ErrExists to 409,
// both described by what ("user \"alice\""); anything else is a 503.
func storeErr(err error, what string) *Error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return notFound("%s not found", what)
	case errors.Is(err, storage.ErrExists):
		return conflict("%s already exists", what)
	default:
		return httpapi.ServerError(err)
	}
}

// audit logs an admin change. It never receives a password or secret.
func (h *handler) audit(c *gin.Context, action string, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{
		slog.String("action", action),
		slog.String("actor", c.GetString(actorKey)),
		slog.String("request_id", requestID(c)),
	}, attrs...)
	h.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "admin change", attrs...)
}

// newUserID returns a new user id: 128 random bits, hex as user ids have
// always been (tokens and sessions have base64url ids of their own).
func newUserID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// maxList is the most values a list of an admin request (grants,
// scopes, audiences) may hold: the most scope values a token request may
// ask for (SPEC §2.1), so that whatever is registered can be requested.
const maxList = scopes.MaxValues

// cleanList validates and de-duplicates a list, keeping the first
// order, in linear time; a list longer than maxList is refused before
// any of its values is looked at.
func cleanList(field string, in []string, valid func(string) bool) ([]string, *Error) {
	if len(in) > maxList {
		return nil, badRequest("%s: at most %d values", field, maxList)
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]struct{}, len(in))
	for _, v := range in {
		if !valid(v) {
			return nil, badRequest("%s: %q is not valid", field, v)
		}
		if _, dup := seen[v]; !dup {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out, nil
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
