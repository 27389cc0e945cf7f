// Package account holds the rules about user accounts that the token
// endpoint, the admin API and the import share, each in one place: how a
// username is normalised (NormalizeUsername), which scopes a user may be
// registered with (Scopes), and how a file of users to import is read
// (ParseImport). Password hashing is package password's.
//
// All functions are safe for concurrent use.
package account

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd/server/internal/scopes"
)

// MaxUsernameLen is the longest username, in bytes of its lower-cased
// UTF-8 form (lower-casing may change the length). It is the one limit of
// creation, import and login: NormalizeUsername applies it for all three.
const MaxUsernameLen = 256

var errUsernameLen = fmt.Errorf("username must be 1 to %d bytes long (UTF-8, lower-cased)", MaxUsernameLen)

// NormalizeUsername lower-cases a username and checks it: valid UTF-8, 1 to
// MaxUsernameLen bytes once lower-cased, and no control, format (such as
// zero-width or bidirectional marks) or white-space characters, and no ':'.
// Every path that creates a user or looks one up by name (the admin API,
// the import, the password grant) goes through it, so a name that can be
// created can log in.
func NormalizeUsername(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("username is not valid UTF-8")
	}
	if len(s) > 4*MaxUsernameLen {
		// Lower-casing shrinks a string to no less than a third (the
		// Kelvin sign, 3 bytes, becomes k); do not copy a longer input
		// only to refuse it.
		return "", errUsernameLen
	}
	s = strings.ToLower(s)
	if len(s) == 0 || len(s) > MaxUsernameLen {
		return "", errUsernameLen
	}
	for _, r := range s {
		switch {
		case r == ':':
			return "", errors.New("username must not contain ':'")
		case unicode.IsSpace(r):
			return "", errors.New("username must not contain white space")
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return "", errors.New("username must not contain control or format characters")
		}
	}
	return s, nil
}

// ErrAdminScope is the error of Scopes for a list that holds authd:admin,
// which a user is granted with the admin flag instead.
var ErrAdminScope = errors.New("account: authd:admin is granted with the admin flag, not in scopes")

// Scopes checks the scopes a user is registered with, by the rules of any
// registered list of scopes (scopes.ParseList: RFC 6749 §3.3 values, at
// most 64 of at most 128 bytes): duplicates are dropped, an empty list
// (any scope but authd:admin) is nil. Its error is scopes.ErrTooMany, a
// *scopes.ValueError (matching scopes.ErrTooLong or scopes.ErrMalformed),
// or ErrAdminScope.
func Scopes(in []string) ([]string, error) {
	out, err := scopes.ParseList(in)
	if err != nil {
		return nil, err
	}
	for _, s := range out {
		if s == scopes.Admin {
			return nil, ErrAdminScope
		}
	}
	return out, nil
}
