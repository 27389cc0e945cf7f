package server

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/authd/authd/server/password"
)

// maxFormBytes bounds the body of the token, revocation and introspection
// endpoints (SPEC §2.1).
const maxFormBytes = 64 << 10

// maxResources is the most resource values (RFC 8707 §2) a request may
// carry (SPEC §2.1).
const maxResources = 8

// form is a parsed application/x-www-form-urlencoded body in which every
// parameter but resource occurs at most once. Empty values count as absent
// (RFC 6749 §3.1).
type form struct {
	vals map[string]string
	// resources are the values of the resource parameter, the one that
	// RFC 8707 §2 lets a client repeat, in order; at most maxResources+1
	// are kept. get("resource") is the first.
	resources []string
}

func (f form) get(k string) string { return f.vals[k] }

// readForm reads and checks the body of an OAuth endpoint request: POST,
// form-encoded (one Content-Type header), nothing in the query string, at
// most maxFormBytes, no repeated parameter but resource, valid UTF-8 without
// NUL or other control characters.
func readForm(r *http.Request) (form, *Error) {
	if r.URL.RawQuery != "" {
		return form{}, invalidRequest("parameters must not be sent in the URL query string")
	}
	if len(r.Header.Values("Content-Type")) > 1 {
		return form{}, invalidRequest("more than one Content-Type header")
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return form{}, invalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return form{}, invalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return form{}, invalidRequest("the body must be UTF-8")
	}
	if r.ContentLength > maxFormBytes {
		return form{}, invalidRequest("request body too large")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		return form{}, invalidRequest("could not read the request body")
	}
	if len(body) > maxFormBytes {
		return form{}, invalidRequest("request body too large")
	}
	return parseForm(string(body))
}

// parseForm parses a form-encoded body strictly. It is the parser of
// untrusted input behind every OAuth endpoint; FuzzParseForm exercises it.
func parseForm(body string) (form, *Error) {
	f := form{vals: map[string]string{}}
	seen := map[string]bool{}
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return form{}, invalidRequest("malformed form body")
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return form{}, invalidRequest("malformed form body")
		}
		if !cleanText(key) || !cleanText(val) {
			return form{}, invalidRequest("parameters must be valid UTF-8 without control characters")
		}
		if key == "resource" {
			if val != "" && len(f.resources) <= maxResources {
				f.resources = append(f.resources, val)
			}
		} else if seen[key] {
			return form{}, invalidRequest("parameter " + quoteParam(key) + " is repeated")
		}
		seen[key] = true
		if val != "" && f.vals[key] == "" {
			f.vals[key] = val
		}
	}
	return f, nil
}

// checkTokenParams checks what can be checked of a token request's
// parameters without storage or hashing: the scope and resource limits of
// SPEC §2.1 and the parameters each grant requires. handleToken runs it
// before client authentication, so that a malformed request costs no
// password hash ("cheap checks run before expensive ones"). The grants
// keep their own checks; this decides the order of the answers.
func checkTokenParams(grant string, f form) *Error {
	if _, e := scopeParam(f.get("scope")); e != nil {
		return e
	}
	if len(f.resources) > maxResources {
		return oauthErr(http.StatusBadRequest, "invalid_target", fmt.Sprintf("at most %d resource values", maxResources))
	}
	for _, r := range f.resources {
		if r != f.resources[0] {
			// RFC 8707 §2.2 lets the server refuse what it cannot issue:
			// authd's access tokens have one audience.
			return oauthErr(http.StatusBadRequest, "invalid_target", "a token is issued for one resource at a time")
		}
	}
	switch grant {
	case GrantPassword:
		if f.get("username") == "" || f.get("password") == "" {
			return invalidRequest("username and password are required")
		}
		if len(f.get("password")) > password.MaxPasswordLen {
			return invalidRequest("password too long")
		}
	case GrantRefreshToken:
		if f.get("refresh_token") == "" {
			return invalidRequest("missing refresh_token")
		}
	case GrantAuthorizationCode:
		return checkCodeParams(f)
	}
	return nil
}

// cleanText reports whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// quoteParam names a parameter in an error description, cut short and
// limited to safe characters so that the description cannot carry
// arbitrary input back.
func quoteParam(k string) string {
	if len(k) > 40 {
		k = k[:40]
	}
	var b strings.Builder
	for _, r := range k {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	return `"` + b.String() + `"`
}
