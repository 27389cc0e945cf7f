// Package rotation runs the real authd binary with a short --key-rotation
// while clients take access tokens at full speed, and verifies every token
// at once with a strict caching verifier: it fetches the JWKS, keeps it for
// exactly the Cache-Control max-age, and never refetches on an unknown kid.
// SPEC §2.3: such a verifier never meets an unknown key.
package rotation

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/test/internal/authdtest"
)

// verifier is a strict caching JWKS verifier.
type verifier struct {
	base    string
	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	expires time.Time
	fetches atomic.Int64
}

var maxAgeRE = regexp.MustCompile(`max-age=(\d+)`)

func (v *verifier) set() (jose.JSONWebKeySet, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if time.Now().Before(v.expires) {
		return v.keys, nil
	}
	// The cache lifetime counts from before the request, so that it never
	// outlives what the server promised.
	start := time.Now()
	resp, err := http.Get(v.base + "/.well-known/jwks.json")
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(b, &ks); err != nil {
		return jose.JSONWebKeySet{}, err
	}
	m := maxAgeRE.FindStringSubmatch(resp.Header.Get("Cache-Control"))
	if m == nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("JWKS without max-age: %q", resp.Header.Get("Cache-Control"))
	}
	n, _ := strconv.Atoi(m[1])
	v.keys, v.expires = ks, start.Add(time.Duration(n)*time.Second)
	v.fetches.Add(1)
	return ks, nil
}

// verify checks tok's RS256 signature against the cached set only.
func (v *verifier) verify(tok string) (kid string, err error) {
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", err
	}
	kid = jws.Signatures[0].Header.KeyID
	ks, err := v.set()
	if err != nil {
		return kid, err
	}
	keys := ks.Key(kid)
	if len(keys) == 0 {
		return kid, fmt.Errorf("kid %s is not in the cached JWKS", kid)
	}
	if _, err := jws.Verify(keys[0].Key); err != nil {
		return kid, err
	}
	return kid, nil
}

func TestRotation_UnderLoad(t *testing.T) {
	rotations, period := 3, 3*time.Second
	if authdtest.Long() {
		rotations = 10
	}
	bin := authdtest.Binary(t)
	db := filepath.Join(t.TempDir(), "authd.db")
	p := authdtest.Start(t, bin, authdtest.Options{DB: db, Args: []string{"--dev", "--key-rotation", period.String(), "--jwks-max-age", "1s"}})
	dev := p.DevCredentials(t)
	v := &verifier{base: p.URL}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

	var issued, failures atomic.Int64
	var mu sync.Mutex
	kids := []string{}
	done := make(chan struct{})
	deadline := time.Now().Add(time.Duration(rotations+3) * period * 2)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				a, err := authdtest.PostForm(hc, p.URL, "/token", map[string]string{"grant_type": "client_credentials"}, dev.ClientID, dev.Secret)
				if err != nil || a.Status != http.StatusOK {
					failures.Add(1)
					t.Errorf("token: %v %d %s", err, a.Status, a.Raw)
					continue
				}
				issued.Add(1)
				kid, err := v.verify(a.Str("access_token"))
				if err != nil {
					failures.Add(1)
					t.Errorf("strict caching verifier: %v", err)
					continue
				}
				mu.Lock()
				if len(kids) == 0 || kids[len(kids)-1] != kid {
					kids = append(kids, kid)
				}
				mu.Unlock()
			}
		})
	}
	for {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		n := len(kids) - 1
		mu.Unlock()
		if n >= rotations || time.Now().After(deadline) || failures.Load() > 20 {
			break
		}
	}
	close(done)
	wg.Wait()
	if len(kids)-1 < rotations {
		t.Errorf("saw %d rotations, want %d", len(kids)-1, rotations)
	}
	t.Logf("rotation under load: %d rotations, %d tokens issued and verified, %d JWKS fetches, %d failures", len(kids)-1, issued.Load(), v.fetches.Load(), failures.Load())
	if err := p.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
}
