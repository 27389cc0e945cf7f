package server

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxFormBytes bounds the body of the token, revocation and introspection
// endpoints (SPEC §2.1).
const maxFormBytes = 64 << 10

// form is a parsed application/x-www-form-urlencoded body in which every
// parameter occurs at most once. Empty values count as absent (RFC 6749
// §3.1).
type form map[string]string

func (f form) get(k string) string { return f[k] }

// readForm reads and checks the body of an OAuth endpoint request: POST,
// form-encoded (one Content-Type header), nothing in the query string, at
// most maxFormBytes, no repeated parameter, valid UTF-8 without NUL or other
// control characters.
func readForm(r *http.Request) (form, *Error) {
	if r.URL.RawQuery != "" {
		return nil, invalidRequest("parameters must not be sent in the URL query string")
	}
	if len(r.Header.Values("Content-Type")) > 1 {
		return nil, invalidRequest("more than one Content-Type header")
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, invalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, invalidRequest("the body must be UTF-8")
	}
	if r.ContentLength > maxFormBytes {
		return nil, invalidRequest("request body too large")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, invalidRequest("request body too large")
		}
		return nil, invalidRequest("could not read the request body")
	}
	if len(body) > maxFormBytes {
		return nil, invalidRequest("request body too large")
	}
	return parseForm(string(body))
}

// parseForm parses a form-encoded body strictly. It is the parser of
// untrusted input behind every OAuth endpoint; FuzzParseForm exercises it.
func parseForm(body string) (form, *Error) {
	f := form{}
	seen := map[string]bool{}
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return nil, invalidRequest("malformed form body")
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, invalidRequest("malformed form body")
		}
		if !cleanText(key) || !cleanText(val) {
			return nil, invalidRequest("parameters must be valid UTF-8 without control characters")
		}
		if seen[key] {
			return nil, invalidRequest("parameter " + quoteParam(key) + " is repeated")
		}
		seen[key] = true
		if val != "" {
			f[key] = val
		}
	}
	return f, nil
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
