package server

import "strings"

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
