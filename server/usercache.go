package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/authd/authd/storage"
)

// tokenCurrent reads, for every user's access token introspected or
// presented to the admin API, whether its user exists, is disabled, and
// its session generation (SPEC §2.4). The cache keeps that much of a user
// for userCacheTTL. Every change of a user through this server (the admin
// API; the CLI talks to it over the control socket) drops the entry at
// once, after the change is committed; the TTL bounds how long another
// server on a shared store may count a token current after a change made
// through that server. The password grant's rehash changes only the hash
// and drops nothing.
//
// A "not found" is cached too: user ids are random and never reused, so
// an id that names no user names none later (a user created again under
// the same name has a new id).
const (
	userCacheTTL  = 10 * time.Second
	userCacheSize = 4096
)

// userState is what tokenCurrent needs of a user.
type userState struct {
	exists   bool
	disabled bool
	gen      uint64
}

type cachedUser struct {
	st userState
	at time.Time
}

type userCache struct {
	mu sync.RWMutex
	m  map[string]cachedUser
	// epoch counts the entries dropped. A read from storage that began in
	// an earlier epoch may have seen a user as it was before a change and
	// is not cached (put).
	epoch uint64
}

// get returns the cached state of the user with that id, if fresh at now.
func (c *userCache) get(id string, now time.Time) (userState, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || now.Sub(e.at) >= userCacheTTL || now.Before(e.at) {
		return userState{}, false
	}
	return e.st, true
}

// begin is called before a read from storage whose result is to be put.
func (c *userCache) begin() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// put caches st, read from storage after begin returned epoch, unless an
// entry was dropped since or the cache is full.
func (c *userCache) put(id string, st userState, epoch uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if c.m == nil {
		c.m = make(map[string]cachedUser)
	}
	if _, present := c.m[id]; !present && len(c.m) >= userCacheSize {
		// Full: make room by dropping what has expired.
		for k, e := range c.m {
			if now.Sub(e.at) >= userCacheTTL || now.Before(e.at) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= userCacheSize {
			return
		}
	}
	c.m[id] = cachedUser{st: st, at: now}
}

// forget drops the user with that id.
func (c *userCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.epoch++
	c.mu.Unlock()
}

func (c *userCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// userState returns what tokenCurrent needs of the user with that id,
// from the cache when fresh.
func (s *Server) userState(ctx context.Context, id string) (userState, error) {
	now := s.now()
	if st, ok := s.users.get(id, now); ok {
		return st, nil
	}
	epoch := s.users.begin()
	u, err := s.store.GetUserByID(ctx, id)
	var st userState
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return st, err
	default:
		st = userState{exists: true, disabled: u.Disabled, gen: u.SessionGen}
	}
	s.users.put(id, st, epoch, now)
	return st, nil
}

// forgetUser drops a user from the cache after it changed.
func (s *Server) forgetUser(id string) { s.users.forget(id) }
