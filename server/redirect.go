package server

import (
	"net/url"
	"strings"
)

// Redirect URIs of the authorization code flow (SPEC 2.6) are compared as
// strings, exactly (RFC 9700 §4.1.3): nothing is normalised, neither case,
// nor percent-encoding, nor a default port, nor a trailing slash. The one
// exception is RFC 8252 §7.3: a registered http://127.0.0.1 or
// http://[::1] URI matches the same URI with any port, because native apps
// listen on a port the operating system picks.

// loopbackPrefixes are the beginnings of the URIs RFC 8252 §7.3 lets vary
// in their port: the loopback IP literals over plain http ("localhost" is
// not one, RFC 8252 §8.3).
var loopbackPrefixes = [...]string{"http://127.0.0.1", "http://[::1]"}

// A registered URI on the issuer's own origin (the console's ISSUER/admin/,
// when the issuer is http://127.0.0.1:PORT) is no native app's: authd
// itself listens on that port, and a code sent to the same path on another
// port would reach whatever else listens there. It is compared exactly, and
// CORS allows only its own origin (corsOrigins).

// redirectRegistered reports whether given names one of a client's
// registered redirect URIs: exactly, or by RFC 8252 §7.3's any-port rule
// for a loopback URI that is not on the issuer's origin.
func (s *Server) redirectRegistered(registered []string, given string) bool {
	for _, r := range registered {
		if r == given {
			return true
		}
	}
	var native []string
	for _, r := range registered {
		if !s.onIssuerOrigin(r) {
			native = append(native, r)
		}
	}
	_, ok := matchRedirectURI(native, given)
	return ok
}

// onIssuerOrigin reports whether uri has the issuer's web origin.
func (s *Server) onIssuerOrigin(uri string) bool {
	o, ok := exactOrigin(uri)
	io, iok := exactOrigin(s.cfg.Issuer)
	return ok && iok && o == io
}

// exactOrigin is the web origin of an http(s) URI, port included:
// scheme://host[:port], lower case, without a default port (the form of
// requestOrigin's origin).
func exactOrigin(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	return scheme + "://" + hostPort(host, nonDefaultPort(scheme, u.Port())), true
}

// matchRedirectURI returns the registered URI that given names, and false
// when it names none. given is the redirect_uri parameter as sent.
func matchRedirectURI(registered []string, given string) (string, bool) {
	for _, r := range registered {
		if r == given {
			return r, true
		}
	}
	gp, grest, ok := splitLoopback(given)
	if !ok {
		return "", false
	}
	for _, r := range registered {
		if rp, rrest, ok := splitLoopback(r); ok && rp == gp && rrest == grest {
			return r, true
		}
	}
	return "", false
}

// splitLoopback splits a loopback redirect URI into its scheme and host
// and what follows the port: "http://127.0.0.1:8080/cb?x" gives
// "http://127.0.0.1" and "/cb?x". ok is false unless u starts with a
// loopback prefix followed by an optional port (1 to 65535, decimal digits
// without a leading zero) and then the end, a path or a query: anything
// else after the host ("@evil.example", ".evil.example", "#") makes it
// another URI, compared exactly.
func splitLoopback(u string) (prefix, rest string, ok bool) {
	for _, p := range loopbackPrefixes {
		if !strings.HasPrefix(u, p) {
			continue
		}
		rest = u[len(p):]
		if strings.HasPrefix(rest, ":") {
			n := 1
			for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
				n++
			}
			if !validPort(rest[1:n]) {
				return "", "", false
			}
			rest = rest[n:]
		}
		if rest != "" && rest[0] != '/' && rest[0] != '?' {
			return "", "", false
		}
		return p, rest, true
	}
	return "", "", false
}

// validPort reports whether d is a port number 1–65535 in decimal without
// a leading zero.
func validPort(d string) bool {
	if d == "" || len(d) > 5 || d[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(d); i++ {
		n = n*10 + int(d[i]-'0')
	}
	return n <= 65535
}

// appendQuery adds the already encoded parameters q to redirect URI u,
// keeping u's own query as it is (RFC 6749 §3.1.2: the query component
// "MUST be retained"). u has no fragment (registered URIs never do).
func appendQuery(u, q string) string {
	switch {
	case q == "":
		return u
	case !strings.Contains(u, "?"):
		return u + "?" + q
	case strings.HasSuffix(u, "?") || strings.HasSuffix(u, "&"):
		return u + q
	}
	return u + "&" + q
}
