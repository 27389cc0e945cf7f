package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// countingStore counts the user reads by id of the server's storage.
type countingStore struct {
	storage.Storage
	userByID atomic.Int64
}

func (s *countingStore) GetUserByID(ctx context.Context, id string) (storage.User, error) {
	s.userByID.Add(1)
	return s.Storage.GetUserByID(ctx, id)
}

// A second introspection of a user's token reads no user record: what
// tokenCurrent needs of the user comes from the cache.
func TestUserCache_SecondIntrospectionReadsNothing(t *testing.T) {
	cs := &countingStore{}
	e, login := privEnv(t, func(s storage.Storage) storage.Storage { cs.Storage = s; return cs })
	at := login.str("access_token")
	if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != true {
		t.Fatalf("first: %s", r.Raw)
	}
	before := cs.userByID.Load()
	for range 3 {
		if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != true {
			t.Fatalf("again: %s", r.Raw)
		}
	}
	if n := cs.userByID.Load() - before; n != 0 {
		t.Errorf("%d user reads for three more introspections, want 0", n)
	}
	// The TTL is the backstop for changes made elsewhere (another server on
	// a shared store): past it, the user is read again.
	e.clock.Advance(userCacheTTL)
	e.introspect(at, "rs", rsSecret)
	if n := cs.userByID.Load() - before; n != 1 {
		t.Errorf("%d user reads after the TTL, want 1", n)
	}
}

// A change made in the store behind this server's back (as another server
// on a shared store would) counts from the end of the TTL at the latest.
func TestUserCache_TTLBoundsChangesElsewhere(t *testing.T) {
	e, login := privEnv(t, nil)
	at := login.str("access_token")
	if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != true {
		t.Fatalf("before: %s", r.Raw)
	}
	e.updateUser("carol", func(u *storage.User) { u.Disabled = true })
	e.clock.Advance(userCacheTTL - time.Nanosecond)
	if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != true {
		t.Fatalf("within the TTL: %s (the cache was not used)", r.Raw)
	}
	e.clock.Advance(time.Nanosecond)
	if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != false {
		t.Fatalf("at the TTL: %s, want inactive", r.Raw)
	}
}

// A "not found" is cached too: a user id is random and never reused, so
// it stays true; a user created afterwards has another id.
func TestUserCache_NotFound(t *testing.T) {
	cs := &countingStore{}
	e, login := privEnv(t, func(s storage.Storage) storage.Storage { cs.Storage = s; return cs })
	at := login.str("access_token")
	e.direct("DELETE", "/admin/api/users/carol", "")
	if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != false {
		t.Fatalf("after delete: %s", r.Raw)
	}
	before := cs.userByID.Load()
	if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != false {
		t.Fatalf("after delete, again: %s", r.Raw)
	}
	if n := cs.userByID.Load() - before; n != 0 {
		t.Errorf("%d user reads for a user known not to exist, want 0", n)
	}
	e.direct("POST", "/admin/api/users", `{"username":"carol","password":"carol-password"}`)
	if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != false {
		t.Fatalf("after carol was created again: %s", r.Raw)
	}
	login2 := e.login("app", privSecret, "carol", "carol-password")
	if r := e.introspect(login2.str("access_token"), "rs", rsSecret); r.Body["active"] != true {
		t.Fatalf("new carol's token: %s", r.Raw)
	}
}

// A read that began before a change and ends after the change dropped
// the entry must not put the old state back into the cache.
func TestUserCache_NoStaleRefill(t *testing.T) {
	e, _ := privEnv(t, nil)
	s := e.srv
	u, err := e.store.GetUser(context.Background(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	epoch := s.users.begin()
	s.forgetUser(u.ID) // a change committed while the read was under way
	s.users.put(u.ID, userState{exists: true, gen: u.SessionGen}, epoch, s.now())
	if _, ok := s.users.get(u.ID, s.now()); ok {
		t.Error("a read begun before the change filled the cache after it")
	}
}

// The cache holds at most userCacheSize users.
func TestUserCache_Bounded(t *testing.T) {
	var c userCache
	now := time.Unix(0, 0)
	for i := range userCacheSize + 10 {
		c.put(string(rune(i+1))+"-id", userState{exists: true}, c.begin(), now)
	}
	if n := c.len(); n > userCacheSize {
		t.Errorf("%d entries, want at most %d", n, userCacheSize)
	}
}
