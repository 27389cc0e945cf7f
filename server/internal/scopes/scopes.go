// Package scopes holds the one definition of an OAuth scope value that
// authd accepts (RFC 6749 §3.3) and the limits of SPEC §2.1, for the token
// endpoint, the admin API and the user import alike: a value that can be
// registered can be requested, and no list of them costs more than linear
// work to read. Parse reads a scope parameter, ParseList a registered list.
package scopes

import (
	"errors"
	"strings"
)

// Admin is the scope that grants access to the admin API.
const Admin = "authd:admin"

const (
	// MaxLen is the longest scope value, in bytes.
	MaxLen = 128
	// MaxValues is the most values one scope parameter or registered list
	// may hold.
	MaxValues = 64
)

// Errors of Parse.
var (
	ErrTooMany   = errors.New("scopes: more than 64 values")
	ErrTooLong   = errors.New("scopes: a value is longer than 128 bytes")
	ErrMalformed = errors.New("scopes: a value has a character outside RFC 6749 §3.3")
)

// Valid reports whether tok is a scope-token of RFC 6749 §3.3, one or more
// of %x21 / %x23-5B / %x5D-7E, of at most MaxLen bytes.
func Valid(tok string) bool {
	return check(tok) == nil
}

func check(tok string) error {
	if tok == "" {
		return ErrMalformed
	}
	if len(tok) > MaxLen {
		return ErrTooLong
	}
	for i := 0; i < len(tok); i++ {
		b := tok[i]
		if b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
			return ErrMalformed
		}
	}
	return nil
}

// Parse splits a space-delimited scope parameter into its values, dropping
// duplicates and keeping the first order. Runs of spaces are tolerated. It
// returns nil for a parameter without values.
//
// Its work is linear in len(s), and it stops at the first value beyond
// MaxValues (ErrTooMany; duplicates count, since they cost work too), the
// first value longer than MaxLen (ErrTooLong) or the first malformed one
// (ErrMalformed).
func Parse(s string) ([]string, error) {
	var (
		out  []string
		seen map[string]struct{}
		n    int
	)
	for s != "" {
		var tok string
		tok, s, _ = strings.Cut(s, " ")
		if tok == "" {
			continue
		}
		if n++; n > MaxValues {
			return nil, ErrTooMany
		}
		if err := check(tok); err != nil {
			return nil, err
		}
		if seen == nil {
			seen = make(map[string]struct{})
		}
		if _, dup := seen[tok]; dup {
			continue
		}
		seen[tok] = struct{}{}
		out = append(out, tok)
	}
	return out, nil
}

// ValueError is the error of ParseList for a value it refuses. It matches
// ErrTooLong or ErrMalformed (an empty value is malformed).
type ValueError struct {
	Value string
	Err   error
}

func (e *ValueError) Error() string { return e.Err.Error() }

// Unwrap returns ErrTooLong or ErrMalformed.
func (e *ValueError) Unwrap() error { return e.Err }

// ParseList checks a list of scope values as registered for a user or a
// client, with the limits of Parse: at most MaxValues values (duplicates
// count), each Valid. It drops duplicates, keeping the first order, and
// returns nil for an empty list. Its error is ErrTooMany, or a *ValueError
// for the first value refused.
func ParseList(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > MaxValues {
		return nil, ErrTooMany
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]struct{}, len(in))
	for _, v := range in {
		if err := check(v); err != nil {
			return nil, &ValueError{Value: v, Err: err}
		}
		if _, dup := seen[v]; !dup {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out, nil
}
