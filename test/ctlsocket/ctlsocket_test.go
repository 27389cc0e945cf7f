package ctlsocket

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/test/internal/authdtest"
)

// TestControlSocket_PeerUser runs authd serve as another user (as under
// systemd: the authd user owns the database and the socket) and manages it
// as root through the socket. Then it makes the socket file and the
// database root's while the server still runs as the other user: the file
// checks pass, but the process answering on the socket is not one the CLI
// trusts (SO_PEERCRED), so it refuses, sends nothing and says so.
func TestControlSocket_PeerUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run authd as another user")
	}
	const nobody = 65534
	bin := authdtest.Binary(t)
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	// A state directory of the service user, as systemd makes it.
	dir, err := os.MkdirTemp("", "authd-ctlsocket-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "authd.db")
	sock := db + ".sock"
	asNobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	p := authdtest.Start(t, bin, authdtest.Options{DB: db, Socket: sock, SysProcAttr: asNobody})
	defer p.Stop(30 * time.Second)

	// Root manages the server of the database's owner.
	code, _, stderr := authdtest.Run(t, bin, "alice-password\n", "--db", db, "user", "add", "alice", "--password-stdin")
	if code != 0 {
		t.Fatalf("root's user add through the socket of the database owner's server: exit %d: %s", code, stderr)
	}

	// The socket file and the database are root's now; the process that
	// answers is still the other user's.
	for _, f := range []string{sock, db} {
		if err := os.Lchown(f, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr = authdtest.Run(t, bin, "mallory-password\n", "--db", db, "user", "add", "mallory", "--password-stdin")
	if code != 1 || !strings.Contains(stderr, "runs as uid 65534") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("user add through a socket answered by an untrusted user: exit %d: %q", code, stderr)
	}

	if err := os.Lchown(db, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := authdtest.Run(t, bin, "", "--db", db, "user", "list")
	if code != 0 {
		t.Fatalf("user list: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "alice") || strings.Contains(stdout, "mallory") {
		t.Errorf("users after the refused command:\n%s", stdout)
	}
}
