package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/scopes"
	"github.com/authd/authd/storage"
)

// The admin API (SPEC §2.5) is one gin engine with routes under /admin/api/.
// The public router mounts it behind bearer authentication (RFC 6750); the
// control socket serves it as is, for the local operator. Both transports
// reach the same handlers, so the CLI sees identical results either way.

const (
	// ConsoleClientID is the built-in public client of the web console.
	ConsoleClientID = "authd-console"

	// maxAdminBody caps admin request bodies; maxImportBody caps user imports.
	maxAdminBody  = 64 << 10
	maxImportBody = 32 << 20

	actorKey = "admin_actor"
)

// mountAdmin mounts the admin API at /admin/api/ on the public router, behind
// bearer authentication with scope authd:admin.
func (s *Server) mountAdmin(r *gin.Engine) {
	h := gin.WrapH(s.adminAPI(true))
	r.Any("/admin/api/*path", h)
}

// adminAPI builds the admin API. With requireToken every request needs a
// bearer access token with scope authd:admin of an enabled admin user;
// without it (the control socket) the caller is the local operator.
func (s *Server) adminAPI(requireToken bool) http.Handler {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	// Usernames may contain any character but white space and ':', so the
	// CLI path-escapes them and parameters are matched on the raw path.
	r.UseRawPath = true
	r.UnescapePathValues = true
	if !requireToken {
		// On the public router the outer engine already logs the request.
		r.Use(s.requestLog())
	}
	r.Use(s.recoverer(), adminNoStore)
	if requireToken {
		r.Use(s.adminAuth())
	} else {
		r.Use(func(c *gin.Context) { c.Set(actorKey, "local") })
	}
	r.NoRoute(func(c *gin.Context) {
		s.writeError(c, adminErr(http.StatusNotFound, "not_found", "no such admin endpoint"))
	})
	r.NoMethod(func(c *gin.Context) {
		s.writeError(c, adminErr(http.StatusMethodNotAllowed, "invalid_request", "method not allowed"))
	})

	g := r.Group("/admin/api")
	g.GET("/users", s.admin(s.adminListUsers))
	g.POST("/users", s.admin(s.adminCreateUser))
	g.POST("/users/import", s.admin(s.adminImportUsers))
	g.GET("/users/:username", s.admin(s.adminGetUser))
	g.PATCH("/users/:username", s.admin(s.adminPatchUser))
	g.DELETE("/users/:username", s.admin(s.adminDeleteUser))
	g.DELETE("/users/:username/sessions", s.admin(s.adminRevokeUserSessions))

	g.GET("/clients", s.admin(s.adminListClients))
	g.POST("/clients", s.admin(s.adminCreateClient))
	g.GET("/clients/:id", s.admin(s.adminGetClient))
	g.PATCH("/clients/:id", s.admin(s.adminPatchClient))
	g.DELETE("/clients/:id", s.admin(s.adminDeleteClient))

	g.GET("/sessions", s.admin(s.adminListSessions))
	g.DELETE("/sessions/:id", s.admin(s.adminRevokeSession))

	g.GET("/keys", s.admin(s.adminListKeys))
	g.POST("/keys/rotate", s.admin(s.adminRotateKeys))
	g.DELETE("/keys/:kid", s.admin(s.adminRevokeKey))

	g.GET("/backup", s.admin(s.adminBackup))
	return r
}

// EnsureBuiltins creates the built-in clients if they are missing, as New
// does; for a Server built with NewAdmin.
func (s *Server) EnsureBuiltins(ctx context.Context) error { return s.ensureBuiltins(ctx) }

// ensureBuiltins creates the built-in public client of the web console if it
// is missing. It is idempotent and safe when several processes start at once.
func (s *Server) ensureBuiltins(ctx context.Context) error {
	_, err := s.store.GetClient(ctx, ConsoleClientID)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("server: get built-in client: %w", err)
	}
	err = s.store.CreateClient(ctx, storage.Client{
		ID:        ConsoleClientID,
		Public:    true,
		Grants:    []string{GrantPassword, GrantRefreshToken},
		Scopes:    []string{AdminScope},
		BuiltIn:   true,
		CreatedAt: s.now().UTC(),
	})
	if err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("server: create built-in client: %w", err)
	}
	return nil
}

// adminHandler is an admin endpoint: it writes its success answer itself and
// returns an *Error for everything else, rendered in one place.
type adminHandler func(c *gin.Context) *Error

func (s *Server) admin(h adminHandler) gin.HandlerFunc {
	return func(c *gin.Context) {
		if e := h(c); e != nil {
			if e.Cause != nil {
				s.log.LogAttrs(c.Request.Context(), slog.LevelError, "admin request failed",
					slog.String("path", c.Request.URL.Path),
					slog.String("request_id", requestID(c)),
					slog.Any("error", e.Cause))
			}
			s.writeError(c, e)
		}
	}
}

func adminNoStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Next()
}

// adminAuth authenticates the bearer access token of an admin API request
// (RFC 6750 §2.1 and §3) in the order of SPEC 2.5: a missing, malformed,
// expired, revoked or badly signed token is 401; a valid token without
// authd:admin, whoever its subject, is 403 insufficient_scope; a token with
// authd:admin is accepted only if adminTokenHolder accepts it and it is
// still current (tokenCurrent: issued after its user's last password change
// or session revocation, by a client not deleted since); 401 invalid_token
// otherwise.
func (s *Server) adminAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		tok, e := adminBearerToken(c.Request)
		if e != nil {
			s.adminChallenge(c, e)
			return
		}
		// verifyAccessToken also refuses tokens on the deny list.
		claims, err := s.verifyAccessToken(ctx, tok)
		if errors.Is(err, errTokenInvalid) {
			s.adminChallenge(c, adminInvalidToken("the access token is invalid, expired or revoked", nil))
			return
		} else if err != nil {
			s.writeError(c, serverError(err))
			c.Abort()
			return
		}
		if !claims.HasScope(AdminScope) {
			c.Header("WWW-Authenticate", `Bearer realm="authd", error="insufficient_scope", scope="`+AdminScope+`"`)
			s.writeError(c, adminErr(http.StatusForbidden, "insufficient_scope", "the access token lacks the scope "+AdminScope))
			c.Abort()
			return
		}
		u, e := s.adminTokenHolder(ctx, claims)
		if e != nil {
			if e.Status == http.StatusUnauthorized {
				s.adminChallenge(c, e)
			} else {
				s.writeError(c, e)
				c.Abort()
			}
			return
		}
		// Issued before the user's password change or session revocation,
		// or by a client deleted since: refused (SPEC §2.5).
		if current, err := s.tokenCurrent(ctx, claims); err != nil {
			s.writeError(c, serverError(err))
			c.Abort()
			return
		} else if !current {
			s.adminChallenge(c, adminInvalidToken("the access token is no longer valid: its user's sessions ended or its client was deleted since", nil))
			return
		}
		c.Set(actorKey, u.Username)
		c.Next()
	}
}

// adminTokenHolder decides whether a valid token with authd:admin may use
// the admin API (SPEC 2.5) and returns its user. Only tokens issued to the
// built-in console for the issuer are accepted, so that a token replayed
// by a resource server or obtained through another client gets nowhere;
// and only while their user exists, is enabled and still an admin.
func (s *Server) adminTokenHolder(ctx context.Context, claims *AccessClaims) (storage.User, *Error) {
	if claims.ClientID != ConsoleClientID {
		return storage.User{}, adminInvalidToken("the access token was not issued to "+ConsoleClientID, nil)
	}
	if len(claims.Audience) != 1 || claims.Audience[0] != s.cfg.Issuer {
		return storage.User{}, adminInvalidToken("the access token is not meant for this server", nil)
	}
	u, err := s.store.GetUserByID(ctx, claims.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, adminInvalidToken("the access token does not belong to an existing user", nil)
	case err != nil:
		return storage.User{}, serverError(err)
	case u.Disabled:
		return storage.User{}, adminInvalidToken("the user of the access token is disabled", nil)
	case !u.Admin:
		return storage.User{}, adminInvalidToken("the user of the access token is no longer an admin", nil)
	}
	return u, nil
}

// adminChallenge answers 401 with the WWW-Authenticate header of RFC 6750 §3.
func (s *Server) adminChallenge(c *gin.Context, e *Error) {
	h := `Bearer realm="authd"`
	if e.Code == "invalid_token" {
		h += `, error="invalid_token", error_description="` + e.Description + `"`
	}
	c.Header("WWW-Authenticate", h)
	s.writeError(c, e)
	c.Abort()
}

func adminInvalidToken(desc string, cause error) *Error {
	return &Error{Code: "invalid_token", Description: desc, Status: http.StatusUnauthorized, Cause: cause}
}

// bearerToken extracts the token of an Authorization: Bearer header (RFC
// 6750 §2.1). Tokens in the query or the body are not accepted.
func adminBearerToken(r *http.Request) (string, *Error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", &Error{Code: "unauthorized", Description: "a bearer access token with scope " + AdminScope + " is required", Status: http.StatusUnauthorized}
	}
	if len(vals) > 1 {
		return "", &Error{Code: "invalid_request", Description: "more than one Authorization header", Status: http.StatusBadRequest}
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", &Error{Code: "unauthorized", Description: "a bearer access token with scope " + AdminScope + " is required", Status: http.StatusUnauthorized}
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || !adminB64Token(tok) {
		return "", adminInvalidToken("the access token is malformed", nil)
	}
	return tok, nil
}

// isB64Token reports whether s matches b64token of RFC 6750 §2.1.
func adminB64Token(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~' || b == '+' || b == '/') {
			return false
		}
	}
	return true
}

func adminErr(status int, code, desc string) *Error {
	return &Error{Code: code, Description: desc, Status: status}
}

func adminBadRequest(format string, args ...any) *Error {
	return adminErr(http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...))
}

func adminNotFound(format string, args ...any) *Error {
	return adminErr(http.StatusNotFound, "not_found", fmt.Sprintf(format, args...))
}

func adminConflict(format string, args ...any) *Error {
	return adminErr(http.StatusConflict, "conflict", fmt.Sprintf(format, args...))
}

// storeErr maps a storage error: ErrNotFound to 404 and ErrExists to 409,
// both described by what ("user \"alice\""); anything else is a 503.
func adminStoreErr(err error, what string) *Error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return adminNotFound("%s not found", what)
	case errors.Is(err, storage.ErrExists):
		return adminConflict("%s already exists", what)
	default:
		return serverError(err)
	}
}

// decodeBody decodes a JSON object strictly: the content type, if given,
// must be JSON and given once; unknown fields, trailing data and bodies
// over max bytes are refused. With optional, an empty body leaves v as it
// is.
func adminDecode(c *gin.Context, max int64, optional bool, v any) *Error {
	if len(c.Request.Header.Values("Content-Type")) > 1 {
		return adminBadRequest("more than one Content-Type header")
	}
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return adminErr(http.StatusUnsupportedMediaType, "invalid_request", "the request body must be application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF) && optional:
			return nil
		case errors.Is(err, io.EOF):
			return adminBadRequest("the request body is empty; a JSON object is required")
		case errors.As(err, &tooBig):
			return adminBadRequest("the request body is larger than %d bytes", max)
		case errors.As(err, &syn):
			return adminBadRequest("the request body is not valid JSON: %v", syn)
		case errors.As(err, &typ):
			if typ.Field != "" {
				return adminBadRequest("field %q must be a %s", typ.Field, adminJSONKind(typ.Type.Kind().String()))
			}
			return adminBadRequest("the request body must be a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// encoding/json has no error type for unknown fields.
			return adminBadRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return adminBadRequest("the request body is not a valid JSON object")
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return adminBadRequest("unexpected data after the JSON object")
	}
	return nil
}

func adminJSONKind(k string) string {
	switch k {
	case "slice":
		return "list"
	case "int", "int64", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	}
	return k
}

// adminAudit logs an admin change. It never receives a password or secret.
func (s *Server) adminAudit(c *gin.Context, action string, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{
		slog.String("action", action),
		slog.String("actor", c.GetString(actorKey)),
		slog.String("request_id", requestID(c)),
	}, attrs...)
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "admin change", attrs...)
}

func adminNewID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// adminMaxList is the most values a list of an admin request (grants,
// scopes, audiences) may hold: the most scope values a token request may
// ask for (SPEC §2.1), so that whatever is registered can be requested.
const adminMaxList = scopes.MaxValues

// adminCleanList validates and de-duplicates a list, keeping the first
// order, in linear time; a list longer than adminMaxList is refused before
// any of its values is looked at.
func adminCleanList(field string, in []string, valid func(string) bool) ([]string, *Error) {
	if len(in) > adminMaxList {
		return nil, adminBadRequest("%s: at most %d values", field, adminMaxList)
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]struct{}, len(in))
	for _, v := range in {
		if !valid(v) {
			return nil, adminBadRequest("%s: %q is not valid", field, v)
		}
		if _, dup := seen[v]; !dup {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out, nil
}

func adminList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
