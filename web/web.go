// Package web holds the operator console of authd: static HTML, CSS and
// JavaScript (plain ES modules, no build step), embedded in the binary.
//
// The console is a single page served at /admin/ by package server. It signs
// in through the token endpoint with the built-in public client
// authd-console, keeps its tokens in memory only, and talks to the JSON
// admin API under /admin/api/ with a bearer token. Every file is served from
// the same origin, so the console works under a strict Content-Security-Policy
// without inline scripts or styles.
//
// Pages holds the server-rendered pages of the authorization code flow
// (sign-in, consent, error, signed out): html/template files sharing one
// layout, and their stylesheet. They need no JavaScript.
//
// web imports nothing of the project.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

//go:embed pages
var pages embed.FS

// FS returns the console's files, rooted at the console's top: index.html,
// the stylesheet, the ES modules and the icon. The result is read-only and
// safe for concurrent use.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only on an invalid directory name, a constant here.
		panic("web: " + err.Error())
	}
	return sub
}

// Pages returns the templates and the stylesheet of the browser pages of
// the authorization code flow: layout.html (the "layout" template, which
// renders a page's "content"), signin.html, consent.html, error.html,
// signedout.html and style.css. The result is read-only and safe for
// concurrent use.
func Pages() fs.FS {
	sub, err := fs.Sub(pages, "pages")
	if err != nil {
		panic("web: " + err.Error())
	}
	return sub
}
