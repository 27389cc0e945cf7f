package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// socketListener is the control socket of a running server. It is created
// with mode 0600 before anyone can connect to it, and Close removes the file
// if it is still the one this listener made.
type socketListener struct {
	*net.UnixListener
	path      string
	info      fs.FileInfo
	closeOnce sync.Once
	closeErr  error
}

// socketAnswers reports whether a process accepts connections on the Unix
// socket at path.
func socketAnswers(path string, timeout time.Duration) bool {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// listenSocket creates the control socket at path. A socket file left behind
// by a server that died is removed, but only if nothing answers on it; a file
// that is not a socket is never touched.
func listenSocket(path string) (*socketListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: the file exists and is not a socket", path)
		}
		if socketAnswers(path, time.Second) {
			return nil, fmt.Errorf("control socket %s: another server answers on it", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
		}
	}
	// Bind in a private directory, restrict the mode, then move the socket
	// into place: it is never reachable with a wider mode than 0600.
	dir, err := os.MkdirTemp(filepath.Dir(path), ".authd-sock-")
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	defer os.Remove(dir)
	tmp := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	fail := func(err error) (*socketListener, error) {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &socketListener{UnixListener: l, path: path, info: fi}, nil
}

// Close stops listening and removes the socket file unless another process
// has replaced it since.
func (l *socketListener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.UnixListener.Close()
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.info) {
			os.Remove(l.path)
		}
	})
	return l.closeErr
}
