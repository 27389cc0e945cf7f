package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/web"
)

// The browser pages of the authorization code flow (sign-in, consent,
// error, signed out) are html/template files embedded from web/pages
// (web.Pages), rendered on the server; they need no JavaScript and load
// nothing but their stylesheet, which authd serves itself at
// pagesStylePath.

// pageCSP is the Content-Security-Policy of every page and of every answer
// of /authorize and /logout: nothing loads but the stylesheet and images
// of authd's own origin, no site may frame the pages (clickjacking), and no
// <base> may move their relative URLs. There is deliberately no
// form-action rule: Chromium applies form-action to the redirects that
// follow a form's submission, and the sign-in and consent forms end in a
// 303 to the client's redirect URI, whatever its origin.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// pagesStylePath is where the pages' stylesheet is served. Pages link it
// relatively ("pages/style.css" from /authorize and /logout), so that an
// issuer with a path prefix behind a proxy works too.
const (
	pagesStylePath = "/pages/style.css"
	pagesStyleHref = "pages/style.css"
)

// pageHeaders sets the security headers of every answer of /authorize and
// /logout and of the pages: no caching (a page holds a CSRF token, a
// redirect a code), no framing, no Referer (the URL holds the request), no
// content sniffing. No CORS header is ever set here.
func pageHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	// No Cross-Origin-Opener-Policy: apps that open the sign-in in a
	// popup need their window.opener back when it returns to them.
}

// pages holds the parsed templates, one set per page, and the stylesheet.
// It is read-only after newPages and safe for concurrent use.
type pages struct {
	tmpl    map[string]*template.Template
	css     []byte
	cssETag string
}

// pageNames are the pages; each is layout.html with the page's file.
var pageNames = []string{"signin", "consent", "error", "signedout"}

func newPages(fsys fs.FS) (*pages, error) {
	p := &pages{tmpl: make(map[string]*template.Template, len(pageNames))}
	for _, name := range pageNames {
		t, err := template.New(name).Option("missingkey=error").ParseFS(fsys, "layout.html", name+".html")
		if err != nil {
			return nil, fmt.Errorf("server: parse page %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	css, err := fs.ReadFile(fsys, "style.css")
	if err != nil {
		return nil, fmt.Errorf("server: read pages stylesheet: %w", err)
	}
	sum := sha256.Sum256(css)
	p.css, p.cssETag = css, `"`+base64.RawURLEncoding.EncodeToString(sum[:18])+`"`
	return p, nil
}

// hiddenField is a hidden input of a page's form.
type hiddenField struct{ Name, Value string }

// pageData is what the templates render. Every field is text that
// html/template escapes.
type pageData struct {
	Title string
	// Style is the stylesheet's URL, Action the forms' (both relative).
	Style, Action string
	ClientID      string
	Username      string
	// Error is the message shown above a form.
	Error  string
	Hidden []hiddenField
	// Scopes are the consent page's requested scopes, in words.
	Scopes []string
	// Code and Message are the error page's OAuth error code and text.
	Code, Message string
}

// render writes page name with status. A template failure (a bug) is a
// plain-text 503, logged.
func (s *Server) render(c *gin.Context, status int, name string, d pageData) {
	pageHeaders(c)
	d.Style, d.Action = pagesStyleHref, "authorize"
	var buf bytes.Buffer
	if err := s.pages.tmpl[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("page not rendered", "page", name, "request_id", requestID(c), "error", err)
		c.Data(http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte("authd: the page could not be shown; retry later\n"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// errorPage shows e on the authd error page: the errors of /authorize
// before the client and its redirect URI are known valid (SPEC 2.6: never
// redirected), and the failures of storage.
func (s *Server) errorPage(c *gin.Context, e *Error) {
	if e.Cause != nil {
		s.log.Error("authorization request failed", "request_id", requestID(c), "error", e.Cause)
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", retryAfter(e.RetryAfter))
	}
	title := "This sign-in request cannot be served"
	if e.Status >= 500 {
		title = "authd is unavailable"
	}
	s.render(c, e.Status, "error", pageData{Title: title, Code: e.Code, Message: e.Description})
}

// serveStyle serves the pages' stylesheet.
func (p *pages) serveStyle(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", p.cssETag)
	if etagMatch(c.GetHeader("If-None-Match"), p.cssETag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "text/css; charset=utf-8", p.css)
}

// mountPages serves the browser-facing routes of the authorization code
// flow: /authorize (GET, POST), /logout (GET, POST) and the pages'
// stylesheet.
func (s *Server) mountPages(r *gin.Engine) {
	p, err := newPages(web.Pages())
	if err != nil {
		// The files are embedded at build time, so this is a broken build;
		// the rest of the server still works.
		s.log.Error("sign-in pages disabled", "error", err)
		return
	}
	s.pages = p
	r.GET("/authorize", s.handleAuthorize)
	r.POST("/authorize", s.handleAuthorize)
	r.GET("/logout", s.handleLogout)
	r.POST("/logout", s.handleLogout)
	r.GET(pagesStylePath, p.serveStyle)
	r.HEAD(pagesStylePath, p.serveStyle)
}
