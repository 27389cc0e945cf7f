package server

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/web"
)

// consoleCSP is the Content-Security-Policy of every console response: only
// the console's own files run, style and connect, and no other site may
// frame it.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// consoleTypes fixes the content types of the console's files, so that they
// do not depend on the host's MIME tables.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// consoleFile is one file of the console, read once at start.
type consoleFile struct {
	body        []byte
	contentType string
	etag        string
}

// console serves the operator console's static files. It is read-only after
// construction and safe for concurrent use.
type console struct {
	files map[string]consoleFile
}

// newConsole reads the top-level files of fsys. The console is one flat
// directory: its pages import each other by relative name.
func newConsole(fsys fs.FS) (*console, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("server: read console files: %w", err)
	}
	c := &console{files: make(map[string]consoleFile, len(entries))}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("server: read console file %q: %w", e.Name(), err)
		}
		ext := path.Ext(e.Name())
		ct, ok := consoleTypes[ext]
		if !ok {
			ct = mime.TypeByExtension(ext)
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		c.files[e.Name()] = consoleFile{
			body:        body,
			contentType: ct,
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`,
		}
	}
	if _, ok := c.files["index.html"]; !ok {
		return nil, fmt.Errorf("server: console files: no index.html")
	}
	return c, nil
}

// mountConsole serves the web console at /admin/: GET /admin redirects to
// /admin/, which serves index.html; the other files sit beside it. Paths
// under /admin/api/ belong to the admin API (mountAdmin) and never reach the
// console.
//
// The files are not fingerprinted, so every answer says Cache-Control:
// no-cache and carries a strong ETag: browsers revalidate each load and get
// 304 while the binary is unchanged.
func (s *Server) mountConsole(r *gin.Engine) {
	con, err := newConsole(web.FS())
	if err != nil {
		// The files are embedded at build time, so this is a broken build;
		// the rest of the server still works.
		s.log.Error("web console disabled", "error", err)
		return
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		r.Handle(m, "/admin", con.redirect)
		r.Handle(m, "/admin/", con.serve)
		r.Handle(m, "/admin/:file", con.serve)
	}
}

// consoleHeaders sets the security headers of every console response.
func consoleHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

func (con *console) redirect(c *gin.Context) {
	consoleHeaders(c)
	c.Redirect(http.StatusMovedPermanently, "/admin/")
}

func (con *console) serve(c *gin.Context) {
	consoleHeaders(c)
	name := c.Param("file")
	switch name {
	case "":
		name = "index.html"
	case "index.html":
		c.Redirect(http.StatusMovedPermanently, "/admin/")
		return
	}
	f, ok := con.files[name]
	if !ok {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found", "error_description": "no such console file"})
		return
	}
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	if etagMatch(c.GetHeader("If-None-Match"), f.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, f.contentType, f.body)
}
