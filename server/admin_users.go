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

	"github.com/authd/authd/server/account"
	"github.com/authd/authd/server/internal/scopes"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
)

// adminMaxPasswordLen bounds passwords set through the admin API, as the
// password grant bounds those it checks. There is no minimum beyond one
// character: password policy is the operator's (throttling and argon2id
// defend against online guessing either way).
const adminMaxPasswordLen = password.MaxPasswordLen

// AdminUser is a user as the admin API shows it: no password hash. Scopes
// empty means any scope except authd:admin; Admin adds authd:admin.
type AdminUser struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Scopes    []string  `json:"scopes"`
	Admin     bool      `json:"admin"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func adminUserView(u storage.User) AdminUser {
	return AdminUser{
		ID:        u.ID,
		Username:  u.Username,
		Scopes:    adminList(u.Scopes),
		Admin:     u.Admin,
		Disabled:  u.Disabled,
		CreatedAt: u.CreatedAt.UTC(),
		UpdatedAt: u.UpdatedAt.UTC(),
	}
}

func adminUsernameParam(c *gin.Context) (string, *Error) {
	name, err := account.NormalizeUsername(c.Param("username"))
	if err != nil {
		// No valid name can exist, so the user is unknown.
		return "", adminNotFound("user %q not found", c.Param("username"))
	}
	return name, nil
}

// adminUserScopes applies account.Scopes, with the admin API's messages.
func adminUserScopes(in []string) ([]string, *Error) {
	out, err := account.Scopes(in)
	var ve *scopes.ValueError
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, scopes.ErrTooMany):
		return nil, adminBadRequest("scopes: at most %d values", adminMaxList)
	case errors.As(err, &ve):
		return nil, adminBadRequest("scopes: %q is not valid", ve.Value)
	default: // account.ErrAdminScope
		return nil, adminBadRequest("scope %s is granted with admin, not in scopes", AdminScope)
	}
}

func adminCheckPassword(pw string) *Error {
	switch {
	case pw == "":
		return adminBadRequest("the password must not be empty")
	case len(pw) > adminMaxPasswordLen:
		return adminBadRequest("the password must have at most %d bytes", adminMaxPasswordLen)
	}
	return nil
}

// hashPassword hashes pw with the server's hasher, mapping its errors.
func (s *Server) adminHashPassword(c *gin.Context, pw string) (string, *Error) {
	h, err := s.hasher.Hash(c.Request.Context(), pw)
	switch {
	case errors.Is(err, password.ErrTooLong):
		return "", adminBadRequest("the password is too long")
	case err != nil:
		return "", serverError(err)
	}
	return h, nil
}

func (s *Server) adminListUsers(c *gin.Context) *Error {
	users, err := s.store.ListUsers(c.Request.Context())
	if err != nil {
		return serverError(err)
	}
	out := make([]AdminUser, 0, len(users))
	for _, u := range users {
		out = append(out, adminUserView(u))
	}
	slices.SortFunc(out, func(a, b AdminUser) int { return strings.Compare(a.Username, b.Username) })
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) adminGetUser(c *gin.Context) *Error {
	name, e := adminUsernameParam(c)
	if e != nil {
		return e
	}
	u, err := s.store.GetUser(c.Request.Context(), name)
	if err != nil {
		return adminStoreErr(err, "user "+strconv.Quote(name))
	}
	c.JSON(http.StatusOK, adminUserView(u))
	return nil
}

// AdminCreateUser is the body of POST /admin/api/users.
type AdminCreateUser struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Scopes   []string `json:"scopes"`
	Admin    bool     `json:"admin"`
}

func (s *Server) adminCreateUser(c *gin.Context) *Error {
	var req AdminCreateUser
	if e := adminDecode(c, maxAdminBody, false, &req); e != nil {
		return e
	}
	name, err := account.NormalizeUsername(req.Username)
	if err != nil {
		return adminBadRequest("%s", err.Error())
	}
	if e := adminCheckPassword(req.Password); e != nil {
		return e
	}
	scopes, e := adminUserScopes(req.Scopes)
	if e != nil {
		return e
	}
	ctx := c.Request.Context()
	// Refuse a duplicate before spending a password hash on it.
	if _, err := s.store.GetUser(ctx, name); err == nil {
		return adminConflict("user %q already exists", name)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return serverError(err)
	}
	hash, e := s.adminHashPassword(c, req.Password)
	if e != nil {
		return e
	}
	now := s.now().UTC()
	u := storage.User{
		ID:           adminNewID(),
		Username:     name,
		PasswordHash: hash,
		Scopes:       scopes,
		Admin:        req.Admin,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return adminStoreErr(err, "user "+strconv.Quote(name))
	}
	s.adminAudit(c, "user.create", slog.String("username", name), slog.String("user_id", u.ID),
		slog.Any("scopes", scopes), slog.Bool("admin", req.Admin))
	c.JSON(http.StatusCreated, adminUserView(u))
	return nil
}

// AdminPatchUser is the body of PATCH /admin/api/users/{username}. Nil
// fields are left unchanged.
type AdminPatchUser struct {
	Password *string   `json:"password,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
	Scopes   *[]string `json:"scopes,omitempty"`
	// Admin grants or withdraws authd:admin. A demotion takes effect at
	// once: the admin API refuses the user's tokens from then on.
	Admin *bool `json:"admin,omitempty"`
}

func (s *Server) adminPatchUser(c *gin.Context) *Error {
	name, e := adminUsernameParam(c)
	if e != nil {
		return e
	}
	var req AdminPatchUser
	if e := adminDecode(c, maxAdminBody, false, &req); e != nil {
		return e
	}
	if req.Password == nil && req.Disabled == nil && req.Scopes == nil && req.Admin == nil {
		return adminBadRequest("nothing to change: give password, disabled, scopes or admin")
	}
	var scopes []string
	if req.Scopes != nil {
		if scopes, e = adminUserScopes(*req.Scopes); e != nil {
			return e
		}
	}
	ctx := c.Request.Context()
	if _, err := s.store.GetUser(ctx, name); err != nil {
		return adminStoreErr(err, "user "+strconv.Quote(name))
	}
	var hash string
	if req.Password != nil {
		if e := adminCheckPassword(*req.Password); e != nil {
			return e
		}
		if hash, e = s.adminHashPassword(c, *req.Password); e != nil {
			return e
		}
	}
	now := s.now().UTC()
	// reason is set by the run of fn whose result is committed (the last).
	var reason string
	u, err := s.store.UpdateUser(ctx, name, func(u storage.User) (storage.User, error) {
		reason = ""
		if req.Password != nil {
			u.PasswordHash = hash
			reason = "password changed"
		}
		if req.Disabled != nil {
			if *req.Disabled && !u.Disabled {
				reason = "user disabled"
			}
			u.Disabled = *req.Disabled
		}
		if req.Scopes != nil {
			u.Scopes = scopes
		}
		if req.Admin != nil {
			u.Admin = *req.Admin
		}
		if reason != "" {
			// Ends every session atomically with the change, in this one
			// write (storage.User.SessionGen).
			u.EndSessions(now, reason)
		}
		u.UpdatedAt = now
		return u, nil
	})
	if err != nil {
		return adminStoreErr(err, "user "+strconv.Quote(name))
	}
	attrs := []slog.Attr{slog.String("username", name), slog.String("user_id", u.ID),
		slog.Bool("password_changed", req.Password != nil)}
	if req.Disabled != nil {
		attrs = append(attrs, slog.Bool("disabled", *req.Disabled))
	}
	if req.Scopes != nil {
		attrs = append(attrs, slog.Any("scopes", scopes))
	}
	if req.Admin != nil {
		attrs = append(attrs, slog.Bool("admin", *req.Admin))
	}
	if reason != "" {
		attrs = append(attrs, slog.String("sessions_ended", reason))
	}
	s.adminAudit(c, "user.update", attrs...)
	c.JSON(http.StatusOK, adminUserView(u))
	return nil
}

func (s *Server) adminDeleteUser(c *gin.Context) *Error {
	name, e := adminUsernameParam(c)
	if e != nil {
		return e
	}
	ctx := c.Request.Context()
	u, err := s.store.GetUser(ctx, name)
	if err != nil {
		return adminStoreErr(err, "user "+strconv.Quote(name))
	}
	if err := s.store.DeleteUser(ctx, name, s.now().UTC()); err != nil {
		return adminStoreErr(err, "user "+strconv.Quote(name))
	}
	s.adminAudit(c, "user.delete", slog.String("username", name), slog.String("user_id", u.ID))
	c.Status(http.StatusNoContent)
	return nil
}

// AdminImportUser is one user of POST /admin/api/users/import: a password
// hash made elsewhere (bcrypt $2a$/$2b$/$2y$, or argon2id PHC), replaced by
// an argon2id hash at the user's first login.
type AdminImportUser struct {
	Username     string   `json:"username"`
	PasswordHash string   `json:"password_hash"`
	Scopes       []string `json:"scopes,omitempty"`
	Admin        bool     `json:"admin,omitempty"`
	Disabled     bool     `json:"disabled,omitempty"`
}

// AdminImport is the body of POST /admin/api/users/import.
type AdminImport struct {
	Users []AdminImportUser `json:"users"`
}

// AdminImportResult answers an import: the usernames created and those
// skipped because they already existed. Existing users are never changed.
type AdminImportResult struct {
	Created []string `json:"created"`
	Skipped []string `json:"skipped"`
}

func (s *Server) adminImportUsers(c *gin.Context) *Error {
	var req AdminImport
	if e := adminDecode(c, maxImportBody, false, &req); e != nil {
		return e
	}
	if len(req.Users) == 0 {
		return adminBadRequest("no users to import")
	}
	// Validate everything before creating anything.
	users := make([]storage.User, 0, len(req.Users))
	seen := make(map[string]bool, len(req.Users))
	now := s.now().UTC()
	for i, iu := range req.Users {
		name, err := account.NormalizeUsername(iu.Username)
		if err != nil {
			return adminBadRequest("user %d: %s", i+1, err.Error())
		}
		if seen[name] {
			return adminBadRequest("user %d: username %q appears more than once", i+1, name)
		}
		seen[name] = true
		// The limits of password.CheckHash are those of verification, so
		// that every imported user can log in.
		var he *password.HashError
		if err := password.CheckHash(iu.PasswordHash); errors.As(err, &he) {
			return adminBadRequest("user %d (%s): password_hash: %s", i+1, name, he.Reason)
		} else if err != nil {
			return adminBadRequest("user %d (%s): password_hash is not usable", i+1, name)
		}
		scopes, e := adminUserScopes(iu.Scopes)
		if e != nil {
			return adminBadRequest("user %d (%s): %s", i+1, name, e.Description)
		}
		users = append(users, storage.User{
			ID:           adminNewID(),
			Username:     name,
			PasswordHash: iu.PasswordHash,
			Scopes:       scopes,
			Admin:        iu.Admin,
			Disabled:     iu.Disabled,
			CreatedAt:    now,
			UpdatedAt:    now,
		})
	}
	res := AdminImportResult{Created: []string{}, Skipped: []string{}}
	ctx := c.Request.Context()
	for _, u := range users {
		err := s.store.CreateUser(ctx, u)
		switch {
		case errors.Is(err, storage.ErrExists):
			res.Skipped = append(res.Skipped, u.Username)
		case err != nil:
			s.adminAudit(c, "user.import", slog.Int("created", len(res.Created)), slog.Int("skipped", len(res.Skipped)), slog.String("error", err.Error()))
			return serverError(err)
		default:
			res.Created = append(res.Created, u.Username)
		}
	}
	s.adminAudit(c, "user.import", slog.Int("created", len(res.Created)), slog.Int("skipped", len(res.Skipped)))
	status := http.StatusOK
	if len(res.Created) > 0 {
		status = http.StatusCreated
	}
	c.JSON(status, res)
	return nil
}

func (s *Server) adminRevokeUserSessions(c *gin.Context) *Error {
	name, e := adminUsernameParam(c)
	if e != nil {
		return e
	}
	// One write: the user's families and access tokens recorded the
	// generation this moves past (storage.User.SessionGen).
	now := s.now().UTC()
	u, err := s.store.UpdateUser(c.Request.Context(), name, func(u storage.User) (storage.User, error) {
		u.EndSessions(now, "revoked by admin")
		return u, nil
	})
	if err != nil {
		return adminStoreErr(err, "user "+strconv.Quote(name))
	}
	s.adminAudit(c, "session.revoke_user", slog.String("username", name), slog.String("user_id", u.ID))
	c.Status(http.StatusNoContent)
	return nil
}
