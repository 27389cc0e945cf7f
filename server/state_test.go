package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/keys"
)

// countingKeys counts the reads of the key store through List.
type countingKeys struct {
	Keys
	lists atomic.Int32
}

func (k *countingKeys) List(ctx context.Context) ([]keys.Info, error) {
	k.lists.Add(1)
	return k.Keys.List(ctx)
}

// header is the header of the answer to GET path.
func (e *testEnv) header(path string) http.Header {
	e.t.Helper()
	resp, err := http.Get(e.url + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Header
}

// TestMetrics_KeyGauges: the signing-key gauges come from the key
// manager's state in memory, on the server's clock: a scrape reads no
// storage.
func TestMetrics_KeyGauges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ck := &countingKeys{Keys: e.srv.keys}
	e.srv.keys = ck
	e.clock.Advance(90 * time.Second)

	body := e.get("/metrics")
	if n := ck.lists.Load(); n != 0 {
		t.Errorf("a scrape listed the stored keys %d times, want 0", n)
	}
	for _, want := range []string{
		"\nauthd_signing_key_age_seconds 90\n",
		"\nauthd_signing_key_next_rotation_seconds 86310\n", // 24h - 90s
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics do not have %q", strings.TrimSpace(want))
		}
	}
}

// TestRequestID_PerServer: each server has its own source of request ids:
// a random prefix of its own and a counter.
func TestRequestID_PerServer(t *testing.T) {
	t.Parallel()
	a, b := newEnv(t), newEnv(t)
	id := func(e *testEnv) string {
		return e.header("/healthz").Get("X-Request-Id")
	}
	a1, a2, b1 := id(a), id(a), id(b)
	if len(a1) != 32 || len(a2) != 32 || len(b1) != 32 {
		t.Fatalf("request ids %q %q %q, want 32 hex digits", a1, a2, b1)
	}
	if a1[:16] != a2[:16] {
		t.Errorf("one server's ids %q and %q have different prefixes", a1, a2)
	}
	if a1[:16] == b1[:16] {
		t.Errorf("two servers' ids %q and %q share the prefix %q", a1, b1, a1[:16])
	}
	if a1 == a2 {
		t.Errorf("two requests got the same id %q", a1)
	}
	if a1[16:] != "0000000000000001" || b1[16:] != "0000000000000001" {
		t.Errorf("first ids %q and %q, want each server's counter to start at 1", a1, b1)
	}
}
