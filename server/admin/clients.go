package admin

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/server/internal/redirecturi"
	"github.com/authd/authd/server/internal/scopes"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
)

// grants are the grant types a client may be registered for.
var knownGrants = []string{httpapi.GrantPassword, httpapi.GrantRefreshToken, httpapi.GrantClientCredentials, httpapi.GrantAuthorizationCode}

// Bounds of a client secret given by the operator instead of generated.
// Short secrets are accepted but hashed with argon2id (password.HashSecret),
// since they may be guessable; generated ones have 256 bits.
const (
	minSecretLen = 1
	maxSecretLen = 512
)

// Client is a client as the admin API shows it: no secret hash. Secret
// is set only in the answer to the creation that generated it.
type Client struct {
	ID           string    `json:"id"`
	Public       bool      `json:"public"`
	Grants       []string  `json:"grants"`
	Scopes       []string  `json:"scopes"`
	Audiences    []string  `json:"audiences"`
	RedirectURIs []string  `json:"redirect_uris"`
	FirstParty   bool      `json:"first_party"`
	BuiltIn      bool      `json:"built_in"`
	CreatedAt    time.Time `json:"created_at"`
	Secret       string    `json:"secret,omitempty"`
}

func clientView(cl storage.Client) Client {
	return Client{
		ID:           cl.ID,
		Public:       cl.Public,
		Grants:       orEmpty(cl.Grants),
		Scopes:       orEmpty(cl.Scopes),
		Audiences:    orEmpty(cl.Audiences),
		RedirectURIs: orEmpty(cl.RedirectURIs),
		FirstParty:   cl.FirstParty,
		BuiltIn:      cl.BuiltIn,
		CreatedAt:    cl.CreatedAt.UTC(),
	}
}

// validClientID reports whether id is a valid client id: 1 to 128 URL
// unreserved characters (RFC 3986 §2.3), so that it needs no escaping in
// URLs or in HTTP Basic credentials.
func validClientID(id string) bool {
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

// validAudience accepts a StringOrURI (RFC 7519 §2) without spaces or
// control characters.
func validAudience(a string) bool {
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

// redirectURIs applies the registration rule of redirect URIs
// (redirecturi.CheckList) with the admin API's messages.
func redirectURIs(in []string) ([]string, *Error) {
	out, err := redirecturi.CheckList(in)
	if err != nil {
		return nil, badRequest("redirect_uris: %v", err)
	}
	return out, nil
}

// errNoRedirectURI refuses a client that may use the authorization code
// grant without a redirect URI to send its codes to (SPEC §1).
var errNoRedirectURI = badRequest("the authorization_code grant needs at least one redirect URI (redirect_uris)")

// CreateClient is the body of POST /admin/api/clients. Secret is
// optional: without it a confidential client gets a generated secret.
// RedirectURIs are required with the authorization_code grant; FirstParty
// clients skip the consent page.
type CreateClient struct {
	ID           string   `json:"id"`
	Public       bool     `json:"public"`
	Grants       []string `json:"grants"`
	Scopes       []string `json:"scopes"`
	Audiences    []string `json:"audiences"`
	RedirectURIs []string `json:"redirect_uris"`
	FirstParty   bool     `json:"first_party"`
	Secret       *string  `json:"secret,omitempty"`
}

func (h *handler) listClients(c *gin.Context) *Error {
	cls, err := h.store.ListClients(c.Request.Context())
	if err != nil {
		return httpapi.ServerError(err)
	}
	out := make([]Client, 0, len(cls))
	for _, cl := range cls {
		out = append(out, clientView(cl))
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	c.JSON(http.StatusOK, out)
	return nil
}

func (h *handler) getClient(c *gin.Context) *Error {
	id := c.Param("id")
	cl, err := h.store.GetClient(c.Request.Context(), id)
	if err != nil {
		return storeErr(err, "client "+strconv.Quote(id))
	}
	c.JSON(http.StatusOK, clientView(cl))
	return nil
}

func (h *handler) createClient(c *gin.Context) *Error {
	var req CreateClient
	if e := decode(c, MaxBody, false, &req); e != nil {
		return e
	}
	if !validClientID(req.ID) {
		return badRequest("client id %q is not valid: use 1 to 128 letters, digits and - . _ ~", req.ID)
	}
	grants, e := cleanList("grants", req.Grants, func(g string) bool { return slices.Contains(knownGrants, g) })
	if e != nil {
		return badRequest("%s (known grants: %s)", e.Description, strings.Join(knownGrants, ", "))
	}
	if len(grants) == 0 {
		grants = []string{httpapi.GrantPassword, httpapi.GrantRefreshToken}
	}
	if req.Public && slices.Contains(grants, httpapi.GrantClientCredentials) {
		return badRequest("a public client cannot use the client_credentials grant")
	}
	scopes, e := clientScopes(req.Scopes)
	if e != nil {
		return e
	}
	auds, e := cleanList("audiences", req.Audiences, validAudience)
	if e != nil {
		return e
	}
	uris, e := redirectURIs(req.RedirectURIs)
	if e != nil {
		return e
	}
	if slices.Contains(grants, httpapi.GrantAuthorizationCode) && len(uris) == 0 {
		return errNoRedirectURI
	}
	var secret string
	generated := false
	switch {
	case req.Public && req.Secret != nil:
		return badRequest("a public client has no secret")
	case req.Public:
	case req.Secret != nil:
		secret = *req.Secret
		if len(secret) < minSecretLen || len(secret) > maxSecretLen {
			return badRequest("the client secret must have %d to %d characters", minSecretLen, maxSecretLen)
		}
	default:
		secret = password.GenerateSecret()
		generated = true
	}
	cl := storage.Client{
		ID:           req.ID,
		Public:       req.Public,
		Grants:       grants,
		Scopes:       scopes,
		Audiences:    auds,
		RedirectURIs: uris,
		FirstParty:   req.FirstParty,
		CreatedAt:    h.now().UTC(),
	}
	if !req.Public {
		cl.SecretHash = password.HashSecret(secret)
	}
	if err := h.store.CreateClient(c.Request.Context(), cl); err != nil {
		return storeErr(err, "client "+strconv.Quote(req.ID))
	}
	h.clients.ForgetClient(cl.ID)
	h.audit(c, "client.create", slog.String("client_id", cl.ID), slog.Bool("public", cl.Public),
		slog.Any("grants", grants), slog.Any("scopes", scopes), slog.Any("audiences", auds),
		slog.Any("redirect_uris", uris), slog.Bool("first_party", cl.FirstParty),
		slog.Bool("secret_generated", generated))
	v := clientView(cl)
	if generated {
		v.Secret = secret
	}
	c.JSON(http.StatusCreated, v)
	return nil
}

// clientScopes validates the scopes of a client. authd:admin is
// granted only through the built-in console (SPEC 2.1), so registering
// another client with it is refused rather than silently inert.
func clientScopes(in []string) ([]string, *Error) {
	scopes, e := cleanList("scopes", in, scopes.Valid)
	if e != nil {
		return nil, e
	}
	if slices.Contains(scopes, httpapi.AdminScope) {
		return nil, badRequest("scope %s is granted only through the built-in client %s", httpapi.AdminScope, httpapi.ConsoleClientID)
	}
	return scopes, nil
}

// PatchClient is the body of PATCH /admin/api/clients/{id}. Nil fields
// are left unchanged; a given list replaces the client's. Whether a client
// is public, and its secret, do not change: a client that needs another
// kind is a new client.
type PatchClient struct {
	Grants       *[]string `json:"grants,omitempty"`
	Scopes       *[]string `json:"scopes,omitempty"`
	Audiences    *[]string `json:"audiences,omitempty"`
	RedirectURIs *[]string `json:"redirect_uris,omitempty"`
	FirstParty   *bool     `json:"first_party,omitempty"`
}

// patchClient changes a client's grants, scopes, audiences, redirect URIs
// or first-party flag, with the checks of creation (the authorization
// code grant needs a redirect URI in the result). It takes effect at the client's next request (the
// cache entry is dropped) and, for refresh tokens already issued, at their
// next refresh (SPEC 2.1); sessions are not ended, so an operator can narrow
// a client without logging its users out.
//
// The built-in console client is refused (409) like its deletion: its
// registration is what the console and the admin API's token check rely
// on (SPEC 2.5), and every change would either break the console (no
// authd:admin, no grant it signs in with) or widen it beyond the admin API.
func (h *handler) patchClient(c *gin.Context) *Error {
	id := c.Param("id")
	var req PatchClient
	if e := decode(c, MaxBody, false, &req); e != nil {
		return e
	}
	if req.Grants == nil && req.Scopes == nil && req.Audiences == nil && req.RedirectURIs == nil && req.FirstParty == nil {
		return badRequest("nothing to change: give grants, scopes, audiences, redirect_uris or first_party")
	}
	errBuiltIn := conflict("client %q is built in and cannot be changed", id)
	if id == httpapi.ConsoleClientID {
		return errBuiltIn
	}
	var grants, scopes, auds, uris []string
	var e *Error
	if req.Grants != nil {
		grants, e = cleanList("grants", *req.Grants, func(g string) bool { return slices.Contains(knownGrants, g) })
		if e != nil {
			return badRequest("%s (known grants: %s)", e.Description, strings.Join(knownGrants, ", "))
		}
		if len(grants) == 0 {
			return badRequest("a client needs at least one grant; delete it to stop it altogether")
		}
	}
	if req.Scopes != nil {
		if scopes, e = clientScopes(*req.Scopes); e != nil {
			return e
		}
	}
	if req.Audiences != nil {
		if auds, e = cleanList("audiences", *req.Audiences, validAudience); e != nil {
			return e
		}
	}
	if req.RedirectURIs != nil {
		if uris, e = redirectURIs(*req.RedirectURIs); e != nil {
			return e
		}
	}
	errPublicCC := badRequest("a public client cannot use the client_credentials grant")
	cl, err := h.store.UpdateClient(c.Request.Context(), id, func(cl storage.Client) (storage.Client, error) {
		if cl.BuiltIn || cl.ID == httpapi.ConsoleClientID {
			return cl, errBuiltIn
		}
		if req.Grants != nil {
			if cl.Public && slices.Contains(grants, httpapi.GrantClientCredentials) {
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
		if req.RedirectURIs != nil {
			cl.RedirectURIs = uris
		}
		if req.FirstParty != nil {
			cl.FirstParty = *req.FirstParty
		}
		if slices.Contains(cl.Grants, httpapi.GrantAuthorizationCode) && len(cl.RedirectURIs) == 0 {
			return cl, errNoRedirectURI
		}
		return cl, nil
	})
	h.clients.ForgetClient(id)
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if err != nil {
		return storeErr(err, "client "+strconv.Quote(id))
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
	if req.RedirectURIs != nil {
		attrs = append(attrs, slog.Any("redirect_uris", uris))
	}
	if req.FirstParty != nil {
		attrs = append(attrs, slog.Bool("first_party", *req.FirstParty))
	}
	h.audit(c, "client.update", attrs...)
	c.JSON(http.StatusOK, clientView(cl))
	return nil
}

func (h *handler) deleteClient(c *gin.Context) *Error {
	id := c.Param("id")
	ctx := c.Request.Context()
	cl, err := h.store.GetClient(ctx, id)
	if err != nil {
		return storeErr(err, "client "+strconv.Quote(id))
	}
	if cl.BuiltIn {
		return conflict("client %q is built in and cannot be deleted", id)
	}
	if err := h.store.DeleteClient(ctx, id); err != nil {
		return storeErr(err, "client "+strconv.Quote(id))
	}
	h.clients.ForgetClient(id)
	// That one write ended the client's sessions and access tokens: they
	// recorded its instance (storage.Family.State, storage.Client.Issued).
	h.audit(c, "client.delete", slog.String("client_id", id))
	c.Status(http.StatusNoContent)
	return nil
}
