package password

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePHC_Valid(t *testing.T) {
	p, salt, key, err := ParsePHC("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	if err != nil {
		t.Fatal(err)
	}
	want := Params{Memory: 65536, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32}
	if p != want {
		t.Errorf("params = %+v, want %+v", p, want)
	}
	if string(salt) != "somesalt" || len(key) != 32 {
		t.Errorf("salt = %q, key length %d; want somesalt, 32", salt, len(key))
	}
	if got := encodePHC(p, salt, key); got != "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc" {
		t.Errorf("re-encoded = %q", got)
	}
}

func TestParsePHC_Invalid(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	phc := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=65536,t=2,p=1$" + salt + "$" + key},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ012"},
		{"no version", "$argon2id$m=65536,t=2,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=65536,t=2,p=1$" + salt + "$" + key},
		{"version 019", "$argon2id$v=019$m=65536,t=2,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=65536,t=2,p=1$" + salt},
		{"extra field", phc("m=65536,t=2,p=1") + "$x"},
		{"trailing dollar", phc("m=65536,t=2,p=1") + "$"},
		{"order", phc("t=2,m=65536,p=1")},
		{"missing p", phc("m=65536,t=2")},
		{"extra param", phc("m=65536,t=2,p=1,k=1")},
		{"keyid", phc("m=65536,t=2,p=1,keyid=abc")},
		{"space", phc("m=65536, t=2,p=1")},
		{"leading zero", phc("m=065536,t=2,p=1")},
		{"sign", phc("m=+65536,t=2,p=1")},
		{"negative", phc("m=-1,t=2,p=1")},
		{"hex", phc("m=0x10000,t=2,p=1")},
		{"empty value", phc("m=,t=2,p=1")},
		{"memory over 256 MiB", phc("m=262145,t=2,p=1")},
		{"memory overflow", phc("m=99999999999,t=2,p=1")},
		{"memory below 8p", phc("m=15,t=1,p=2")},
		{"time 0", phc("m=65536,t=0,p=1")},
		{"time over 10", phc("m=65536,t=11,p=1")},
		{"threads 0", phc("m=65536,t=2,p=0")},
		{"threads over 255", phc("m=65536,t=2,p=256")},
		{"salt padded", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ=$" + key},
		{"salt url alphabet", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ_$" + key},
		{"salt not canonical", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHR$" + key},
		{"salt too short", "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$" + key},
		{"salt too long", "$argon2id$v=19$m=65536,t=2,p=1$" + strings.Repeat("A", 88) + "$" + key},
		{"key too short", "$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$AAAAAAAAAAAAAAAAAAAA"},
		{"key too long", "$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + strings.Repeat("A", 88)},
		{"key bad char", "$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + key[:len(key)-1] + "*"},
		{"newline", phc("m=65536,t=2,p=1") + "\n"},
		{"NUL", phc("m=65536,t=2,p=1") + "\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := ParsePHC(tt.in)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("ParsePHC(%q) err = %v, want ErrMalformedHash", tt.in, err)
			}
			if tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Errorf("error %q contains the input", err)
			}
		})
	}
}

func TestParams_Validate(t *testing.T) {
	if err := DefaultParams.Validate(); err != nil {
		t.Errorf("DefaultParams.Validate() = %v", err)
	}
	err := Params{}.Validate()
	if err == nil {
		t.Fatal("Params{}.Validate() = nil")
	}
	for _, want := range []string{"time", "threads", "memory", "salt", "key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Params{}.Validate() = %q, want it to report %s", err, want)
		}
	}
}

func TestCheckBcrypt(t *testing.T) {
	const body = "abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	tests := []struct {
		in string
		ok bool
	}{
		{"$2b$10$" + body, true},
		{"$2a$04$" + body, true},
		{"$2y$17$" + body, true},
		{"$2y$18$" + body, false},
		{"$2y$03$" + body, false},
		{"$2y$4$" + body + "x", false},
		{"$2x$10$" + body, false},
		{"$2$10$" + body + "x", false},
		{"$2b$10$" + body[1:], false},
		{"$2b$10$" + body + "5", false},
		{"$2b$10$" + body[1:] + "+", false},
		{"$2b$1a$" + body, false},
	}
	for _, tt := range tests {
		if err := checkBcrypt(tt.in); (err == nil) != tt.ok {
			t.Errorf("checkBcrypt(%q) = %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

func FuzzParsePHC(f *testing.F) {
	for _, s := range []string{
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=4194304,t=100,p=255$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=262144,t=10,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=262145,t=10,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=262144,t=11,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ=$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$$$$",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := ParsePHC(s)
		if err != nil {
			var he *HashError
			if !errors.Is(err, ErrMalformedHash) || !errors.As(err, &he) {
				t.Fatalf("err = %v, want a *HashError matching ErrMalformedHash", err)
			}
			if len(s) > 12 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q contains the input", err)
			}
			return
		}
		if p.Memory > MaxMemory || p.Time > MaxTime {
			t.Fatalf("accepted params beyond the limits: %+v", p)
		}
		if err := CheckHash(s); err != nil {
			t.Fatalf("ParsePHC accepted what CheckHash refuses: %v", err)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted params out of bounds: %v", err)
		}
		if int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("lengths %d/%d, decoded %d/%d", p.SaltLen, p.KeyLen, len(salt), len(key))
		}
		// The parser is strict: what it accepts, encodePHC writes back
		// unchanged.
		if got := encodePHC(p, salt, key); got != s {
			t.Fatalf("round trip: %q became %q", s, got)
		}
	})
}
