package faults

import (
	"bufio"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/test/internal/authdtest"
)

// TestServe_SweepsExpiredFamilies: SPEC §3, expired families are removed by
// a background sweep. A family whose absolute lifetime has passed must be
// gone from the file once the sweep authd serve runs at start has run (it
// then runs every minute).
//
// Nothing is guessed from the machine's speed: the test waits for the
// instant the stored family expires (authd runs on the real clock), then for
// the sweep's own counter, authd_swept_total{kind="family"}, to count it.
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
	fams := authdtest.Dump(t, db).Families
	if len(fams) != 1 {
		t.Fatalf("%d families after one login, want 1", len(fams))
	}
	// The sweep removes what expired before its now; ExpiresAt is exact.
	time.Sleep(time.Until(fams[0].ExpiresAt.Add(time.Millisecond)))

	p = authdtest.Start(t, bin, opts)
	// The bound is for a failing test only: on a sound server the counter
	// moves as soon as the first sweep's first batch commits.
	const bound = 30 * time.Second
	deadline := time.Now().Add(bound)
	for {
		n, err := sweptFamilies(hc, p.URL)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("authd_swept_total{kind=\"family\"} still 0 %s after authd serve was ready; the background sweep (server.Run) does not run", bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(authdtest.Dump(t, db).Families); n != 0 {
		t.Errorf("%d expired families still stored after the sweep counted one", n)
	}
}

// sweptFamilies reads authd_swept_total{kind="family"} from /metrics; a
// counter not yet exported reads 0.
func sweptFamilies(hc *http.Client, base string) (float64, error) {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), `authd_swept_total{kind="family"} `)
		if !ok {
			continue
		}
		return strconv.ParseFloat(v, 64)
	}
	return 0, sc.Err()
}
