package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the reference child, as the tool's
// binary does.
func TestMain(m *testing.M) {
	if dir := os.Getenv(refDirEnv); dir != "" {
		if err := refServerMain(dir); err != nil {
			fmt.Fprintf(os.Stderr, "reference server: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchSmoke runs every scenario in --short mode against a freshly
// built authd and checks that each completes with answers and without a
// single unexpected one. It checks no figures: a second per scenario on a
// shared machine says nothing about speed.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and loads a real server; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's CPU and memory from /proc")
	}
	bin := filepath.Join(t.TempDir(), "authd")
	bctx, bcancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer bcancel()
	if err := buildAuthd(bctx, bin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"--short", "--authd", bin, "--json", jsonPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("authd-bench --short: %v\nprogress:\n%s\ntable:\n%s", err, stderr.String(), stdout.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("decode %s: %v", jsonPath, err)
	}
	want := []string{
		"ceiling fixed-bytes jwks", "jwks", "jwks-304", "ceiling fixed-bytes metadata", "metadata",
		"ceiling sign", "client_credentials", "ceiling verify", "introspect",
		"ceiling sign+write@4", "refresh@4", "ceiling sign+write@1", "refresh@1",
		"ceiling write", "revoke", "ceiling argon2id raw", argonReusedRow, "password@2", "password@4",
		"ceiling sign×2+write", "code-exchange", "ceiling argon2id raw (round)", fmt.Sprintf("authcode-round@%d", 2*gomaxprocs()),
		"flood: refresh, no flood", "flood: wrong passwords", "flood: refresh, in flood", "flood: valid logins",
		"ES256 ceiling sign", "ES256 client_credentials", "ES256 ceiling sign+write@4", "ES256 refresh@4",
		"EdDSA ceiling sign", "EdDSA client_credentials", "EdDSA ceiling sign+write@4", "EdDSA refresh@4",
	}
	rows := map[string]result{}
	for _, r := range s.Rows {
		rows[r.Scenario] = r
	}
	for _, name := range want {
		r, ok := rows[name]
		switch {
		case !ok:
			t.Errorf("scenario %q missing from the results", name)
		case r.Errors != 0:
			t.Errorf("%s: got %d unexpected answers (%s), want 0", name, r.Errors, r.ErrorKinds)
		case r.Requests == 0:
			t.Errorf("%s: got no answers in the measured window", name)
		}
	}
	if len(s.Targets) == 0 {
		t.Error("no targets evaluated")
	}
}
