package server

import (
	"context"
	"sync"
	"time"

	"github.com/authd/authd/storage"
)

// Client records are read on every token, revocation and introspection
// request, and change rarely. The cache keeps them for clientCacheTTL; the
// admin API, through which every client change of this server passes (the
// CLI talks to it over the control socket), drops an entry at once. The TTL
// bounds how long another server on a shared store may use a deleted client.
const (
	clientCacheTTL  = 10 * time.Second
	clientCacheSize = 4096
)

type clientCache struct {
	mu sync.RWMutex
	m  map[string]cachedClient
}

type cachedClient struct {
	c  storage.Client
	at time.Time
}

// client returns the client with that id, from the cache when fresh. The
// returned value's slices are shared: callers must not modify them.
func (s *Server) client(ctx context.Context, id string) (storage.Client, error) {
	now := s.now()
	cc := &s.clients
	cc.mu.RLock()
	e, ok := cc.m[id]
	cc.mu.RUnlock()
	if ok && now.Sub(e.at) < clientCacheTTL && !now.Before(e.at) {
		return e.c, nil
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return c, err
	}
	cc.mu.Lock()
	if cc.m == nil {
		cc.m = make(map[string]cachedClient)
	}
	if _, present := cc.m[id]; present || len(cc.m) < clientCacheSize {
		cc.m[id] = cachedClient{c: c, at: now}
	}
	cc.mu.Unlock()
	return c, nil
}

// forgetClient drops a client from the cache after it changed.
func (s *Server) forgetClient(id string) {
	s.clients.mu.Lock()
	delete(s.clients.m, id)
	s.clients.mu.Unlock()
	s.cors.forget()
}
