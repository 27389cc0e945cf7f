// Package storage is the contract between authd and the databases it can run
// on, in the manner of database/sql/driver: value types, the Storage
// interface, and sentinel errors. It imports nothing of the project.
//
// # Guarantees every backend gives
//
//   - Every method is safe for concurrent use.
//   - Every write is durable when the method returns nil: a crash after the
//     return does not lose it. A caller may therefore answer a client as soon
//     as the write returns.
//   - Update methods that take a function are atomic compare-and-swap
//     operations: the function sees the current committed state and its result
//     is applied only if that state has not changed in between. The function
//     may run more than once (on conflict, or when a backend retries a batch),
//     so it must not have side effects beyond its return values.
//   - When a function passed to a method (UpdateUser, UpdateClient,
//     UpdateRefresh, RedeemCode, UpdateKeys, Secret's gen) returns an error, nothing is
//     written and the method returns that error as is, not wrapped, so a
//     caller may compare it with ==.
//   - Values returned are copies owned by the caller.
//   - Times are the caller's: a method that stores a time takes it as an
//     argument or in a value, and no backend reads a clock for what it
//     stores.
//   - Errors wrap the sentinels below, so callers test them with errors.Is.
//   - Listings that grow with use (ListFamilies) are paginated (Page).
//
// # Privilege changes are one write
//
// Ending a user's sessions (SessionGen) and deleting a client (Instance)
// each write one record; families and access tokens recorded the
// generation and instance they were issued under, and Family.State and
// Client.Issued compare them. UpdateRefresh reads the family's user and
// client in its compare-and-swap, so such a write and a rotation are
// ordered one way or the other.
//
// # What each write spans
//
// The interface is shaped so that a distributed store with compare-and-swap
// transactions (etcd) can implement it as well as bbolt, each write in one
// transaction over a bounded set of keys:
//
//   - most methods touch only the items they name (a user is found by
//     username and by id; CreateFamily writes the family and its first
//     token);
//   - UpdateRefresh reads the token, its family, its successor and the
//     family's user and client, and writes the token, the family and one
//     new token;
//   - RedeemCode reads the code, its user, its client and the family its
//     exchange created, and writes the code and one family with its first
//     token (or the existing family, revoked);
//   - RevokeConsent the consent and each of the user's families of that
//     client (found through the per-user index, like DeleteUser);
//   - PutConsent the consent, reading its user (which must exist);
//   - UpdateKeys the whole key set, which the keys package keeps to a few
//     keys;
//   - DeleteUser the user, each of the user's families (one per login
//     of that user not yet swept; a backend finds them through a per-user
//     index, never by a scan) and the user's consents (one per client the
//     user approved; a key range or index, never a scan);
//   - Sweep at most limit expired items and the records they name.
//
// A backend whose transactions have a size cap (etcd's max-txn-ops) may
// mark a deleted user's families revoked in further transactions after
// the user's removal: Family.State counts them dead from the removal on,
// so the marks only record why.
//
// # Backends
//
// The bbolt backend lives in storage/bolt, with its on-disk format. Every
// backend passes the conformance suite in package storagetest.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Backends wrap them with context (fmt.Errorf("...: %w", ...)).
var (
	// ErrNotFound: the named item does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: an item with that name or id already exists.
	ErrExists = errors.New("already exists")
	// ErrConflict: a compare-and-swap lost a race more often than the backend
	// retries; the caller may retry the whole operation.
	ErrConflict = errors.New("conflict")
	// ErrClosed: the storage has been closed.
	ErrClosed = errors.New("storage closed")
)

// User is a resource owner who logs in with the password grant.
type User struct {
	// ID is stable and random; it is the sub claim of access tokens. It never
	// changes, even if the username does.
	ID string
	// Username is normalised to lower case by the caller; it is the key.
	Username string
	// PasswordHash is a PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash,
	// or $2a$/$2b$ bcrypt for imported users until their first login).
	PasswordHash string
	// Scopes the user may be granted. Empty means any scope except
	// authd:admin.
	Scopes []string
	// Admin grants the authd:admin scope.
	Admin    bool
	Disabled bool
	// SessionGen is incremented whenever all of the user's sessions must
	// end (password change, disable, revocation of the user's sessions). A
	// family records the generation at login, an access token at issue,
	// and either is dead once they differ, so the revocation is one write,
	// atomic with the user change that causes it.
	SessionGen uint64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// SessionsEndedAt and SessionsEndReason say when and why SessionGen
	// last moved on, for the session list; zero if it never did.
	SessionsEndedAt   time.Time
	SessionsEndReason string
}

// EndSessions ends all of the user's sessions: refresh-token families and
// access tokens issued until now die (Family.State). The caller stores u.
func (u *User) EndSessions(at time.Time, reason string) {
	u.SessionGen++
	u.SessionsEndedAt, u.SessionsEndReason = at, reason
}

// Client is an OAuth 2.0 client (RFC 6749 §2).
type Client struct {
	ID string
	// Public clients have no secret and authenticate with "none".
	Public bool
	// SecretHash is a PHC-style string of the client secret; empty for public
	// clients.
	SecretHash string
	Grants     []string
	Scopes     []string
	// Audiences the client's access tokens may carry; the first is the
	// default. Empty means the server's default audience.
	Audiences []string
	// RedirectURIs are the client's registered redirect URIs for the
	// authorization code flow (absolute, no fragment), compared exactly.
	RedirectURIs []string
	// FirstParty clients skip the consent page.
	FirstParty bool
	// BuiltIn clients (authd-console) cannot be deleted.
	BuiltIn   bool
	CreatedAt time.Time
	// Instance is random and names this client among all that ever had its
	// ID. CreateClient sets a new one when it is empty; it never changes
	// afterwards. Families and access tokens record it, so that a client
	// deleted and created again with the same ID inherits nothing.
	Instance string
	// LegacyFamilies is set by a backend's migration on a client that
	// existed before families recorded their client's Instance: families
	// without one belong to it if they were created after it (see
	// Client.Issued). Never set on clients created since.
	LegacyFamilies bool
}

// Issued reports whether something recorded as issued by the client
// instance at time at (a family, an access token) was issued by c. An empty
// instance (recorded before instances existed) matches only a migrated
// client (LegacyFamilies) that was created no later than at.
func (c Client) Issued(instance string, at time.Time) bool {
	if instance != "" {
		return instance == c.Instance
	}
	return c.LegacyFamilies && !at.Before(c.CreatedAt)
}

// Family is the chain of refresh tokens descending from one login.
type Family struct {
	ID       string
	UserID   string
	ClientID string
	Scope    []string
	// Audience of the access tokens issued in this family.
	Audience string
	// UserGen is the user's SessionGen at login.
	UserGen    uint64
	AuthTime   time.Time
	CreatedAt  time.Time
	LastUsedAt time.Time
	// ExpiresAt is the absolute end of the family (refresh-ttl from login).
	ExpiresAt time.Time
	// RevokedAt is zero while the family lives.
	RevokedAt    time.Time
	RevokeReason string

	// ClientInstance is the client's Instance at login; empty in families
	// stored before instances existed.
	ClientInstance string

	// IdleExpiresAt is when the family dies if its newest refresh token
	// stays unused: that token's IdleExpiresAt, written with it by
	// CreateFamily and by each rotation's UpdateRefresh. Zero in families
	// stored before the field existed.
	IdleExpiresAt time.Time

	// LoginSessionID is the ID (the OpenID sid) of the browser sign-in
	// session a family issued by the authorization code grant descends
	// from; empty for other grants. Its refreshes' ID tokens carry it.
	LoginSessionID string
}

// Revoked reports whether the family has been revoked explicitly (by its
// client, an operator, or reuse detection). A family may be dead without
// being revoked: State is the rule.
func (f Family) Revoked() bool { return !f.RevokedAt.IsZero() }

// FamilyState says whether a family may still be used, and if not, why.
type FamilyState uint8

// The states of a family, in the order State checks them.
const (
	FamilyLive          FamilyState = iota
	FamilyRevoked                   // revoked explicitly: RevokedAt is set
	FamilyUserDeleted               // its user no longer exists
	FamilyUserDisabled              // its user is disabled
	FamilySessionsEnded             // its user's SessionGen moved on: password change, disable, revocation of the user's sessions
	FamilyClientDeleted             // its client no longer exists, or was deleted and created again
	FamilyExpired                   // past ExpiresAt
)

var familyStateNames = [...]string{
	FamilyLive:          "live",
	FamilyRevoked:       "revoked",
	FamilyUserDeleted:   "user deleted",
	FamilyUserDisabled:  "user disabled",
	FamilySessionsEnded: "user sessions ended",
	FamilyClientDeleted: "client deleted",
	FamilyExpired:       "expired",
}

func (s FamilyState) String() string {
	if int(s) < len(familyStateNames) {
		return familyStateNames[s]
	}
	return "unknown"
}

// State is the one rule for whether a family is alive at now. u and c are
// the family's user and client as they are now, nil when deleted (a user or
// client with another ID counts as deleted). The first reason that applies,
// in the order of the constants, is returned.
//
// Whether the family's current refresh token is spent or idle-expired is
// the token's state, not the family's.
func (f Family) State(u *User, c *Client, now time.Time) FamilyState {
	switch {
	case f.Revoked():
		return FamilyRevoked
	case u == nil || u.ID != f.UserID:
		return FamilyUserDeleted
	case u.Disabled:
		return FamilyUserDisabled
	case u.SessionGen != f.UserGen:
		return FamilySessionsEnded
	case c == nil || c.ID != f.ClientID || !c.Issued(f.ClientInstance, f.CreatedAt):
		return FamilyClientDeleted
	case !now.Before(f.ExpiresAt):
		return FamilyExpired
	}
	return FamilyLive
}

// RefreshToken is the stored state of one refresh token. The token itself is
// never stored: Hash is the SHA-256 of the token string, hex encoded.
type RefreshToken struct {
	Hash     string
	FamilyID string
	IssuedAt time.Time
	// IdleExpiresAt: the token expires if not used by then. Never later than
	// the family's ExpiresAt.
	IdleExpiresAt time.Time
	// SpentAt is zero while the token is unused.
	SpentAt time.Time
	// SuccessorHash is the hash of the token that replaced this one.
	SuccessorHash string
}

// Spent reports whether the token has been used.
func (t RefreshToken) Spent() bool { return !t.SpentAt.IsZero() }

// RefreshChange is what a RefreshFunc wants written. Nil fields are left as
// they are. All of it is applied atomically or none of it.
type RefreshChange struct {
	Token  *RefreshToken // new state of the presented token
	Family *Family       // new state of its family
	Insert *RefreshToken // a new token to create in the same family
}

// RefreshState is what UpdateRefresh reads, in one transaction, for its
// function to decide with.
type RefreshState struct {
	// Token is the presented token and Family its family.
	Token  RefreshToken
	Family Family
	// Successor is Token's successor; nil when Token is unspent or the
	// successor no longer exists.
	Successor *RefreshToken
	// User is the family's user (by Family.UserID) and Client its client
	// (by Family.ClientID), as committed; nil when deleted. A change to
	// either that commits after this read makes the update fail and retry
	// (or the change waits for it), so the decision never rests on a user
	// or client that has already changed.
	User   *User
	Client *Client
}

// RefreshFunc decides a refresh from the state UpdateRefresh read. It may
// run more than once. An error aborts the update and is returned from
// UpdateRefresh as is.
type RefreshFunc func(st RefreshState) (RefreshChange, error)

// KeyState is the life-cycle state of a signing key.
type KeyState string

const (
	KeyNext    KeyState = "next"    // published, not yet signing
	KeyActive  KeyState = "active"  // signing
	KeyRetired KeyState = "retired" // published, not signing
	KeyRevoked KeyState = "revoked" // not published, tokens it signed are invalid
)

// Key is a signing key as stored. The keys package owns its meaning; storage
// only keeps it.
type Key struct {
	ID    string
	State KeyState
	// Private is the private key: a JWK JSON document, or a compact JWE of it
	// when Encrypted.
	Private   []byte
	Encrypted bool
	Bits      int
	// Alg is the key's JWS algorithm: "RS256", "ES256" or "EdDSA". Empty
	// in keys stored before authd had other algorithms: RS256.
	Alg       string
	CreatedAt time.Time
	// PublishedAt: first in the JWKS. ActivatedAt: first signed.
	// RetiredAt: stopped signing. RemoveAt: leaves the JWKS.
	PublishedAt time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
	RemoveAt    time.Time
	RevokedAt   time.Time
}

// LoginSession is a browser's sign-in session (the authorization code
// flow's __Host-authd_session cookie). The cookie's value is never
// stored: Hash is its SHA-256, hex encoded.
type LoginSession struct {
	Hash string
	// ID is random and public: the sid claim of ID tokens, and what
	// families and codes record.
	ID     string
	UserID string
	// UserGen is the user's SessionGen at sign-in: a password change,
	// disable or revocation of the user's sessions ends the sign-in
	// session too (LoginSession.State).
	UserGen uint64
	// AuthTime is when the user entered their password.
	AuthTime  time.Time
	CreatedAt time.Time
	// LastSeenAt is the last time the session was used, IdleExpiresAt
	// when it ends if unused, ExpiresAt its absolute end.
	LastSeenAt    time.Time
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
}

// State says whether the sign-in session may be used at now, with u its
// user as it is now (nil when deleted). It uses the reasons of the family
// states that apply (FamilyLive, FamilyUserDeleted, FamilyUserDisabled,
// FamilySessionsEnded, FamilyExpired; idle expiry counts as expired).
func (s LoginSession) State(u *User, now time.Time) FamilyState {
	switch {
	case u == nil || u.ID != s.UserID:
		return FamilyUserDeleted
	case u.Disabled:
		return FamilyUserDisabled
	case u.SessionGen != s.UserGen:
		return FamilySessionsEnded
	case !now.Before(s.ExpiresAt) || !now.Before(s.IdleExpiresAt):
		return FamilyExpired
	}
	return FamilyLive
}

// AuthCode is the stored state of an authorization code (SPEC 2.6). The
// code is never stored: Hash is its SHA-256, hex encoded.
type AuthCode struct {
	Hash string
	// ClientID and ClientInstance name the client the code was issued to.
	ClientID       string
	ClientInstance string
	// UserID and UserGen name the user (UserGen: SessionGen at issue).
	UserID  string
	UserGen uint64
	// RedirectURI is the redirect URI the code was sent to;
	// RedirectURIGiven says whether the authorization request named it
	// (then the token request must repeat it).
	RedirectURI      string
	RedirectURIGiven bool
	// CodeChallenge is the PKCE S256 challenge (RFC 7636).
	CodeChallenge string
	Scope         []string
	// Audience of the access tokens issued from the code.
	Audience string
	Nonce    string
	// AuthTime is the sign-in time, LoginSessionID the sign-in session's ID.
	AuthTime       time.Time
	LoginSessionID string
	IssuedAt       time.Time
	// ExpiresAt: the code may be exchanged until then (60 s).
	ExpiresAt time.Time
	// SpentAt is zero until the code is exchanged. FamilyID is the family
	// created by the exchange (empty if none), AccessTokenID and
	// AccessTokenExpiresAt the jti and exp of the access token issued by
	// it, so that a second presentation can revoke both.
	SpentAt              time.Time
	FamilyID             string
	AccessTokenID        string
	AccessTokenExpiresAt time.Time
	// ForgetAt is when the record may be swept: a spent code is remembered
	// (and its replay recognised) until then, at least 10 minutes after
	// issue.
	ForgetAt time.Time
}

// Spent reports whether the code has been exchanged.
func (c AuthCode) Spent() bool { return !c.SpentAt.IsZero() }

// CodeState is what RedeemCode reads, in one transaction, for its function
// to decide with.
type CodeState struct {
	Code AuthCode
	// User and Client are the code's user (by UserID) and client (by
	// ClientID) as committed; nil when deleted.
	User   *User
	Client *Client
	// Family is the family the code's exchange created (Code.FamilyID),
	// nil if none or no longer stored.
	Family *Family
}

// CodeChange is what a CodeFunc wants written, atomically. Nil fields are
// left as they are.
type CodeChange struct {
	// Code is the new state of the code (spent).
	Code *AuthCode
	// Create is a new family to store with its first token First
	// (ErrExists if either exists).
	Create *Family
	First  *RefreshToken
	// Family is the new state of the existing family State.Family (revoked
	// on a replay).
	Family *Family
}

// CodeFunc decides a code exchange from the state RedeemCode read. It may
// run more than once. An error aborts the redeem (nothing is written) and
// is returned from RedeemCode as is.
type CodeFunc func(st CodeState) (CodeChange, error)

// Consent is a user's remembered approval of a client's scopes (SPEC 2.6).
// It is keyed by (UserID, ClientID).
type Consent struct {
	UserID   string
	ClientID string
	// ClientInstance is the client's Instance when consent was given: a
	// client deleted and created again with the same ID inherits no
	// consent (Client.Issued).
	ClientInstance string
	Scopes         []string
	GrantedAt      time.Time
	UpdatedAt      time.Time
}

// ConsentFilter selects consents in ListConsents. Zero fields match all.
type ConsentFilter struct {
	UserID string
}

// FamilyFilter selects families in ListFamilies. Zero fields match all.
// Whether a listed family is alive is Family.State's to say.
type FamilyFilter struct {
	UserID string
}

// Page asks a listing for one page: the items after the cursor After
// (empty: from the first), at most Limit of them. Limit <= 0 asks for the
// backend's default; a backend may cap Limit, so a page may hold fewer
// items than asked even when more follow.
type Page struct {
	After string
	Limit int
}

// FamilyLister lists families one page at a time (Storage.ListFamilies).
type FamilyLister interface {
	ListFamilies(ctx context.Context, filter FamilyFilter, page Page) ([]Family, string, error)
}

// ListAllFamilies reads every page of l's families matching filter. The
// pages are read one after the other, not from one snapshot: a family
// created or removed meanwhile may or may not be in the result.
func ListAllFamilies(ctx context.Context, l FamilyLister, filter FamilyFilter) ([]Family, error) {
	var all []Family
	page := Page{}
	for {
		fams, next, err := l.ListFamilies(ctx, filter, page)
		if err != nil {
			return nil, err
		}
		all = append(all, fams...)
		if next == "" {
			return all, nil
		}
		if next <= page.After {
			return nil, fmt.Errorf("storage: list families: cursor %q does not move on from %q", next, page.After)
		}
		page.After = next
	}
}

// ConsentLister lists consents one page at a time (Storage.ListConsents).
type ConsentLister interface {
	ListConsents(ctx context.Context, filter ConsentFilter, page Page) ([]Consent, string, error)
}

// ListAllConsents reads every page of l's consents matching filter, one
// after the other (not from one snapshot, like ListAllFamilies). The
// cursor is opaque, so it checks only that each page's cursor differs
// from the one before.
func ListAllConsents(ctx context.Context, l ConsentLister, filter ConsentFilter) ([]Consent, error) {
	var all []Consent
	page := Page{}
	for {
		cs, next, err := l.ListConsents(ctx, filter, page)
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
		if next == "" {
			return all, nil
		}
		if next == page.After {
			return nil, fmt.Errorf("storage: list consents: cursor %q does not move on", next)
		}
		page.After = next
	}
}

// SweepStats reports what one Sweep call removed.
type SweepStats struct {
	Tokens   int
	Families int
	Denied   int
	// Codes and LoginSessions count authorization codes past ForgetAt and
	// sign-in sessions past their absolute or idle expiry.
	Codes         int
	LoginSessions int
	// More is true when the limit was reached and more expired items remain.
	More bool
	// WriteTime is what the call's write cost the store's other writes:
	// how long they waited for it, from when the store began to apply it
	// until it was durable, leaving out the time the call itself waited
	// for other writes. On a store with one writer at a time (bbolt) that
	// is how long it held the write lock; on one whose writes do not
	// exclude each other (etcd) it is the commit latency of the call's
	// transaction. Zero if the backend does not measure it. A caller that
	// sizes its batches so as not to delay other writers (the server's
	// sweeper) adjusts to it rather than to the call's wall time.
	WriteTime time.Duration
}

// Storage is everything authd keeps. Consumers declare the subset they need
// as their own interfaces; this is the union a backend implements.
type Storage interface {
	// Users. Usernames are keys; callers normalise them.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, username string) (User, error)
	GetUserByID(ctx context.Context, id string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser applies fn atomically; fn must not change Username or ID.
	UpdateUser(ctx context.Context, username string, fn func(User) (User, error)) (User, error)
	// DeleteUser removes the user. Its families die with it (Family.State);
	// those not yet revoked are also marked revoked at at, reason "user
	// deleted" (see "What each write spans").
	DeleteUser(ctx context.Context, username string, at time.Time) error

	// Clients. CreateClient stores a new client, with a new random Instance
	// if it has none; ErrExists if the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient applies fn atomically; fn must not change ID, Instance
	// or LegacyFamilies.
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
	// DeleteClient removes the client. Its families and access tokens die
	// with it in that one write (Family.State, Client.Issued): a client
	// created later with the same ID has another Instance.
	DeleteClient(ctx context.Context, id string) error

	// CreateFamily stores a new family with its first token atomically.
	// ErrExists if either already exists.
	CreateFamily(ctx context.Context, f Family, first RefreshToken) error
	GetFamily(ctx context.Context, id string) (Family, error)
	// ListFamilies returns one page of the families matching filter, in
	// order of family ID, and the cursor of the next page (Page.After),
	// empty after the last page. The cursor is the last family ID
	// returned; a cursor that is no family's ID starts after it in that
	// order. ListAllFamilies reads every page.
	ListFamilies(ctx context.Context, filter FamilyFilter, page Page) ([]Family, string, error)
	// GetRefreshToken returns the token with that hash and its family.
	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, Family, error)
	// UpdateRefresh is the one compare-and-swap of the refresh grant: it reads
	// the token, its family, its successor, the family's user and client
	// (RefreshState), calls fn and applies the change atomically: it
	// commits only if none of what it read has changed in between.
	// ErrNotFound if no such token (or its family is gone).
	UpdateRefresh(ctx context.Context, hash string, fn RefreshFunc) error
	// RevokeFamily marks one family revoked (idempotent: an already revoked
	// family keeps its first RevokedAt and reason). ErrNotFound if absent.
	RevokeFamily(ctx context.Context, id string, at time.Time, reason string) (Family, error)

	// DenyAccessToken puts an access token's jti on the deny list until exp.
	DenyAccessToken(ctx context.Context, jti string, exp time.Time) error
	// AccessTokenDenied reports whether jti is on the deny list.
	AccessTokenDenied(ctx context.Context, jti string) (bool, error)

	// Sign-in sessions (the browser's cookie of the authorization code
	// flow), found by Hash.
	CreateLoginSession(ctx context.Context, s LoginSession) error
	GetLoginSession(ctx context.Context, hash string) (LoginSession, error)
	// TouchLoginSession records a use of the session at seen: LastSeenAt
	// = seen and IdleExpiresAt = idleExpires (capped at ExpiresAt), and
	// returns the session as stored. Neither moves back: a use older than
	// the last recorded one (concurrent requests committing out of order)
	// leaves them as they are. ErrNotFound if absent.
	TouchLoginSession(ctx context.Context, hash string, seen, idleExpires time.Time) (LoginSession, error)
	// DeleteLoginSession ends one session (logout); nil if already gone.
	DeleteLoginSession(ctx context.Context, hash string) error

	// Authorization codes. CreateCode stores a new code (ErrExists if its
	// hash is taken); it needs a ForgetAt. RedeemCode is the one
	// compare-and-swap of the authorization code grant: it reads the code,
	// its user, its client and the family its exchange created
	// (CodeState), calls fn and applies the change atomically, committing
	// only if none of what it read has changed in between. ErrNotFound if
	// no such code. A change keeps the code's Hash, ClientID and UserID
	// (and a ForgetAt), and changes State.Family only when there is one,
	// keeping its ID. CodeChange.Create is stored only with First, from a
	// code that was unspent, by a change that spends the code with
	// FamilyID = Create.ID, for the code's user and client: so one code
	// creates at most one family. ErrExists if the family or the token
	// exists. Any other change is refused and nothing is written.
	CreateCode(ctx context.Context, c AuthCode) error
	RedeemCode(ctx context.Context, hash string, fn CodeFunc) error

	// Consents. PutConsent stores c, replacing the consent of the same
	// (UserID, ClientID); ErrNotFound if no user has c.UserID (checked in
	// the same write, so that a consent racing DeleteUser is not left
	// behind). GetConsent: ErrNotFound if none. ListConsents
	// pages like ListFamilies, in order of (UserID, ClientID); the cursor
	// is opaque. RevokeConsent removes the consent and marks the user's
	// families of that client revoked at at with reason "consent revoked"
	// in the same write (ErrNotFound if there was no consent). DeleteUser
	// removes the user's consents.
	PutConsent(ctx context.Context, c Consent) error
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	ListConsents(ctx context.Context, filter ConsentFilter, page Page) ([]Consent, string, error)
	RevokeConsent(ctx context.Context, userID, clientID string, at time.Time) error

	// Signing keys. UpdateKeys applies fn to the whole key set atomically, so
	// invariants across keys (exactly one active) hold in every committed
	// state. fn returns the complete new set.
	ListKeys(ctx context.Context) ([]Key, error)
	UpdateKeys(ctx context.Context, fn func([]Key) ([]Key, error)) ([]Key, error)

	// Secret returns the named server secret, creating it with gen on first
	// use. The same name always yields the same bytes afterwards.
	Secret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error)

	// Sweep removes refresh tokens past their idle or family expiry, families
	// past their absolute expiry (with their tokens), deny-list entries
	// past their exp, authorization codes past ForgetAt and sign-in
	// sessions past their absolute or idle expiry, as of now, at most limit items per call. Its cost
	// follows what expired, not the size of the database. A family is kept
	// until its ExpiresAt even when dead earlier (revoked, user deleted):
	// a revoked family's tokens must still be recognised when presented.
	Sweep(ctx context.Context, now time.Time, limit int) (SweepStats, error)

	// Backup writes a consistent copy of the whole database to w.
	Backup(ctx context.Context, w io.Writer) (int64, error)

	// Ping reports whether the storage is open and usable.
	Ping(ctx context.Context) error
	Close() error
}
