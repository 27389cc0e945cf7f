// Package faults runs the real authd binary into resource faults: the
// listen address in use, a database file it may not write, and a full disk
// (a 2 MB tmpfs). A file system cannot be remounted read-only while authd
// holds the file open for writing, so the read-only case is a start-time
// fault. Each must give a clear
// error (or 503 while serving), leave the database uncorrupted, and recover
// once the fault is gone.
package faults

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/test/internal/authdtest"
)

// prepared returns a database initialised by one run of serve --dev, and
// the demo credentials.
func prepared(t *testing.T, bin, dir string) (string, authdtest.Dev) {
	t.Helper()
	db := filepath.Join(dir, "authd.db")
	p := authdtest.Start(t, bin, authdtest.Options{DB: db, Args: []string{"--dev"}})
	dev := p.DevCredentials(t)
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return db, dev
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestFaults_AddressInUse(t *testing.T) {
	bin := authdtest.Binary(t)
	db, _ := prepared(t, bin, t.TempDir())
	before := authdtest.Dump(t, db)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	code, _, stderr := authdtest.Run(t, bin, "", "--db", db, "serve", "--addr", addr)
	l.Close()
	msg := lastLine(stderr)
	if code != 1 || !strings.Contains(msg, addr) || !strings.Contains(msg, "address already in use") {
		t.Errorf("serve on a busy address: exit %d, last line %q; want exit 1 naming %s and \"address already in use\"", code, msg, addr)
	}
	if after := authdtest.Dump(t, db); after.Sum() != before.Sum() {
		t.Errorf("the failed start changed the database")
	}
	// Recovery: the address is free again.
	port := l.Addr().(*net.TCPAddr).Port
	p := authdtest.Start(t, bin, authdtest.Options{DB: db, Port: port})
	p.Stop(30 * time.Second)
	t.Logf("address in use: exit %d, %q; database unchanged; started once the address was free", code, msg)
}

// TestFaults_ReadOnlyFile starts authd as an unprivileged user on a
// database file it may read but not write.
func TestFaults_ReadOnlyFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run authd as another user")
	}
	bin := authdtest.Binary(t)
	dir := t.TempDir()
	db, _ := prepared(t, bin, dir)
	before := authdtest.Dump(t, db)
	sockDir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(bin), 0o755)
	os.Chmod(sockDir, 0o777)
	os.Chmod(db, 0o444)
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	_, err := authdtest.StartErr(t, bin, authdtest.Options{DB: db, Socket: filepath.Join(sockDir, "s.sock"), SysProcAttr: nobody, ReadyTimeout: 20 * time.Second})
	if err == nil {
		t.Fatal("authd served a database it may not write")
	}
	msg := err.Error()
	if !strings.Contains(msg, db) || !strings.Contains(msg, "permission denied") {
		t.Errorf("read-only database: %s\nwant a message naming %s and the permission", msg, db)
	}
	os.Chmod(db, 0o600)
	if after := authdtest.Dump(t, db); after.Sum() != before.Sum() {
		t.Errorf("the failed start changed the database")
	}
	p := authdtest.Start(t, bin, authdtest.Options{DB: db})
	p.Stop(30 * time.Second)
	t.Logf("read-only file: %s", lastLine(msg))
}

// mountTmpfs mounts a small tmpfs at dir, or skips the test.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// chain is a refresh-token chain the test drives; last is the newest token
// answered with 200.
type chain struct{ last string }

func refreshAll(p *authdtest.Proc, hc *http.Client, dev authdtest.Dev, chains []*chain) (ok, unavailable int, err error) {
	for _, c := range chains {
		a, e := authdtest.PostForm(hc, p.URL, "/token", map[string]string{"grant_type": "refresh_token", "refresh_token": c.last}, dev.ClientID, dev.Secret)
		if e != nil {
			return ok, unavailable, e
		}
		switch {
		case a.Status == http.StatusOK:
			ok++
			c.last = a.Str("refresh_token")
		case a.Status == http.StatusServiceUnavailable && a.Str("error") == "temporarily_unavailable":
			unavailable++
		default:
			return ok, unavailable, fmt.Errorf("refresh: %d %s", a.Status, a.Raw)
		}
	}
	return ok, unavailable, nil
}

func login(t *testing.T, p *authdtest.Proc, hc *http.Client, dev authdtest.Dev, n int) []*chain {
	t.Helper()
	var out []*chain
	for i := 0; i < n; i++ {
		a, err := authdtest.PostForm(hc, p.URL, "/token", map[string]string{"grant_type": "password", "username": dev.Username, "password": dev.Password}, dev.ClientID, dev.Secret)
		if err != nil || a.Status != http.StatusOK {
			t.Fatalf("login: %v %d %s", err, a.Status, a.Raw)
		}
		out = append(out, &chain{last: a.Str("refresh_token")})
	}
	return out
}

// checkChains reopens the database and presents every chain's last token:
// each is accepted (it was answered, so it is on disk).
func checkChains(t *testing.T, bin, db string, dev authdtest.Dev, chains []*chain) {
	t.Helper()
	authdtest.Dump(t, db) // opens through the storage API
	p := authdtest.Start(t, bin, authdtest.Options{DB: db})
	hc := &http.Client{Timeout: 20 * time.Second}
	if ok, un, err := refreshAll(p, hc, dev, chains); err != nil || ok != len(chains) {
		t.Errorf("after the fault: %d of %d answered tokens accepted, %d unavailable, %v", ok, len(chains), un, err)
	}
	p.Stop(30 * time.Second)
}

// TestFaults_DiskFull fills a small tmpfs under a serving authd: writes
// answer 503, and once space is freed they succeed again; nothing answered
// is lost and the file opens.
func TestFaults_DiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	bin := authdtest.Binary(t)
	dir := t.TempDir()
	mountTmpfs(t, dir, "2m")
	db, dev := prepared(t, bin, dir)
	p := authdtest.Start(t, bin, authdtest.Options{DB: db})
	hc := &http.Client{Timeout: 20 * time.Second}
	chains := login(t, p, hc, dev, 8)
	filler := filepath.Join(dir, "filler")
	if err := fill(filler); err != nil {
		t.Fatal(err)
	}
	var ok, un int
	for i := 0; i < 400 && un < 20; i++ {
		o, u, err := refreshAll(p, hc, dev, chains)
		if err != nil {
			t.Fatalf("while the disk is full: %v\n%s", err, p.Stderr())
		}
		ok, un = ok+o, un+u
	}
	if un == 0 {
		t.Fatalf("the disk never filled: %d refreshes all answered 200", ok)
	}
	if r, err := hc.Get(p.URL + "/healthz"); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("healthz while the disk is full: %v", err)
	}
	os.Remove(filler)
	var ok2 int
	for i := 0; i < 5 && ok2 == 0; i++ {
		o, _, err := refreshAll(p, hc, dev, chains)
		if err != nil {
			t.Fatal(err)
		}
		ok2 += o
	}
	if o, u, err := refreshAll(p, hc, dev, chains); err != nil || o != len(chains) {
		t.Errorf("after freeing space: %d ok, %d unavailable, %v", o, u, err)
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	if strings.Contains(p.Stderr(), "panic") {
		t.Errorf("panic in the log")
	}
	checkChains(t, bin, db, dev, chains)
	t.Logf("disk full: %d refreshes ok before the disk filled, %d answered 503 while full, all %d chains accepted after space was freed and after a restart; the log says: %s",
		ok, un, len(chains), firstMatch(p.Stderr(), "request failed"))
}

// fill writes to path until the file system is full.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < 1<<20; i++ {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
	return errors.New("the file system did not fill")
}

func firstMatch(s, sub string) string {
	l := authdtest.Lines(s, sub)
	if len(l) == 0 {
		return "(nothing)"
	}
	return l[0]
}
