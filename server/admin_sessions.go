package server

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/server/account"
	"github.com/authd/authd/storage"
)

// Session states in AdminSession.Status.
const (
	SessionActive  = "active"
	SessionExpired = "expired"
	SessionRevoked = "revoked"
)

// AdminSession is a refresh-token family as the admin API shows it.
// IdleExpiresAt is when the family dies if its current refresh token stays
// unused. User is empty when the user has been deleted. A family that died
// with its user or client (storage.Family.State) is revoked, with the
// reason and, where known, the time.
type AdminSession struct {
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

func (s *Server) adminSessionView(f storage.Family, u *storage.User, c *storage.Client, now time.Time) AdminSession {
	last := f.LastUsedAt
	if last.IsZero() {
		last = f.CreatedAt
	}
	idle := last.Add(s.cfg.RefreshIdleTTL)
	if idle.After(f.ExpiresAt) {
		idle = f.ExpiresAt
	}
	v := AdminSession{
		ID:            f.ID,
		UserID:        f.UserID,
		Client:        f.ClientID,
		Scope:         adminList(f.Scope),
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

func (s *Server) adminListSessions(c *gin.Context) *Error {
	ctx := c.Request.Context()
	for k, vs := range c.Request.URL.Query() {
		if k != "user" {
			return adminBadRequest("unknown query parameter %q", k)
		}
		if len(vs) > 1 {
			return adminBadRequest("query parameter %q is repeated", k)
		}
	}
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return serverError(err)
	}
	byID := make(map[string]*storage.User, len(users))
	for i := range users {
		byID[users[i].ID] = &users[i]
	}
	clients, err := s.store.ListClients(ctx)
	if err != nil {
		return serverError(err)
	}
	clientByID := make(map[string]*storage.Client, len(clients))
	for i := range clients {
		clientByID[clients[i].ID] = &clients[i]
	}
	var filter storage.FamilyFilter
	if q, ok := c.GetQuery("user"); ok {
		name, nerr := account.NormalizeUsername(q)
		u, err := s.store.GetUser(ctx, name)
		if nerr != nil || errors.Is(err, storage.ErrNotFound) {
			return adminNotFound("user %q not found", q)
		} else if err != nil {
			return serverError(err)
		}
		filter.UserID = u.ID
		byID[u.ID] = &u
	}
	fams, err := storage.ListAllFamilies(ctx, s.store, filter)
	if err != nil {
		return serverError(err)
	}
	now := s.now()
	out := make([]AdminSession, 0, len(fams))
	for _, f := range fams {
		out = append(out, s.adminSessionView(f, byID[f.UserID], clientByID[f.ClientID], now))
	}
	slices.SortFunc(out, func(a, b AdminSession) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) adminRevokeSession(c *gin.Context) *Error {
	id := c.Param("id")
	f, err := s.store.RevokeFamily(c.Request.Context(), id, s.now().UTC(), "revoked by admin")
	if err != nil {
		return adminStoreErr(err, "session "+strconv.Quote(id))
	}
	s.adminAudit(c, "session.revoke", slog.String("family_id", id), slog.String("user_id", f.UserID), slog.String("client_id", f.ClientID))
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) adminListKeys(c *gin.Context) *Error {
	ks, err := s.keys.List(c.Request.Context())
	if err != nil {
		return serverError(err)
	}
	if ks == nil {
		ks = []keys.Info{}
	}
	c.JSON(http.StatusOK, ks)
	return nil
}

// AdminRotate is the optional body of POST /admin/api/keys/rotate. By
// default the published next key takes over at once (SPEC §2.3); the answer
// has early_activation set when that key had been published for less than
// the full lead, so that caching verifiers may not have it yet. WhenSafe
// instead schedules the takeover for the moment the lead is met (at once if
// it already is). Now is accepted for scripts and means the default.
type AdminRotate struct {
	Now      bool `json:"now,omitempty"`
	WhenSafe bool `json:"when_safe,omitempty"`
}

func (s *Server) adminRotateKeys(c *gin.Context) *Error {
	var req AdminRotate
	if e := adminDecode(c, maxAdminBody, true, &req); e != nil {
		return e
	}
	if req.Now && req.WhenSafe {
		return adminBadRequest("now and when_safe exclude each other")
	}
	info, err := s.keys.Rotate(c.Request.Context(), !req.WhenSafe)
	if err != nil {
		return serverError(err)
	}
	s.adminAudit(c, "key.rotate", slog.Bool("when_safe", req.WhenSafe), slog.String("kid", info.ID), slog.String("state", info.State), slog.Bool("early", info.EarlyActivation))
	c.JSON(http.StatusOK, info)
	return nil
}

func (s *Server) adminRevokeKey(c *gin.Context) *Error {
	kid := c.Param("kid")
	info, err := s.keys.Revoke(c.Request.Context(), kid)
	if err != nil {
		return adminStoreErr(err, "key "+strconv.Quote(kid))
	}
	s.adminAudit(c, "key.revoke", slog.String("kid", info.ID))
	c.Status(http.StatusNoContent)
	return nil
}

// adminBackup streams a consistent copy of the database. A failure after
// the first byte aborts the connection, so that the client sees a truncated
// transfer rather than a short file that looks complete.
func (s *Server) adminBackup(c *gin.Context) *Error {
	// A large database may take longer than the server's write timeout.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
	name := "authd-" + s.now().UTC().Format("20060102T150405Z") + ".db"
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Status(http.StatusOK)
	n, err := s.store.Backup(c.Request.Context(), c.Writer)
	if err != nil {
		s.log.LogAttrs(c.Request.Context(), slog.LevelError, "backup failed",
			slog.String("request_id", requestID(c)), slog.Int64("bytes", n), slog.Any("error", err))
		if !c.Writer.Written() {
			return serverError(err)
		}
		panic(http.ErrAbortHandler)
	}
	s.adminAudit(c, "backup", slog.Int64("bytes", n))
	return nil
}
