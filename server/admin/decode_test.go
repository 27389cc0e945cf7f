package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// requestTypes are the bodies the admin API decodes.
var requestTypes = []any{&CreateUser{}, &PatchUser{}, &Import{}, &CreateClient{}, &PatchClient{}, &Rotate{}}

// jsonUnknownField is the field encoding/json's DisallowUnknownFields
// refuses in data decoded into a new value of v's type, if that is the
// error Decode returns. Only this test reads the error's text: it is what
// unknownField is checked against.
func jsonUnknownField(data []byte, v any) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(reflect.New(reflect.TypeOf(v).Elem()).Interface())
	if err == nil {
		return "", false
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return "", false
	}
	rest, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	var name string
	if json.Unmarshal([]byte(rest), &name) != nil {
		return "", false
	}
	return name, true
}

// TestUnknownField: the field named is the first key, in document order,
// that no field of the type matches, at any depth; a value of another type
// than the field's is skipped whole (encoding/json reports a type error
// for it before any unknown field).
func TestUnknownField(t *testing.T) {
	tests := []struct {
		name string
		v    any
		body string
		want string
		ok   bool
	}{
		{"none", &CreateUser{}, `{"username":"a","password":"b"}`, "", false},
		{"top level", &CreateUser{}, `{"username":"a","nope":1}`, "nope", true},
		{"first in order", &CreateUser{}, `{"zz":1,"aa":2}`, "zz", true},
		{"case folded match", &CreateUser{}, `{"USERNAME":"a","Admin":true}`, "", false},
		{"pointer field", &PatchUser{}, `{"scopes":["a"],"disabled":true,"x":null}`, "x", true},
		{"in a list of objects", &Import{}, `{"users":[{"username":"a"},{"username":"b","password":"p"}]}`, "password", true},
		{"after a nested object", &Import{}, `{"users":[{"username":"a","scopes":["x","y"]}],"more":1}`, "more", true},
		{"key inside a scalar field's object", &CreateUser{}, `{"username":{"x":1},"y":2}`, "y", true},
		{"object where a list is wanted", &Import{}, `{"users":{"a":1},"b":2}`, "b", true},
		{"list where an object is wanted", &Import{}, `{"users":[[1],{"k":1}]}`, "k", true},
		{"escaped key", &Rotate{}, `{"when_safe":true,"\u00e9t\u00e9":1}`, "été", true},
		{"empty key", &Rotate{}, `{"":1}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := unknownField([]byte(tt.body), reflect.TypeOf(tt.v))
			if ok != tt.ok || got != tt.want {
				t.Errorf("unknownField(%s) = %q, %v; want %q, %v", tt.body, got, ok, tt.want, tt.ok)
			}
			// The reference: what encoding/json refuses.
			want, wantOK := jsonUnknownField([]byte(tt.body), tt.v)
			if ok && wantOK && got != want {
				t.Errorf("unknownField(%s) = %q, encoding/json refuses %q", tt.body, got, want)
			}
		})
	}
}

// TestDecode_Errors: each way a body is refused has its own answer.
func TestDecode_Errors(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		optional          bool
		want              string // "" for accepted
	}{
		{"ok", "application/json", `{"username":"a"}`, false, ""},
		{"empty optional", "", ``, true, ""},
		{"empty", "application/json", ``, false, "the request body is empty"},
		{"not json type", "text/plain", `{}`, false, "must be application/json"},
		{"syntax", "application/json", `{"username" 1}`, false, "not valid JSON"},
		{"truncated", "application/json", `{"username":`, false, "not a valid JSON object"},
		{"type", "application/json", `{"username":1}`, false, `field "username" must be a string`},
		{"not an object", "application/json", `[1]`, false, "must be a JSON object"},
		{"unknown field", "application/json", `{"username":"a","nope":1}`, false, `unknown field "nope"`},
		{"trailing", "application/json", `{} {}`, false, "unexpected data after the JSON object"},
		{"too big", "application/json", `{"username":"` + strings.Repeat("a", 100) + `"}`, false, "larger than 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodPost, "/admin/api/users", strings.NewReader(tt.body))
			if tt.ctype != "" {
				c.Request.Header.Set("Content-Type", tt.ctype)
			}
			var v CreateUser
			e := decode(c, 64, tt.optional, &v)
			switch {
			case tt.want == "" && e != nil:
				t.Fatalf("got %v, want it accepted", e)
			case tt.want != "" && (e == nil || !strings.Contains(e.Description, tt.want)):
				t.Fatalf("got %v, want an error containing %q", e, tt.want)
			}
		})
	}
}

// FuzzUnknownField: whenever encoding/json refuses a body for an unknown
// field, unknownField names the same field, for every request type.
func FuzzUnknownField(f *testing.F) {
	for _, s := range []string{
		`{"username":"a","nope":1}`, `{"users":[{"username":"a","x":1}]}`, `{"USERS":[{"Password_Hash":"h","é":1}]}`,
		`{"scopes":["a"],"grants":null,"k":{}}`, `{"users":{"a":[1,{"b":2}]},"c":3}`, `{"\u212a":1}`, `{"ſ":1}`,
		`{"when_safe":true,"now":false}`, `[{"a":1}]`, `{"secret":"s","id":"x","audiences":[1,"a"],"q":0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range requestTypes {
			want, ok := jsonUnknownField(data, v)
			if !ok {
				continue
			}
			got, gotOK := unknownField(data, reflect.TypeOf(v))
			if !gotOK || got != want {
				t.Fatalf("%T %q: unknownField = %q, %v; encoding/json refuses %q", v, data, got, gotOK, want)
			}
		}
	})
}
