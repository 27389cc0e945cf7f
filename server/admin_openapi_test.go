package server

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// adminAPIDoc is the OpenAPI document of the admin API.
const adminAPIDoc = "../docs/admin-api.yaml"

var (
	// A path item: two spaces of indentation under "paths:".
	docPathRE = regexp.MustCompile(`^  (/\S*):\s*$`)
	// An operation of the path item above: four spaces.
	docMethodRE = regexp.MustCompile(`^    (get|put|post|delete|options|head|patch|trace):\s*$`)
	// A gin path parameter, :name or *name.
	ginParamRE = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)
)

// docOperations reads the operations ("GET /admin/api/users/{username}")
// of the paths section of an OpenAPI document in YAML. It needs only the
// block layout of the paths section, not a YAML parser.
func docOperations(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ops []string
	inPaths := false
	path := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			inPaths = line == "paths:"
			path = ""
			continue
		}
		if !inPaths {
			continue
		}
		if m := docPathRE.FindStringSubmatch(line); m != nil {
			path = m[1]
			continue
		}
		if !strings.HasPrefix(line, "    ") {
			path = "" // some other key at path level
			continue
		}
		if m := docMethodRE.FindStringSubmatch(line); m != nil && path != "" {
			ops = append(ops, strings.ToUpper(m[1])+" "+path)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestAdminAPI_OpenAPIDocument: every route of the admin API's gin engine
// is documented in docs/admin-api.yaml, and every documented operation is a
// route.
func TestAdminAPI_OpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	engine, ok := e.srv.AdminHandler().(*gin.Engine)
	if !ok {
		t.Fatalf("the admin handler is a %T, not a gin engine", e.srv.AdminHandler())
	}
	var routes []string
	for _, r := range engine.Routes() {
		routes = append(routes, r.Method+" "+ginParamRE.ReplaceAllString(r.Path, "{$1}"))
	}
	if len(routes) == 0 {
		t.Fatal("the admin engine has no routes")
	}
	docs := docOperations(t, adminAPIDoc)
	for _, r := range routes {
		if !slices.Contains(docs, r) {
			t.Errorf("route %s is not in %s", r, adminAPIDoc)
		}
	}
	for _, d := range docs {
		if !slices.Contains(routes, d) {
			t.Errorf("%s documents %s, which is not a route of the admin API", adminAPIDoc, d)
		}
		if !strings.HasPrefix(d[strings.IndexByte(d, ' ')+1:], "/admin/api/") {
			t.Errorf("%s documents %s, outside /admin/api/", adminAPIDoc, d)
		}
	}
	slices.Sort(docs)
	if d := slices.Compact(slices.Clone(docs)); len(d) != len(docs) {
		t.Errorf("%s documents an operation twice: %v", adminAPIDoc, docs)
	}
}
