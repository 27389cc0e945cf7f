package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_KEKFileModeWarning: serve warns, once and without failing, when
// the key-encryption key file is readable or writable by group or others.
func TestServe_KEKFileModeWarning(t *testing.T) {
	const warning = "key-encryption key file is accessible to other users"
	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o620, true},
		{0o604, true},
		{0o644, true},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			dbPath := newDB(t)
			kek := writeFile(t, filepath.Dir(dbPath), "kek", randomKEK(t))
			if err := os.Chmod(kek, tt.mode); err != nil {
				t.Fatal(err)
			}
			s := startServe(t, nil, "--db", dbPath, "serve", "--addr", "127.0.0.1:0", "--key-encryption-key-file", kek)
			if code := s.stop(t); code != 0 {
				t.Fatalf("serve exited %d:\n%s", code, s.err.String())
			}
			log := s.err.String()
			if n := strings.Count(log, warning); n != map[bool]int{false: 0, true: 1}[tt.warn] {
				t.Errorf("%d warnings %q, want warn=%v:\n%s", n, warning, tt.warn, log)
			}
			if tt.warn {
				for line := range strings.Lines(log) {
					if strings.Contains(line, warning) && (!strings.Contains(line, "level=WARN") || !strings.Contains(line, kek) || !strings.Contains(line, tt.mode.String())) {
						t.Errorf("warning line without level, path or mode: %q", line)
					}
				}
			}
		})
	}
}
