package web

import (
	"html/template"
	"io/fs"
	"strings"
	"testing"
)

// The pages of the authorization code flow exist, parse with their
// layout, and fit their Content-Security-Policy (default-src 'none',
// style-src 'self'): no script at all, no inline style, nothing loaded
// from elsewhere.
func TestPages(t *testing.T) {
	fsys := Pages()
	for _, name := range []string{"signin", "consent", "error", "signedout"} {
		if _, err := template.ParseFS(fsys, "layout.html", name+".html"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.HasSuffix(e.Name(), ".html") {
			continue
		}
		if scriptTag.MatchString(s) || inlineEvent.MatchString(s) || styleAttr.MatchString(s) || strings.Contains(s, "<style") {
			t.Errorf("%s has a script or an inline style: the pages' CSP forbids both", e.Name())
		}
		for _, m := range refAttr.FindAllStringSubmatch(s, -1) {
			if strings.Contains(m[1], ":") || strings.HasPrefix(m[1], "/") {
				t.Errorf("%s: reference %q leaves authd or is absolute: pages link relatively", e.Name(), m[1])
			}
		}
	}
	if _, err := fs.Stat(fsys, "style.css"); err != nil {
		t.Errorf("no style.css: %v", err)
	}
}
