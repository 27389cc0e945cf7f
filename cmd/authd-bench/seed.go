package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
)

// Seeding.

const (
	appClient = "bench-app" // confidential: password, refresh_token
	svcClient = "bench-svc" // confidential: client_credentials; introspects
	// benchAudience is the audience of appClient's tokens; svcClient is
	// registered with it, the resource server that may introspect them
	// (SPEC 2.4).
	benchAudience = "https://bench-api.example"
)

var appScopes = []string{"api:read", "api:write"}

type seedInfo struct {
	users     []string // usernames; password of users[i] is passwordOf(i)
	appSecret string
	svcSecret string
}

func passwordOf(i int) string { return fmt.Sprintf("bench-password-%d-long-enough", i) }

func userName(i int) string { return fmt.Sprintf("bench-user-%d", i) }

// generateSecret makes a client secret shaped like the ones authd
// generates: a prefix and 32 random bytes, so authd uses its fast secret
// hash for it, as it would for a generated one.
func generateSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "authd_cs_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// seed creates users and clients through authd's own command line, on the
// database of a server that is not running.
func (a *authd) seed(ctx context.Context, users int) (seedInfo, error) {
	si := seedInfo{appSecret: generateSecret(), svcSecret: generateSecret()}
	for i := range users {
		name := userName(i)
		if _, err := a.cli(ctx, passwordOf(i)+"\n", "user", "add", name, "--password-stdin"); err != nil {
			return si, err
		}
		si.users = append(si.users, name)
	}
	args := []string{"client", "add", appClient, "--secret-stdin", "--grant", "password", "--grant", "refresh_token", "--audience", benchAudience}
	for _, s := range appScopes {
		args = append(args, "--scope", s)
	}
	if _, err := a.cli(ctx, si.appSecret+"\n", args...); err != nil {
		return si, err
	}
	if _, err := a.cli(ctx, si.svcSecret+"\n", "client", "add", svcClient, "--secret-stdin", "--grant", "client_credentials", "--scope", "api:read", "--audience", benchAudience); err != nil {
		return si, err
	}
	return si, nil
}

// familySeeder writes refresh-token families straight into the database
// file while no server runs, through storage/bolt's CreateFamily: the very
// records authd writes at a password login of appClient (same fields, same
// scope and audience rules, same lifetimes as the defaults), only faster
// than logging in a million times.
type familySeeder struct {
	db       *bolt.DB
	users    []storage.User
	scope    []string
	audience string
	instance string // the client's, which a login records
}

// Default lifetimes of `authd serve` (SPEC §1).
const (
	refreshTTL     = 720 * time.Hour
	refreshIdleTTL = 168 * time.Hour
)

func openSeeder(ctx context.Context, path, issuer string, usernames []string) (*familySeeder, error) {
	db, err := bolt.Open(path, &bolt.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	s := &familySeeder{db: db}
	for _, name := range usernames {
		u, err := db.GetUser(ctx, name)
		if err != nil {
			db.Close()
			return nil, err
		}
		s.users = append(s.users, u)
	}
	cl, err := db.GetClient(ctx, appClient)
	if err != nil {
		db.Close()
		return nil, err
	}
	// The scope and audience a login without scope and resource parameters
	// gets (server.grantScope, server.audience): the client's scopes the
	// user may have, and the client's first audience or the issuer.
	for _, sc := range cl.Scopes {
		if sc != "authd:admin" {
			s.scope = append(s.scope, sc)
		}
	}
	s.audience, s.instance = issuer, cl.Instance
	if len(cl.Audiences) > 0 {
		s.audience = cl.Audiences[0]
	}
	return s, nil
}

// Close closes the database and flushes it to disk: seeding skipped fsync,
// and the server must not pay for that backlog in its first fsync'd write.
func (s *familySeeder) Close() error {
	path := s.db.Path()
	if err := s.db.Close(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// seededFamily is one family to write: its id and its first token.
type seededFamily struct {
	id    string
	token string // empty when the caller does not need the token itself
	hash  string
}

func newToken() (token, hash string) {
	var b [32]byte
	rand.Read(b[:])
	token = "authd_rt_" + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:])
}

// write stores fams, logged in at times from start on, one microsecond
// apart, spread over the users. Writes run from many goroutines so that
// the committer packs them into large transactions.
func (s *familySeeder) write(ctx context.Context, fams []seededFamily, start time.Time) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 256 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(fams)) {
					return
				}
				f := fams[i]
				u := s.users[int(i)%len(s.users)]
				now := start.Add(time.Duration(i) * time.Microsecond).UTC()
				fam := storage.Family{
					ID: f.id, UserID: u.ID, ClientID: appClient, Scope: s.scope, Audience: s.audience,
					UserGen: u.SessionGen, AuthTime: now, CreatedAt: now, LastUsedAt: now,
					ExpiresAt: now.Add(refreshTTL), ClientInstance: s.instance,
				}
				tok := storage.RefreshToken{Hash: f.hash, FamilyID: f.id, IssuedAt: now, IdleExpiresAt: now.Add(refreshIdleTTL)}
				fam.IdleExpiresAt = tok.IdleExpiresAt // as the server records it
				if err := s.db.CreateFamily(ctx, fam, tok); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return ctx.Err()
}

func newFamilyID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// seedPool writes n families of appClient, with tokens this tool keeps, into
// the database before the server starts.
func seedPool(ctx context.Context, a *authd, users []string, n int) ([]string, error) {
	s, err := openSeeder(ctx, a.db, a.base, users)
	if err != nil {
		return nil, err
	}
	fams := make([]seededFamily, n)
	for i := range fams {
		t, h := newToken()
		fams[i] = seededFamily{id: newFamilyID(), token: t, hash: h}
	}
	err = s.write(ctx, fams, time.Now().Add(-time.Duration(n)*time.Microsecond))
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	pool := make([]string, n)
	for i, f := range fams {
		pool[i] = f.token
	}
	return pool, nil
}

// seedFamilies writes n live families of appClient, spread over the users,
// with random ids and token hashes in random order, as a server's logins
// would leave them in the file.
func seedFamilies(ctx context.Context, a *authd, users []string, n int) error {
	s, err := openSeeder(ctx, a.db, a.base, users)
	if err != nil {
		return err
	}
	fams := make([]seededFamily, n)
	for i := range fams {
		_, hash := newToken()
		fams[i] = seededFamily{id: newFamilyID(), hash: hash}
	}
	err = s.write(ctx, fams, time.Now().Add(-time.Duration(n)*time.Microsecond))
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}
