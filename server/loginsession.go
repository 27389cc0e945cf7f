package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/storage"
)

// The browser sign-in session of the authorization code flow (SPEC 2.6): a
// cookie holding 256 random bits, stored only as its SHA-256 (hashToken),
// with an absolute limit (--login-session-ttl) and an idle limit
// (--login-session-idle-ttl). On an https issuer the cookie has the
// __Host- prefix and Secure; on plain http (loopback development) a
// browser would drop a Secure or __Host- cookie, so it has neither.
const (
	sessionCookieHTTPS = "__Host-authd_session"
	sessionCookieHTTP  = "authd_session"
	csrfCookieHTTPS    = "__Host-authd_csrf"
	csrfCookieHTTP     = "authd_csrf"
)

// sessionTouchEvery bounds the writes of a sign-in session: its use is
// recorded (TouchLoginSession, which moves its idle expiry) at most once
// a minute, however many authorization requests it serves. The idle limit
// may therefore end a session up to a minute early.
const sessionTouchEvery = time.Minute

// cookieValueLen is the length of a cookie value: 32 random bytes,
// base64url without padding.
var cookieValueLen = base64.RawURLEncoding.EncodedLen(32)

// newCookieValue returns 256 random bits, base64url.
func newCookieValue() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// validCookieValue reports whether v has the form of a value authd set; a
// cookie of another form is treated as absent, without a storage read.
func validCookieValue(v string) bool {
	if len(v) != cookieValueLen {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil
}

func (s *Server) httpsIssuer() bool { return strings.HasPrefix(s.cfg.Issuer, "https://") }

func (s *Server) sessionCookieName() string {
	if s.httpsIssuer() {
		return sessionCookieHTTPS
	}
	return sessionCookieHTTP
}

func (s *Server) csrfCookieName() string {
	if s.httpsIssuer() {
		return csrfCookieHTTPS
	}
	return csrfCookieHTTP
}

// setCookie sets (maxAge > 0) or expires (maxAge < 0) one of authd's
// browser cookies: Path=/ (the __Host- prefix requires it), HttpOnly,
// SameSite=Lax (sent on the top-level navigation from the client back to
// /authorize, not on cross-site subrequests or POSTs), Secure on https.
func (s *Server) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.httpsIssuer(), SameSite: http.SameSiteLaxMode,
	})
}

// cookie returns the value of the request's cookie name when it has the
// form authd gives its cookies, else "".
func cookie(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil || !validCookieValue(ck.Value) {
		return ""
	}
	return ck.Value
}

// signedIn is a live sign-in session and its user as they are now.
type signedIn struct {
	session storage.LoginSession
	user    storage.User
}

// currentSession returns the request's live sign-in session, or nil when
// it has none: no cookie, an unknown one, or a session that ended (expired,
// idle, the user's password changed, the user disabled or deleted:
// LoginSession.State). It records the use at most once a minute
// (sessionTouchEvery).
func (s *Server) currentSession(ctx context.Context, r *http.Request) (*signedIn, error) {
	v := cookie(r, s.sessionCookieName())
	if v == "" {
		return nil, nil
	}
	hash := hashToken(v)
	ls, err := s.store.GetLoginSession(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUserByID(ctx, ls.UserID)
	var up *storage.User
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		up = &u
	}
	now := s.now()
	if ls.State(up, now) != storage.FamilyLive {
		return nil, nil
	}
	if now.Sub(ls.LastSeenAt) >= sessionTouchEvery {
		t, err := s.store.TouchLoginSession(ctx, hash, now, now.Add(s.cfg.LoginSessionIdleTTL))
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return nil, nil // ended (logout) since it was read
		case err != nil:
			// The session was live when read; a lost touch only keeps
			// its idle expiry where it was.
			s.log.Warn("sign-in session use not recorded", "session_id", ls.ID, "error", err)
		default:
			ls = t
		}
	}
	return &signedIn{session: ls, user: u}, nil
}

// startSession signs u in on this browser: a new session record and its
// cookie. A session the browser had before is ended, so that one browser
// holds one session.
func (s *Server) startSession(ctx context.Context, c *gin.Context, u storage.User) (*signedIn, error) {
	v, err := newCookieValue()
	if err != nil {
		return nil, err
	}
	now := s.now()
	ls := storage.LoginSession{
		Hash: hashToken(v), ID: newID(), UserID: u.ID, UserGen: u.SessionGen,
		AuthTime: now, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: minTime(now.Add(s.cfg.LoginSessionIdleTTL), now.Add(s.cfg.LoginSessionTTL)),
		ExpiresAt:     now.Add(s.cfg.LoginSessionTTL),
	}
	if err := s.store.CreateLoginSession(ctx, ls); err != nil {
		return nil, err
	}
	if old := cookie(c.Request, s.sessionCookieName()); old != "" {
		if err := s.store.DeleteLoginSession(ctx, hashToken(old)); err != nil {
			s.log.Warn("previous sign-in session not ended", "error", err)
		}
	}
	s.setCookie(c, s.sessionCookieName(), v, int(s.cfg.LoginSessionTTL/time.Second))
	return &signedIn{session: ls, user: u}, nil
}

// endSession ends the request's sign-in session, if any, and expires its
// cookie. It returns the session that was ended (zero if none was found).
func (s *Server) endSession(ctx context.Context, c *gin.Context) (storage.LoginSession, error) {
	s.setCookie(c, s.sessionCookieName(), "", -1)
	v := cookie(c.Request, s.sessionCookieName())
	if v == "" {
		return storage.LoginSession{}, nil
	}
	hash := hashToken(v)
	ls, err := s.store.GetLoginSession(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		// Nothing to end, and no write: anyone can send a cookie of
		// the right form.
		return storage.LoginSession{}, nil
	}
	if err != nil {
		return storage.LoginSession{}, err
	}
	if err := s.store.DeleteLoginSession(ctx, hash); err != nil {
		return storage.LoginSession{}, err
	}
	return ls, nil
}

// CSRF protection of the sign-in and consent forms: a double-submit token
// bound to the browser. The browser holds a random cookie (HttpOnly, so no
// script reads it; __Host- on https, so no other host sets it); the form
// carries the HMAC of the cookie's value under a server secret. A site
// that makes a browser post the form can neither read the cookie nor
// compute the HMAC, so it cannot supply a matching token.

// csrfPurpose separates the CSRF MAC from any other use of its key.
const csrfPurpose = "authd csrf v1\x00"

// csrfToken returns the form token of the browser's CSRF cookie, setting
// a new cookie when the request has none.
func (s *Server) csrfToken(c *gin.Context) (string, error) {
	v := cookie(c.Request, s.csrfCookieName())
	if v == "" {
		var err error
		if v, err = newCookieValue(); err != nil {
			return "", err
		}
		// The cookie lives as long as a sign-in session may: a form
		// left open longer is sent again with a new token.
		s.setCookie(c, s.csrfCookieName(), v, int(s.cfg.LoginSessionTTL/time.Second))
	}
	return s.csrfMAC(v), nil
}

func (s *Server) csrfMAC(cookieValue string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(csrfPurpose))
	m.Write([]byte(cookieValue))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid reports whether token is the form token of the request's CSRF
// cookie (compared in constant time).
func (s *Server) csrfValid(r *http.Request, token string) bool {
	v := cookie(r, s.csrfCookieName())
	if v == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(token), []byte(s.csrfMAC(v)))
}
