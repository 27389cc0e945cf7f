package server

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// CORS (SPEC 2.6; the Fetch standard's CORS protocol). /token, /revoke and
// /userinfo answer browsers, preflights included, from the origins of
// public clients' registered redirect URIs: a single-page app is a public
// client whose redirect URI is on its own origin. The JWKS and the two
// metadata documents are public and answer every origin with "*".
// /authorize, the sign-in and consent pages and the admin API send no CORS
// headers. Credentials (cookies) are never allowed: these endpoints take
// their credentials in the request, never from cookies.
//
// A request from an origin that is not allowed gets no CORS headers and is
// otherwise served as before: non-browser clients send no Origin, and a
// browser refuses to show the answer to the page.

// corsMaxAge is how long a browser may cache a preflight's answer.
const corsMaxAge = "600"

// corsAllowHeaders are the request headers a browser may send to the
// client-facing endpoints.
const corsAllowHeaders = "Authorization, Content-Type"

// corsOrigins is one snapshot of the allowed origins.
type corsOrigins struct {
	// exact holds "scheme://host[:port]" (lower case, default port
	// dropped) of every public client's redirect URI; loopback holds
	// "http://127.0.0.1" and "http://[::1]" when a public client
	// registered a redirect URI on that loopback IP, whose port is free
	// (RFC 8252 §7.3, as /authorize compares redirect URIs).
	exact    map[string]bool
	loopback map[string]bool
	// epoch is corsState.epoch when the clients were read, at when.
	epoch uint64
	at    time.Time
}

// corsState is the server's set of allowed origins: rebuilt from the
// clients at most once per clientCacheTTL, and at the next request after
// any client changes through this server (forgetClient), never per
// request.
type corsState struct {
	cur   atomic.Pointer[corsOrigins]
	epoch atomic.Uint64
	// mu lets one request rebuild while the others wait for it.
	mu sync.Mutex
}

// forget makes the next request rebuild the set: a client changed.
func (c *corsState) forget() { c.epoch.Add(1) }

// fresh reports whether o may be used at now.
func (c *corsState) fresh(o *corsOrigins, now time.Time) bool {
	return o != nil && o.epoch == c.epoch.Load() && now.Sub(o.at) < clientCacheTTL && !now.Before(o.at)
}

// corsOrigins returns the allowed origins, rebuilt if stale.
func (s *Server) corsOrigins(ctx context.Context) (*corsOrigins, error) {
	c := &s.cors
	now := s.now()
	if o := c.cur.Load(); c.fresh(o, now) {
		return o, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.cur.Load(); c.fresh(o, now) {
		return o, nil
	}
	epoch := c.epoch.Load()
	clients, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	o := &corsOrigins{exact: map[string]bool{}, loopback: map[string]bool{}, epoch: epoch, at: now}
	for _, cl := range clients {
		if !cl.Public {
			continue
		}
		for _, ru := range cl.RedirectURIs {
			origin, loopback, ok := redirectOrigin(ru)
			switch {
			case !ok:
			case loopback && s.onIssuerOrigin(ru):
				// Compared exactly at /authorize (redirectRegistered):
				// its own origin only, not every local port.
				if exact, ok := exactOrigin(ru); ok {
					o.exact[exact] = true
				}
			case loopback:
				o.loopback[origin] = true
			default:
				o.exact[origin] = true
			}
		}
	}
	c.cur.Store(o)
	return o, nil
}

// redirectOrigin is the web origin of a registered redirect URI:
// scheme://host[:port], lower case, without a default port. loopback is
// true, and the origin has no port, for http://127.0.0.1 and http://[::1]
// (any port matches). ok is false for a URI with no web origin (a
// private-use scheme, RFC 8252 §7.1).
func redirectOrigin(uri string) (origin string, loopback, ok bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", false, false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false, false
	}
	host := strings.ToLower(u.Hostname())
	// Any port only where /authorize allows any port: a URI that begins
	// with these very bytes (RFC 8252 §7.3; "localhost" is not one).
	if strings.HasPrefix(uri, "http://127.0.0.1") && host == "127.0.0.1" || strings.HasPrefix(uri, "http://[::1]") && host == "::1" {
		return scheme + "://" + hostPort(host, ""), true, true
	}
	return scheme + "://" + hostPort(host, nonDefaultPort(scheme, u.Port())), false, true
}

// requestOrigin parses an Origin header: "scheme://host[:port]" and
// nothing else ("null", paths, user info: ok false). The result is in the
// form of redirectOrigin's, and loopback names the origin without its
// port when it is an http loopback IP.
func requestOrigin(h string) (origin, loopback string, ok bool) {
	if h == "" || h == "null" || len(h) > 2048 {
		return "", "", false
	}
	u, err := url.Parse(h)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(h, "?") || strings.HasSuffix(h, "#") {
		return "", "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", false
	}
	host := strings.ToLower(u.Hostname())
	origin = scheme + "://" + hostPort(host, nonDefaultPort(scheme, u.Port()))
	if scheme == "http" && (host == "127.0.0.1" || host == "::1") {
		loopback = scheme + "://" + hostPort(host, "")
	}
	return origin, loopback, true
}

func nonDefaultPort(scheme, port string) string {
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		return ""
	}
	return port
}

func hostPort(host, port string) string {
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// allowed reports whether a browser page at the origin of an Origin header
// may call the client-facing endpoints.
func (o *corsOrigins) allowed(h string) bool {
	origin, loopback, ok := requestOrigin(h)
	if !ok {
		return false
	}
	return o.exact[origin] || (loopback != "" && o.loopback[loopback])
}

// clientCORS is the CORS middleware of /token, /revoke and /userinfo. A
// request from an allowed origin gets Access-Control-Allow-Origin set to
// that origin (never "*"); any request with an Origin gets Vary: Origin.
func (s *Server) clientCORS(c *gin.Context) {
	origin := c.Request.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := c.Writer.Header()
	h.Add("Vary", "Origin")
	o, err := s.corsOrigins(c.Request.Context())
	if err != nil {
		// Served without CORS headers: the browser refuses the answer,
		// other clients are not affected.
		s.log.Warn("cors: list clients", "error", err)
		return
	}
	if o.allowed(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After")
	}
}

// clientPreflight answers a CORS preflight (OPTIONS) to /token, /revoke or
// /userinfo: 204, and for an allowed origin asking for one of methods the
// methods, headers and max-age a browser needs. Anything else gets no CORS
// headers, which the browser takes as a refusal.
func (s *Server) clientPreflight(methods string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		origin := c.Request.Header.Get("Origin")
		want := c.Request.Header.Get("Access-Control-Request-Method")
		if origin != "" && want != "" && strings.Contains(", "+methods+", ", ", "+want+", ") {
			o, err := s.corsOrigins(c.Request.Context())
			if err != nil {
				s.log.Warn("cors: list clients", "error", err)
			} else if o.allowed(origin) {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", methods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
			}
		}
		c.Status(http.StatusNoContent)
	}
}

// publicCORS is the CORS middleware of the JWKS and the metadata
// documents: public, the same for every origin, no credentials.
func publicCORS(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "ETag")
}

// publicPreflight answers a preflight to the JWKS or a metadata document
// (a page that sends If-None-Match itself needs one).
func publicPreflight(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD")
	h.Set("Access-Control-Allow-Headers", "If-None-Match")
	h.Set("Access-Control-Max-Age", corsMaxAge)
	c.Status(http.StatusNoContent)
}
