package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_SecretFileWarnings: serve warns, once per file and without
// failing, when the key-encryption key file or the TLS key file is
// readable or writable by group or others, or belongs to another user than
// the server's or root.
func TestServe_SecretFileWarnings(t *testing.T) {
	for _, tt := range []struct {
		file string // "kek" or "tls"
		mode os.FileMode
		uid  int
		warn bool
	}{
		{"kek", 0o600, 0, false},
		{"kek", 0o400, 0, false},
		{"kek", 0o640, 0, true},
		{"kek", 0o620, 0, true},
		{"kek", 0o604, 0, true},
		{"kek", 0o644, 0, true},
		{"kek", 0o600, 65534, true},
		{"tls", 0o600, 0, false},
		{"tls", 0o644, 0, true},
		{"tls", 0o400, 65534, true},
	} {
		t.Run(fmt.Sprintf("%s %s uid %d", tt.file, tt.mode, tt.uid), func(t *testing.T) {
			if tt.uid != os.Geteuid() && os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user")
			}
			dbPath := newDB(t)
			dir := filepath.Dir(dbPath)
			args := []string{"--db", dbPath, "serve", "--addr", "127.0.0.1:0"}
			var path, what string
			if tt.file == "kek" {
				path, what = writeFile(t, dir, "kek", randomKEK(t)), "the key-encryption key file"
				args = append(args, "--key-encryption-key-file", path)
			} else {
				var cert string
				cert, path, _ = selfSigned(t, dir, "server")
				what = "the TLS key file"
				args = append(args, "--tls-cert", cert, "--tls-key", path)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.uid != os.Geteuid() {
				chown(t, path, tt.uid)
			}
			s := startServe(t, nil, args...)
			if code := s.stop(t); code != 0 {
				t.Fatalf("serve exited %d:\n%s", code, s.err.String())
			}
			log := s.err.String()
			warning := what + " is open to other users"
			want := 0
			if tt.warn {
				want = 1
			}
			if n := strings.Count(log, warning); n != want {
				t.Errorf("%d warnings %q, want %d:\n%s", n, warning, want, log)
			}
			for line := range strings.Lines(log) {
				if strings.Contains(line, warning) && (!strings.Contains(line, "level=WARN") || !strings.Contains(line, path) ||
					!strings.Contains(line, tt.mode.String()) || !strings.Contains(line, fmt.Sprintf("uid=%d", tt.uid))) {
					t.Errorf("warning line without level, path, mode or owner: %q", line)
				}
			}
		})
	}
}
