package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_SocketTrust: the CLI sends passwords over the control socket, so
// it talks only to a socket owned by the invoking user, root or the owner of
// the database file; it refuses (exit 1, one sentence, nothing sent) one
// owned by anyone else, a symbolic link and a file that is not a socket.
func TestCLI_SocketTrust(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	const other = 65534
	tests := []struct {
		name    string
		prepare func(t *testing.T, dbPath, sockPath string) (socketArg string)
		err     string // "" when the command must go through
	}{
		{"owned by the invoking user", func(t *testing.T, dbPath, sockPath string) string {
			return sockPath
		}, ""},
		{"owned by another user", func(t *testing.T, dbPath, sockPath string) string {
			chown(t, sockPath, other)
			return sockPath
		}, "belongs to uid 65534"},
		{"owned by the owner of the database", func(t *testing.T, dbPath, sockPath string) string {
			chown(t, sockPath, other)
			chown(t, dbPath, other)
			return sockPath
		}, ""},
		{"a symbolic link to the socket", func(t *testing.T, dbPath, sockPath string) string {
			link := filepath.Join(filepath.Dir(dbPath), "link.sock")
			if err := os.Symlink(sockPath, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbPath := newDB(t)
			sockPath := dbPath + ".sock"
			ts := startServer(t, dbPath) // holds the database: only the socket reaches it
			socketArg := tt.prepare(t, dbPath, sockPath)
			r := cli(t, nil, "secret-password\n", "--db", dbPath, "--socket", socketArg, "user", "add", "eve", "--password-stdin")
			if tt.err == "" {
				if r.code != 0 {
					t.Fatalf("user add: %v", r)
				}
			} else {
				if r.code != 1 || !strings.Contains(r.stderr, tt.err) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("user add: %v\nwant exit 1 and one line with %q", r, tt.err)
				}
			}
			// Nothing reached the server unless the socket was trusted.
			ts.stop()
			r = mustCLI(t, nil, "", "--db", dbPath, "--socket", filepath.Join(t.TempDir(), "none.sock"), "user", "list")
			if got, want := strings.Contains(r.stdout, "eve"), tt.err == ""; got != want {
				t.Errorf("user eve exists: %v, want %v", got, want)
			}
		})
	}
}

// TestCLI_SocketNotASocket: a file at the socket path that is not a socket
// is refused, not ignored, and left alone.
func TestCLI_SocketNotASocket(t *testing.T) {
	dbPath := newDB(t)
	sockPath := writeFile(t, filepath.Dir(dbPath), "authd.db.sock", "not a socket")
	r := cli(t, nil, "", "--db", dbPath, "user", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "is not a socket") {
		t.Errorf("user list with a regular file at the socket path: %v", r)
	}
	if b, _ := os.ReadFile(sockPath); string(b) != "not a socket" {
		t.Error("the file at the socket path was changed")
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}
