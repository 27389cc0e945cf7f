package admin

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/account"
	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/storage"
)

// Session states in Session.Status.
const (
	SessionActive  = "active"
	SessionExpired = "expired"
	SessionRevoked = "revoked"
)

// Session is a refresh-token family as the admin API shows it.
// IdleExpiresAt is when the family dies if its current refresh token stays
// unused. User is empty when the user has been deleted. A family that died
// with its user or client (storage.Family.State) is revoked, with the
// reason and, where known, the time.
type Session struct {
	ID            string    `json:"id"`
	User          string    `json:"user"`
	UserID        string    `json:"user_id"`
	Client        string    `json:"client"`
	Scope         []string  `json:"scope"`
	Status        string    `json:"status"`
	AuthTime      time.Time `json:"auth_time"`
	CreatedAt     time.Time `json:"created_at"`
	LastUsedAt    time.Time `json:"last_used_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	RevokeReason  string    `json:"revoke_reason,omitempty"`
}

func (h *handler) sessionView(f storage.Family, u *storage.User, c *storage.Client, now time.Time) Session {
	last := f.LastUsedAt
	if last.IsZero() {
		last = f.CreatedAt
	}
	idle := f.IdleExpiresAt
	if idle.IsZero() {
		// A family stored before families recorded their newest token's
		// idle expiry: computed from its last use and this server's idle
		// timeout, which is right unless --refresh-idle-ttl changed since.
		idle = last.Add(h.refreshIdleTTL)
		if idle.After(f.ExpiresAt) {
			idle = f.ExpiresAt
		}
	}
	v := Session{
		ID:            f.ID,
		UserID:        f.UserID,
		Client:        f.ClientID,
		Scope:         orEmpty(f.Scope),
		AuthTime:      f.AuthTime.UTC(),
		CreatedAt:     f.CreatedAt.UTC(),
		LastUsedAt:    last.UTC(),
		IdleExpiresAt: idle.UTC(),
		ExpiresAt:     f.ExpiresAt.UTC(),
		RevokedAt:     f.RevokedAt.UTC(),
		RevokeReason:  f.RevokeReason,
		Status:        SessionActive,
	}
	if u != nil {
		v.User = u.Username
	}
	switch st := f.State(u, c, now); st {
	case storage.FamilyLive:
		if !now.Before(idle) {
			v.Status = SessionExpired
		}
	case storage.FamilyExpired:
		v.Status = SessionExpired
	case storage.FamilyRevoked:
		v.Status = SessionRevoked
	default:
		v.Status, v.RevokeReason = SessionRevoked, st.String()
		if u != nil && u.SessionGen != f.UserGen && u.SessionsEndReason != "" {
			v.RevokedAt, v.RevokeReason = u.SessionsEndedAt.UTC(), u.SessionsEndReason
		}
	}
	return v
}

func (h *handler) listSessions(c *gin.Context) *Error {
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
	var filter storage.FamilyFilter
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
	fams, err := storage.ListAllFamilies(ctx, h.store, filter)
	if err != nil {
		return httpapi.ServerError(err)
	}
	now := h.now()
	out := make([]Session, 0, len(fams))
	for _, f := range fams {
		out = append(out, h.sessionView(f, byID[f.UserID], clientByID[f.ClientID], now))
	}
	slices.SortFunc(out, func(a, b Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	c.JSON(http.StatusOK, out)
	return nil
}

func (h *handler) revokeSession(c *gin.Context) *Error {
	id := c.Param("id")
	f, err := h.store.RevokeFamily(c.Request.Context(), id, h.now().UTC(), "revoked by admin")
	if err != nil {
		return storeErr(err, "session "+strconv.Quote(id))
	}
	h.audit(c, "session.revoke", slog.String("family_id", id), slog.String("user_id", f.UserID), slog.String("client_id", f.ClientID))
	c.Status(http.StatusNoContent)
	return nil
}
