package account

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/authd/authd/server/internal/scopes"
)

func TestScopes(t *testing.T) {
	many := make([]string, 65)
	for i := range many {
		many[i] = "s" + strings.Repeat("x", i)
	}
	tests := []struct {
		name string
		in   []string
		want []string
		err  error
	}{
		{"none: any scope", nil, nil, nil},
		{"empty: any scope", []string{}, nil, nil},
		{"duplicates dropped", []string{"read", "write", "read"}, []string{"read", "write"}, nil},
		{"admin scope", []string{"read", scopes.Admin}, nil, ErrAdminScope},
		{"65 values", many, nil, scopes.ErrTooMany},
		{"too long", []string{strings.Repeat("x", 129)}, nil, scopes.ErrTooLong},
		{"empty value", []string{""}, nil, scopes.ErrMalformed},
		{"quote", []string{`a"b`}, nil, scopes.ErrMalformed},
		{"malformed before admin", []string{scopes.Admin, "a b"}, nil, scopes.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Scopes(tt.in)
			if !errors.Is(err, tt.err) || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Scopes(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}
