// Package redirecturi is the one rule for which redirect URIs a client may
// register for the authorization code flow (SPEC §1, §2.6). The admin API,
// and through it the CLI and the console, registers nothing else; the
// server's built-in console client follows it too. Matching a presented
// redirect URI against the registered ones is the authorization
// endpoint's (server/redirect.go), by exact string comparison (RFC 9700
// §4.1.3), so this package accepts only URIs whose text leaves no room
// for two readings.
//
// # What a registered redirect URI is
//
// An absolute URI (RFC 3986 §4.3) of printable ASCII, without a fragment
// (RFC 6749 §3.1.2) and without userinfo, whose scheme is written in lower
// case and is one of:
//
//   - https, with a host name or IP literal;
//   - http, only for a loopback host: localhost, an IPv4 address in
//     127.0.0.0/8 or [::1] (RFC 8252 §7.3, §8.3), any port;
//   - a private-use scheme of a native app (RFC 8252 §7.1): a reverse
//     domain name holding a dot, such as com.example.app:/callback.
//
// Hosts are written as letters, digits, '-' and '.', or a bracketed IPv6
// literal: no percent-encoding, no backslash, nothing a browser might read
// as another host than this package does. A query is allowed (RFC 6749
// §3.1.2).
//
// # Bounds
//
// A URI holds at most MaxLen bytes and a client at most MaxCount URIs, so
// that registering and matching cost at most linear work.
package redirecturi

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

const (
	// MaxLen is the longest redirect URI, in bytes.
	MaxLen = 1024
	// MaxCount is the most redirect URIs one client may register.
	MaxCount = 32
)

// Errors of Check, wrapped in an *Error that names the URI.
var (
	ErrTooLong     = fmt.Errorf("is longer than %d bytes", MaxLen)
	ErrCharacters  = errors.New("holds a character other than printable ASCII, or a backslash")
	ErrNotAbsolute = errors.New("is not an absolute URI")
	ErrFragment    = errors.New("has a fragment (#)")
	ErrUserinfo    = errors.New("has userinfo (user@)")
	ErrScheme      = errors.New("has a scheme other than https, http on a loopback host, or a private-use scheme such as com.example.app")
	ErrHTTPHost    = errors.New("uses http with a host that is not loopback (localhost, 127.0.0.0/8 or [::1]); use https")
	ErrHost        = errors.New("has no host or a host that is not a plain name or IP address")
	ErrTooMany     = fmt.Errorf("at most %d redirect URIs", MaxCount)
)

// Error says which URI broke the rule, and which part of it (Err, one of
// the errors above).
type Error struct {
	URI string
	Err error
}

func (e *Error) Error() string {
	u := e.URI
	if len(u) > 80 {
		u = u[:80] + "..."
	}
	return fmt.Sprintf("redirect URI %q %v", u, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Check reports whether uri may be registered as a redirect URI: nil, or
// an *Error. Its cost is linear in len(uri), which it bounds first.
func Check(uri string) error {
	if err := check(uri); err != nil {
		return &Error{URI: uri, Err: err}
	}
	return nil
}

func check(uri string) error {
	if len(uri) > MaxLen {
		return ErrTooLong
	}
	for i := 0; i < len(uri); i++ {
		if b := uri[i]; b <= 0x20 || b >= 0x7f || b == '\\' {
			return ErrCharacters
		}
	}
	if strings.Contains(uri, "#") {
		return ErrFragment
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return ErrNotAbsolute
	}
	// url.Parse lowers the scheme: the text must already be in lower case,
	// so that what is compared is what was checked.
	if !strings.HasPrefix(uri, u.Scheme+":") {
		return ErrScheme
	}
	if u.User != nil {
		return ErrUserinfo
	}
	switch u.Scheme {
	case "https":
		if u.Opaque != "" || !plainHost(u) {
			return ErrHost
		}
	case "http":
		if u.Opaque != "" || !plainHost(u) {
			return ErrHost
		}
		if !Loopback(u.Hostname()) {
			return ErrHTTPHost
		}
	default:
		if !privateUse(u.Scheme) {
			return ErrScheme
		}
		if u.Host != "" && !plainHost(u) {
			return ErrHost
		}
	}
	return nil
}

// plainHost reports whether u's host, as written, is a non-empty name of
// letters, digits, '-' and '.', or a bracketed IPv6 literal, with an
// optional port from 1 to 65535.
func plainHost(u *url.URL) bool {
	h := u.Hostname()
	if h == "" || strings.HasSuffix(u.Host, ":") {
		return false
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return false
		}
	}
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(h)
		return err == nil && a.Is6() && a.Zone() == ""
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

// privateUse reports whether scheme is a private-use URI scheme of RFC
// 8252 §7.1: a reverse domain name, so it holds a dot. (url.Parse has
// already checked its characters: a letter, then letters, digits, + - .)
func privateUse(scheme string) bool {
	return strings.Contains(scheme, ".") && !strings.HasPrefix(scheme, ".") && !strings.HasSuffix(scheme, ".")
}

// Loopback reports whether host (a URL's Hostname, without brackets) is a
// loopback host for which http redirect URIs are allowed: localhost, an
// IPv4 address in 127.0.0.0/8 written in dotted decimal, or ::1.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return false
	}
	return (a.Is4() && a.IsLoopback()) || (a.Is6() && a == netip.IPv6Loopback())
}

// CheckList checks a client's list of redirect URIs and returns it without
// duplicates, in the order given. A list longer than MaxCount is refused
// before any URI is looked at. Its cost is linear in the list's size.
func CheckList(uris []string) ([]string, error) {
	if len(uris) > MaxCount {
		return nil, ErrTooMany
	}
	out := make([]string, 0, len(uris))
	seen := make(map[string]struct{}, len(uris))
	for _, u := range uris {
		if err := Check(u); err != nil {
			return nil, err
		}
		if _, dup := seen[u]; !dup {
			seen[u] = struct{}{}
			out = append(out, u)
		}
	}
	return out, nil
}
