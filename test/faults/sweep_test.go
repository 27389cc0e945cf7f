package faults

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd/authd/test/internal/authdtest"
)

// TestServe_SweepsExpiredFamilies: SPEC §3, expired families are removed by
// a background sweep. A family whose absolute lifetime has passed must be
// gone from the file a little while after authd serve starts (the sweep
// runs once at start, then every minute).
func TestServe_SweepsExpiredFamilies(t *testing.T) {
	bin := authdtest.Binary(t)
	db := filepath.Join(t.TempDir(), "authd.db")
	opts := authdtest.Options{DB: db, Args: []string{"--dev", "--refresh-ttl", "1s"}}
	p := authdtest.Start(t, bin, opts)
	dev := p.DevCredentials(t)
	hc := &http.Client{Timeout: 20 * time.Second}
	login(t, p, hc, dev, 1)
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(authdtest.Dump(t, db).Families); n != 1 {
		t.Fatalf("%d families after one login, want 1", n)
	}
	time.Sleep(1500 * time.Millisecond)
	p = authdtest.Start(t, bin, opts)
	time.Sleep(2 * time.Second)
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(authdtest.Dump(t, db).Families); n != 0 {
		t.Errorf("%d expired families still stored 2s after authd serve started; the background sweep (server.Run) does not run", n)
	}
}
