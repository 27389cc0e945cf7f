package web

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

func readAll(t *testing.T) map[string]string {
	t.Helper()
	fsys := FS()
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("%s is a directory; the console must stay one flat directory (server/console.go serves only top-level files)", e.Name())
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

func TestFS_Contents(t *testing.T) {
	files := readAll(t)
	for _, name := range []string{"index.html", "app.js", "auth.js", "api.js", "ui.js", "style.css", "icon.svg"} {
		if _, ok := files[name]; !ok {
			t.Errorf("FS lacks %s", name)
		}
	}
}

var (
	refAttr     = regexp.MustCompile(`\b(?:src|href)="([^"]*)"`)
	jsImport    = regexp.MustCompile(`(?m)^import [^;]*? from '([^']+)';`)
	idSelector  = regexp.MustCompile(`\$\('#([A-Za-z0-9_-]+)`)
	idAttr      = regexp.MustCompile(`\bid="([^"]+)"`)
	inlineEvent = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	styleAttr   = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	scriptTag   = regexp.MustCompile(`(?i)<script\b[^>]*>`)
)

// The console runs under a strict Content-Security-Policy (script-src and
// style-src 'self', no inline code) and loads nothing from elsewhere.
func TestFS_IndexFitsCSP(t *testing.T) {
	files := readAll(t)
	index := files["index.html"]
	for _, tag := range scriptTag.FindAllString(index, -1) {
		if !strings.Contains(tag, `src="`) {
			t.Errorf("inline script %s: the CSP forbids it", tag)
		}
	}
	if strings.Contains(index, "<style") {
		t.Error("index.html has a <style> element: the CSP forbids inline styles")
	}
	if m := styleAttr.FindString(index); m != "" {
		t.Errorf("style attribute in %q: the CSP forbids inline styles", m)
	}
	if m := inlineEvent.FindString(index); m != "" {
		t.Errorf("inline event handler in %q: the CSP forbids it", m)
	}
	for _, m := range refAttr.FindAllStringSubmatch(index, -1) {
		ref := m[1]
		if strings.HasPrefix(ref, "#") {
			continue
		}
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") {
			t.Errorf("reference %q leaves the console: use a relative name", ref)
			continue
		}
		if _, ok := files[ref]; !ok {
			t.Errorf("index.html refers to %q, which is not in FS", ref)
		}
	}
}

func TestFS_ScriptsAreSelfContained(t *testing.T) {
	files := readAll(t)
	ids := map[string]bool{}
	for _, m := range idAttr.FindAllStringSubmatch(files["index.html"], -1) {
		if ids[m[1]] {
			t.Errorf("index.html: duplicate id %q", m[1])
		}
		ids[m[1]] = true
	}
	forbidden := []struct{ text, why string }{
		{"localStorage", "tokens stay in memory"},
		{"document.cookie", "tokens stay in memory"},
		{"innerHTML", "server data is written as text"},
		{"outerHTML", "server data is written as text"},
		{"insertAdjacentHTML", "server data is written as text"},
		{"eval(", "the CSP forbids eval"},
		{"new Function", "the CSP forbids eval"},
		{"http://", "the console loads nothing from elsewhere"},
		{"https://", "the console loads nothing from elsewhere"},
	}
	// The one use of sessionStorage: auth.js keeps the PKCE verifier, the
	// state and the tab to come back to across the redirect of the
	// authorization code flow, under one key, and removes them at once on
	// the way back. Never a token.
	sessionUses := []string{
		"sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, view: view || '' }))",
		"sessionStorage.getItem(PENDING)",
		"sessionStorage.removeItem(PENDING)",
	}
	for name, src := range files {
		if path.Ext(name) != ".js" {
			continue
		}
		code := codeLines(src)
		n := strings.Count(code, "sessionStorage")
		if name == "auth.js" {
			for _, u := range sessionUses {
				n -= strings.Count(code, u)
			}
		}
		if n != 0 {
			t.Errorf("%s uses sessionStorage other than for the pending sign-in of auth.js: tokens stay in memory", name)
		}
		for _, f := range forbidden {
			if strings.Contains(src, f.text) {
				t.Errorf("%s uses %s: %s", name, f.text, f.why)
			}
		}
		for _, m := range jsImport.FindAllStringSubmatch(src, -1) {
			ref := strings.TrimPrefix(m[1], "./")
			if !strings.HasPrefix(m[1], "./") || strings.Contains(ref, "/") {
				t.Errorf("%s imports %q: import only sibling modules by ./name", name, m[1])
				continue
			}
			if _, ok := files[ref]; !ok {
				t.Errorf("%s imports %q, which is not in FS", name, m[1])
			}
		}
		for _, m := range idSelector.FindAllStringSubmatch(src, -1) {
			if !ids[m[1]] {
				t.Errorf("%s looks up #%s, which index.html lacks", name, m[1])
			}
		}
	}
}

// codeLines returns src without its whole-line // comments.
func codeLines(src string) string {
	var b strings.Builder
	for _, l := range strings.Split(src, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "//") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
