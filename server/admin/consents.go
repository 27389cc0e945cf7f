package admin

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/account"
	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/storage"
)

// Consent is a user's remembered approval of a client's scopes (SPEC 2.6)
// as the admin API shows it.
type Consent struct {
	User      string    `json:"user"`
	UserID    string    `json:"user_id"`
	Client    string    `json:"client"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// consentCurrent reports whether a stored consent still counts: its user
// exists and its client is the instance it was given to (a client deleted
// and created again with the same id inherits no consent,
// storage.Consent).
func consentCurrent(c storage.Consent, u *storage.User, cl *storage.Client) bool {
	return u != nil && u.ID == c.UserID && cl != nil && cl.ID == c.ClientID && cl.Issued(c.ClientInstance, c.GrantedAt)
}

// listConsents answers GET /admin/api/consents[?user=NAME]: the consents
// that still count, by user, then client.
func (h *handler) listConsents(c *gin.Context) *Error {
	ctx := c.Request.Context()
	for k, vs := range c.Request.URL.Query() {
		if k != "user" {
			return badRequest("unknown query parameter %q", k)
		}
		if len(vs) > 1 {
			return badRequest("query parameter %q is repeated", k)
		}
	}
	users, err := h.store.ListUsers(ctx)
	if err != nil {
		return httpapi.ServerError(err)
	}
	byID := make(map[string]*storage.User, len(users))
	for i := range users {
		byID[users[i].ID] = &users[i]
	}
	clients, err := h.store.ListClients(ctx)
	if err != nil {
		return httpapi.ServerError(err)
	}
	clientByID := make(map[string]*storage.Client, len(clients))
	for i := range clients {
		clientByID[clients[i].ID] = &clients[i]
	}
	var filter storage.ConsentFilter
	if q, ok := c.GetQuery("user"); ok {
		name, nerr := account.NormalizeUsername(q)
		u, err := h.store.GetUser(ctx, name)
		if nerr != nil || errors.Is(err, storage.ErrNotFound) {
			return notFound("user %q not found", q)
		} else if err != nil {
			return httpapi.ServerError(err)
		}
		filter.UserID = u.ID
		byID[u.ID] = &u
	}
	cs, err := storage.ListAllConsents(ctx, h.store, filter)
	if err != nil {
		return httpapi.ServerError(err)
	}
	out := []Consent{}
	for _, cn := range cs {
		u, cl := byID[cn.UserID], clientByID[cn.ClientID]
		if !consentCurrent(cn, u, cl) {
			continue
		}
		out = append(out, Consent{
			User:      u.Username,
			UserID:    cn.UserID,
			Client:    cn.ClientID,
			Scopes:    orEmpty(cn.Scopes),
			GrantedAt: cn.GrantedAt.UTC(),
			UpdatedAt: cn.UpdatedAt.UTC(),
		})
	}
	slices.SortFunc(out, func(a, b Consent) int {
		return cmp.Or(strings.Compare(a.User, b.User), strings.Compare(a.Client, b.Client))
	})
	c.JSON(http.StatusOK, out)
	return nil
}

// revokeConsent answers DELETE /admin/api/consents/{username}/{client}: the
// consent is forgotten, so the user is asked again, and the user's
// sessions (refresh-token families) of that client end in the same write
// (storage.Storage.RevokeConsent). A consent that no longer counts (its
// client was deleted and created again) is not shown, and is 404 here too.
func (h *handler) revokeConsent(c *gin.Context) *Error {
	ctx := c.Request.Context()
	raw, clientID := c.Param("username"), c.Param("client")
	errNone := notFound("user %q has no consent for client %q", raw, clientID)
	name, e := usernameParam(c)
	if e != nil {
		return e
	}
	if !validClientID(clientID) {
		return errNone
	}
	u, err := h.store.GetUser(ctx, name)
	if err != nil {
		return storeErr(err, "user "+strconv.Quote(name))
	}
	cn, err := h.store.GetConsent(ctx, u.ID, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return errNone
	} else if err != nil {
		return httpapi.ServerError(err)
	}
	cl, err := h.store.GetClient(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return errNone
	} else if err != nil {
		return httpapi.ServerError(err)
	}
	if !consentCurrent(cn, &u, &cl) {
		return errNone
	}
	if err := h.store.RevokeConsent(ctx, u.ID, clientID, h.now().UTC()); errors.Is(err, storage.ErrNotFound) {
		return errNone
	} else if err != nil {
		return httpapi.ServerError(err)
	}
	h.audit(c, "consent.revoke", slog.String("user_id", u.ID), slog.String("client_id", clientID))
	c.Status(http.StatusNoContent)
	return nil
}
