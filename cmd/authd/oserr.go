package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
)

// The errors of the operating system that authd serve meets before it
// listens, turned into one sentence that names the file or address once.

// fileOpenErr describes a failure to open the database file at path for
// reading and writing, or returns nil if err is not a failure of the open
// system call on that path. Note that permission bits do not stop root: a
// read-only file system or an immutable file does.
func fileOpenErr(path string, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != path {
		return nil
	}
	switch {
	case errors.Is(pe.Err, syscall.EISDIR):
		return fmt.Errorf("the database %s is a directory, not a file", path)
	case errors.Is(pe.Err, syscall.ENOENT):
		return fmt.Errorf("the directory of the database %s does not exist", path)
	case errors.Is(pe.Err, syscall.ENOTDIR):
		return fmt.Errorf("a part of the path of the database %s is not a directory", path)
	}
	return fmt.Errorf("cannot open the database %s for reading and writing: %w", path, pe.Err)
}

// listenErr describes a failure of net.Listen on addr.
func listenErr(addr string, err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		if errors.Is(se.Err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s: the address is already in use by another process: %w", addr, se.Err)
		}
		return fmt.Errorf("listen on %s: %w", addr, se.Err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Errorf("listen on %s: %w", addr, oe.Err)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// tlsErr describes a failure of tls.LoadX509KeyPair(cert, key).
func tlsErr(cert, key string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		what := "certificate"
		if pe.Path == key && key != cert {
			what = "private key"
		}
		return fmt.Errorf("cannot read the TLS %s %s: %w", what, pe.Path, pe.Err)
	}
	return fmt.Errorf("the TLS certificate %s and key %s cannot be used: %w", cert, key, err)
}
