package server

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
)

// adminGrants are the grant types a client may be registered for.
var adminGrants = []string{GrantPassword, GrantRefreshToken, GrantClientCredentials}

// Bounds of a client secret given by the operator instead of generated.
// Short secrets are accepted but hashed with argon2id (password.HashSecret),
// since they may be guessable; generated ones have 256 bits.
const (
	adminMinSecretLen = 1
	adminMaxSecretLen = 512
)

// AdminClient is a client as the admin API shows it: no secret hash. Secret
// is set only in the answer to the creation that generated it.
type AdminClient struct {
	ID        string    `json:"id"`
	Public    bool      `json:"public"`
	Grants    []string  `json:"grants"`
	Scopes    []string  `json:"scopes"`
	Audiences []string  `json:"audiences"`
	BuiltIn   bool      `json:"built_in"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"secret,omitempty"`
}

func adminClientView(cl storage.Client) AdminClient {
	return AdminClient{
		ID:        cl.ID,
		Public:    cl.Public,
		Grants:    adminList(cl.Grants),
		Scopes:    adminList(cl.Scopes),
		Audiences: adminList(cl.Audiences),
		BuiltIn:   cl.BuiltIn,
		CreatedAt: cl.CreatedAt.UTC(),
	}
}

// ValidClientID reports whether id is a valid client id: 1 to 128 URL
// unreserved characters (RFC 3986 §2.3), so that it needs no escaping in
// URLs or in HTTP Basic credentials.
func ValidClientID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~') {
			return false
		}
	}
	return true
}

// adminValidAudience accepts a StringOrURI (RFC 7519 §2) without spaces or
// control characters.
func adminValidAudience(a string) bool {
	if a == "" || len(a) > 512 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] <= 0x20 || a[i] == 0x7f {
			return false
		}
	}
	return true
}

// AdminCreateClient is the body of POST /admin/api/clients. Secret is
// optional: without it a confidential client gets a generated secret.
type AdminCreateClient struct {
	ID        string   `json:"id"`
	Public    bool     `json:"public"`
	Grants    []string `json:"grants"`
	Scopes    []string `json:"scopes"`
	Audiences []string `json:"audiences"`
	Secret    *string  `json:"secret,omitempty"`
}

func (s *Server) adminListClients(c *gin.Context) *Error {
	cls, err := s.store.ListClients(c.Request.Context())
	if err != nil {
		return serverError(err)
	}
	out := make([]AdminClient, 0, len(cls))
	for _, cl := range cls {
		out = append(out, adminClientView(cl))
	}
	slices.SortFunc(out, func(a, b AdminClient) int { return strings.Compare(a.ID, b.ID) })
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) adminGetClient(c *gin.Context) *Error {
	id := c.Param("id")
	cl, err := s.store.GetClient(c.Request.Context(), id)
	if err != nil {
		return adminStoreErr(err, "client "+strconv.Quote(id))
	}
	c.JSON(http.StatusOK, adminClientView(cl))
	return nil
}

func (s *Server) adminCreateClient(c *gin.Context) *Error {
	var req AdminCreateClient
	if e := adminDecode(c, maxAdminBody, false, &req); e != nil {
		return e
	}
	if !ValidClientID(req.ID) {
		return adminBadRequest("client id %q is not valid: use 1 to 128 letters, digits and - . _ ~", req.ID)
	}
	grants, e := adminCleanList("grants", req.Grants, func(g string) bool { return slices.Contains(adminGrants, g) })
	if e != nil {
		return adminBadRequest("%s (known grants: %s)", e.Description, strings.Join(adminGrants, ", "))
	}
	if len(grants) == 0 {
		grants = []string{GrantPassword, GrantRefreshToken}
	}
	if req.Public && slices.Contains(grants, GrantClientCredentials) {
		return adminBadRequest("a public client cannot use the client_credentials grant")
	}
	scopes, e := adminClientScopes(req.Scopes)
	if e != nil {
		return e
	}
	auds, e := adminCleanList("audiences", req.Audiences, adminValidAudience)
	if e != nil {
		return e
	}
	var secret string
	generated := false
	switch {
	case req.Public && req.Secret != nil:
		return adminBadRequest("a public client has no secret")
	case req.Public:
	case req.Secret != nil:
		secret = *req.Secret
		if len(secret) < adminMinSecretLen || len(secret) > adminMaxSecretLen {
			return adminBadRequest("the client secret must have %d to %d characters", adminMinSecretLen, adminMaxSecretLen)
		}
	default:
		secret = password.GenerateSecret()
		generated = true
	}
	cl := storage.Client{
		ID:        req.ID,
		Public:    req.Public,
		Grants:    grants,
		Scopes:    scopes,
		Audiences: auds,
		CreatedAt: s.now().UTC(),
	}
	if !req.Public {
		cl.SecretHash = password.HashSecret(secret)
	}
	if err := s.store.CreateClient(c.Request.Context(), cl); err != nil {
		return adminStoreErr(err, "client "+strconv.Quote(req.ID))
	}
	s.forgetClient(cl.ID)
	s.adminAudit(c, "client.create", slog.String("client_id", cl.ID), slog.Bool("public", cl.Public),
		slog.Any("grants", grants), slog.Any("scopes", scopes), slog.Any("audiences", auds),
		slog.Bool("secret_generated", generated))
	v := adminClientView(cl)
	if generated {
		v.Secret = secret
	}
	c.JSON(http.StatusCreated, v)
	return nil
}

// adminClientScopes validates the scopes of a client. authd:admin is
// granted only through the built-in console (SPEC 2.1), so registering
// another client with it is refused rather than silently inert.
func adminClientScopes(in []string) ([]string, *Error) {
	scopes, e := adminCleanList("scopes", in, validScopeToken)
	if e != nil {
		return nil, e
	}
	if slices.Contains(scopes, AdminScope) {
		return nil, adminBadRequest("scope %s is granted only through the built-in client %s", AdminScope, ConsoleClientID)
	}
	return scopes, nil
}

// AdminPatchClient is the body of PATCH /admin/api/clients/{id}. Nil fields
// are left unchanged; a given list replaces the client's. Whether a client
// is public, and its secret, do not change: a client that needs another
// kind is a new client.
type AdminPatchClient struct {
	Grants    *[]string `json:"grants,omitempty"`
	Scopes    *[]string `json:"scopes,omitempty"`
	Audiences *[]string `json:"audiences,omitempty"`
}

// adminPatchClient changes a client's grants, scopes or audiences, with the
// checks of creation. It takes effect at the client's next request (the
// cache entry is dropped) and, for refresh tokens already issued, at their
// next refresh (SPEC 2.1); sessions are not ended, so an operator can narrow
// a client without logging its users out.
//
// The built-in console client is refused (409) like its deletion: its
// registration is what the console and the admin API's token check rely
// on (SPEC 2.5), and every change would either break the console (no
// authd:admin, no grant it signs in with) or widen it beyond the admin API.
func (s *Server) adminPatchClient(c *gin.Context) *Error {
	id := c.Param("id")
	var req AdminPatchClient
	if e := adminDecode(c, maxAdminBody, false, &req); e != nil {
		return e
	}
	if req.Grants == nil && req.Scopes == nil && req.Audiences == nil {
		return adminBadRequest("nothing to change: give grants, scopes or audiences")
	}
	errBuiltIn := adminConflict("client %q is built in and cannot be changed", id)
	if id == ConsoleClientID {
		return errBuiltIn
	}
	var grants, scopes, auds []string
	var e *Error
	if req.Grants != nil {
		grants, e = adminCleanList("grants", *req.Grants, func(g string) bool { return slices.Contains(adminGrants, g) })
		if e != nil {
			return adminBadRequest("%s (known grants: %s)", e.Description, strings.Join(adminGrants, ", "))
		}
		if len(grants) == 0 {
			return adminBadRequest("a client needs at least one grant; delete it to stop it altogether")
		}
	}
	if req.Scopes != nil {
		if scopes, e = adminClientScopes(*req.Scopes); e != nil {
			return e
		}
	}
	if req.Audiences != nil {
		if auds, e = adminCleanList("audiences", *req.Audiences, adminValidAudience); e != nil {
			return e
		}
	}
	errPublicCC := adminBadRequest("a public client cannot use the client_credentials grant")
	cl, err := s.store.UpdateClient(c.Request.Context(), id, func(cl storage.Client) (storage.Client, error) {
		if cl.BuiltIn || cl.ID == ConsoleClientID {
			return cl, errBuiltIn
		}
		if req.Grants != nil {
			if cl.Public && slices.Contains(grants, GrantClientCredentials) {
				return cl, errPublicCC
			}
			cl.Grants = grants
		}
		if req.Scopes != nil {
			cl.Scopes = scopes
		}
		if req.Audiences != nil {
			cl.Audiences = auds
		}
		return cl, nil
	})
	s.forgetClient(id)
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if err != nil {
		return adminStoreErr(err, "client "+strconv.Quote(id))
	}
	attrs := []slog.Attr{slog.String("client_id", id)}
	if req.Grants != nil {
		attrs = append(attrs, slog.Any("grants", grants))
	}
	if req.Scopes != nil {
		attrs = append(attrs, slog.Any("scopes", scopes))
	}
	if req.Audiences != nil {
		attrs = append(attrs, slog.Any("audiences", auds))
	}
	s.adminAudit(c, "client.update", attrs...)
	c.JSON(http.StatusOK, adminClientView(cl))
	return nil
}

func (s *Server) adminDeleteClient(c *gin.Context) *Error {
	id := c.Param("id")
	ctx := c.Request.Context()
	cl, err := s.store.GetClient(ctx, id)
	if err != nil {
		return adminStoreErr(err, "client "+strconv.Quote(id))
	}
	if cl.BuiltIn {
		return adminConflict("client %q is built in and cannot be deleted", id)
	}
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return adminStoreErr(err, "client "+strconv.Quote(id))
	}
	s.forgetClient(id)
	// That one write ended the client's sessions and access tokens: they
	// recorded its instance (storage.Family.State, storage.Client.Issued).
	s.adminAudit(c, "client.delete", slog.String("client_id", id))
	c.Status(http.StatusNoContent)
	return nil
}
