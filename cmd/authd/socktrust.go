package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"syscall"
	"time"
)

// The CLI sends passwords and client secrets over the control socket and
// believes what answers there, so before it talks to a socket it checks who
// put it there and who answers on it. Trusted are: the invoking user
// (effective uid), root, and the owner of the database file, which is the
// user a server runs as (authd under systemd, managed by root): whoever owns
// the database can read and change everything in it already.
//
// The socket path must name the socket itself: a symbolic link is refused
// rather than followed, since whoever can create one in a shared directory
// could point it anywhere (the server never creates one). A file that is not
// a socket is refused too: no server can start beside it.

// trustedUIDs are the uids whose control socket the CLI talks to.
func trustedUIDs(dbPath string) []uint32 {
	uids := []uint32{uint32(os.Geteuid()), 0}
	if fi, err := os.Stat(dbPath); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uids = append(uids, st.Uid)
		}
	}
	return uids
}

// checkSocketFile checks the file at the control socket path before the CLI
// connects to it. exists is false, with no error, when there is none.
func checkSocketFile(path string, trusted []uint32) (exists bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("cannot check the control socket %s: %w", path, err)
	case fi.Mode().Type() == fs.ModeSymlink:
		return true, fmt.Errorf("the control socket %s is a symbolic link, which authd does not follow; give the socket's own path with --socket", path)
	case fi.Mode().Type() != fs.ModeSocket:
		return true, fmt.Errorf("%s is not a socket; remove it, or give the control socket's path with --socket", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true, fmt.Errorf("cannot tell who owns the control socket %s", path)
	}
	if !slices.Contains(trusted, st.Uid) {
		return true, fmt.Errorf("the control socket %s belongs to uid %d, not to you (uid %d), root or the owner of the database file; authd does not send credentials to it", path, st.Uid, os.Geteuid())
	}
	return true, nil
}

// dialTrusted connects to the control socket and checks the uid of the
// process that answers (where the system tells it).
func dialTrusted(ctx context.Context, path string, trusted []uint32) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	uid, known, err := peerUID(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot tell who answers on the control socket %s: %w", path, err)
	}
	if known && !slices.Contains(trusted, uid) {
		c.Close()
		return nil, &untrustedPeerError{path: path, uid: uid}
	}
	return c, nil
}

// untrustedPeerError: the process answering on the control socket runs as
// a user the CLI does not trust.
type untrustedPeerError struct {
	path string
	uid  uint32
}

func (e *untrustedPeerError) Error() string {
	return fmt.Sprintf("the process answering on the control socket %s runs as uid %d, not as you (uid %d), root or the owner of the database file; authd does not send credentials to it", e.path, e.uid, os.Geteuid())
}

// trustedSocketAnswers reports whether a trusted process accepts
// connections on the control socket; it fails if an untrusted one does, or
// if the file there is not one the CLI may use.
func trustedSocketAnswers(path, dbPath string, timeout time.Duration) (bool, error) {
	trusted := trustedUIDs(dbPath)
	if exists, err := checkSocketFile(path, trusted); err != nil || !exists {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dialTrusted(ctx, path, trusted)
	var ue *untrustedPeerError
	switch {
	case errors.As(err, &ue):
		return false, err
	case err != nil:
		return false, nil
	}
	c.Close()
	return true, nil
}
