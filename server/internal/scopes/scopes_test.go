package scopes

import (
	"errors"
	"github.com/authd/authd/server/internal/growth"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func values(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "s" + strconv.Itoa(i)
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"empty", "", nil, nil},
		{"only spaces", "   ", nil, nil},
		{"one", "read", []string{"read"}, nil},
		{"order kept, duplicates dropped", "write read write read", []string{"write", "read"}, nil},
		{"runs of spaces", "  read   write ", []string{"read", "write"}, nil},
		{"every allowed character", "!#[]~azAZ09:/.", []string{"!#[]~azAZ09:/."}, nil},
		{"64 values", strings.Join(values(64), " "), values(64), nil},
		{"65 values", strings.Join(values(65), " "), nil, ErrTooMany},
		{"65 values, duplicates count", strings.Repeat("a ", 65), nil, ErrTooMany},
		{"64 values, duplicates", strings.Repeat("a ", 64), []string{"a"}, nil},
		{"128 bytes", strings.Repeat("x", 128), []string{strings.Repeat("x", 128)}, nil},
		{"129 bytes", strings.Repeat("x", 129), nil, ErrTooLong},
		{"quote", `a"b`, nil, ErrMalformed},
		{"backslash", `a\b`, nil, ErrMalformed},
		{"tab", "a\tb", nil, ErrMalformed},
		{"DEL", "a\x7fb", nil, ErrMalformed},
		{"non-ASCII", "café", nil, ErrMalformed},
		{"NUL", "a\x00", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if !errors.Is(err, tt.err) || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name  string
		in    []string
		want  []string
		err   error
		value string // the value a *ValueError names
	}{
		{"nil", nil, nil, nil, ""},
		{"empty", []string{}, nil, nil, ""},
		{"order kept, duplicates dropped", []string{"write", "read", "write"}, []string{"write", "read"}, nil, ""},
		{"64 values", values(64), values(64), nil, ""},
		{"65 values", values(65), nil, ErrTooMany, ""},
		{"65 values, duplicates count", strings.Fields(strings.Repeat("a ", 65)), nil, ErrTooMany, ""},
		{"128 bytes", []string{strings.Repeat("x", 128)}, []string{strings.Repeat("x", 128)}, nil, ""},
		{"129 bytes", []string{"read", strings.Repeat("x", 129)}, nil, ErrTooLong, strings.Repeat("x", 129)},
		{"empty value", []string{"read", ""}, nil, ErrMalformed, ""},
		{"space", []string{"a b"}, nil, ErrMalformed, "a b"},
		{"quote", []string{`a"b`}, nil, ErrMalformed, `a"b`},
		{"first bad value named", []string{"a\\b", `c"d`}, nil, ErrMalformed, "a\\b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(tt.in)
			if !errors.Is(err, tt.err) || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseList(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
			var ve *ValueError
			if errors.As(err, &ve) != (tt.err == ErrTooLong || tt.err == ErrMalformed) || (ve != nil && ve.Value != tt.value) {
				t.Errorf("ParseList(%q) error %#v, want a *ValueError naming %q", tt.in, err, tt.value)
			}
			// A list is what Parse accepts of the same values.
			if err == nil {
				if p, perr := Parse(strings.Join(tt.in, " ")); perr != nil || !reflect.DeepEqual(p, got) {
					t.Errorf("Parse of the joined list = %q, %v; ParseList = %q", p, perr, got)
				}
			}
		})
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"read", true},
		{"authd:admin", true},
		{strings.Repeat("x", MaxLen), true},
		{strings.Repeat("x", MaxLen+1), false},
		{"", false},
		{"a b", false},
		{`a"b`, false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// costOf is the allocations and bytes allocated by one run of f: measures
// of work that do not depend on the machine's speed or load.
func costOf(f func()) (allocs, bytes float64) {
	c := growth.Of(20, f)
	return c.Allocs, c.Bytes
}

// TestParse_Cost: the cost of Parse grows linearly with the number of
// values up to MaxValues, and beyond it stays that of MaxValues+1 values
// however long the input: Parse stops at the first value too many,
// without splitting the rest.
func TestParse_Cost(t *testing.T) {
	var prevAllocs, prevBytes float64
	for n := 1; n <= MaxValues; n++ {
		in := strings.Join(values(n), " ")
		a, b := costOf(func() { Parse(in) })
		// Each value adds one entry to the result and the set of seen
		// values; both grow by doubling, so a step may add a few
		// allocations and a new backing array, never more than
		// proportional work.
		if n > 1 && (a-prevAllocs > 4 || b-prevBytes > 64*float64(n)+512) {
			t.Errorf("N = %d: %.0f allocations, %.0f bytes after %.0f, %.0f: more than linear growth", n, a, b, prevAllocs, prevBytes)
		}
		prevAllocs, prevBytes = a, b
	}
	capAllocs, capBytes := costOf(func() { Parse(strings.Join(values(MaxValues+1), " ")) })
	huge := strings.Join(values(16366), " ")
	a, b := costOf(func() {
		if _, err := Parse(huge); !errors.Is(err, ErrTooMany) {
			t.Fatal(err)
		}
	})
	if a > capAllocs || b > capBytes {
		t.Errorf("16366 values (%d bytes): %.0f allocations, %.0f bytes; want at most those of %d values: %.0f, %.0f",
			len(huge), a, b, MaxValues+1, capAllocs, capBytes)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "read write", "a  a", strings.Join(values(65), " "), strings.Repeat("x", 129), `a"b`, "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if got != nil {
				t.Fatalf("values %q with error %v", got, err)
			}
			return
		}
		if len(got) > MaxValues {
			t.Fatalf("%d values", len(got))
		}
		seen := map[string]bool{}
		for _, v := range got {
			if !Valid(v) || seen[v] {
				t.Fatalf("value %q invalid or repeated", v)
			}
			seen[v] = true
		}
		if strings.Join(got, " ") != strings.Join(strings.Fields(s), " ") && len(got) == len(strings.Fields(s)) {
			t.Fatalf("values %q of %q", got, s)
		}
	})
}
