package server

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestClientCache: a client deleted through the admin API fails at once; one
// deleted behind the server's back (another server on a shared store) fails
// once the cache entry is older than its TTL.
func TestClientCache(t *testing.T) {
	e := newEnv(t)
	e.addClient("app", appSecret, nil)
	e.addClient("other", rsSecret, nil)
	e.addUser("alice", "pw", nil)
	for _, id := range []string{"app", "other"} {
		secret := map[string]string{"app": appSecret, "other": rsSecret}[id]
		if r := e.login(id, secret, "alice", "pw"); r.Status != 200 {
			t.Fatalf("%s: %d %s", id, r.Status, r.Raw)
		}
	}
	if r := e.direct("DELETE", "/admin/api/clients/app", ""); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := e.login("app", appSecret, "alice", "pw"); r.Status != 401 {
		t.Fatalf("deleted client through the admin API: %d, want 401 at once", r.Status)
	}

	if err := e.store.DeleteClient(context.Background(), "other"); err != nil {
		t.Fatal(err)
	}
	if r := e.login("other", rsSecret, "alice", "pw"); r.Status != 200 {
		t.Fatalf("cached client: %d, want 200 within the TTL", r.Status)
	}
	e.clock.Advance(clientCacheTTL + time.Second)
	if r := e.login("other", rsSecret, "alice", "pw"); r.Status != 401 {
		t.Fatalf("client deleted in the store, after the TTL: %d, want 401", r.Status)
	}
}
