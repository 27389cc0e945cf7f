package redirecturi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestCheck_Accepts(t *testing.T) {
	for _, uri := range []string{
		"https://app.example.com/callback",
		"https://app.example.com",
		"https://app.example.com:8443/cb?x=1&y=2",
		"https://192.0.2.1/cb",
		"https://[2001:db8::1]:443/cb",
		"http://127.0.0.1/callback",
		"http://127.0.0.1:8765/callback",
		"http://127.255.0.9:1/cb",
		"http://[::1]:9000/cb",
		"http://localhost:3000/auth/callback",
		"http://localhost/",
		"com.example.app:/oauth2redirect",
		"com.example.app://callback/x",
		"io.github.someone.app:/cb",
		strings.Repeat("a", 0) + "https://a.example/" + strings.Repeat("p", MaxLen-len("https://a.example/")),
	} {
		if err := Check(uri); err != nil {
			t.Errorf("Check(%q) = %v, want nil", uri, err)
		}
	}
}

func TestCheck_Refuses(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want error
	}{
		{"", ErrNotAbsolute},
		{"/callback", ErrNotAbsolute},
		{"//app.example.com/cb", ErrNotAbsolute},
		{"app.example.com/cb", ErrNotAbsolute},
		{"https://app.example.com/cb#frag", ErrFragment},
		{"https://app.example.com/cb#", ErrFragment},
		{"https://user@app.example.com/cb", ErrUserinfo},
		{"https://user:pw@app.example.com/cb", ErrUserinfo},
		{"https://@app.example.com/cb", ErrUserinfo},
		{"http://127.0.0.1@evil.example/cb", ErrUserinfo},
		{"http://app.example.com/cb", ErrHTTPHost},
		{"http://10.0.0.1/cb", ErrHTTPHost},
		{"http://[::2]/cb", ErrHTTPHost},
		{"http://[::ffff:127.0.0.1]/cb", ErrHTTPHost},
		{"http://127.1/cb", ErrHTTPHost},
		{"http://0x7f000001/cb", ErrHTTPHost},
		{"http://localhost.evil.example/cb", ErrHTTPHost},
		{"http://LOCALHOST/cb", ErrHTTPHost},
		{"HTTPS://app.example.com/cb", ErrScheme},
		{"Https://app.example.com/cb", ErrScheme},
		{"javascript:alert(1)", ErrScheme},
		{"data:text/html,hi", ErrScheme},
		{"file:///etc/passwd", ErrScheme},
		{"ftp://example.com/", ErrScheme},
		{"myapp:/cb", ErrScheme},
		{"https:app.example.com", ErrHost},
		{"https:///cb", ErrHost},
		{"https://app.example.com:/cb", ErrHost},
		{"https://app.example.com:0/cb", ErrHost},
		{"https://app.example.com:65536/cb", ErrHost},
		{"https://app.example.com:080/cb", ErrHost},
		{"https://app_example.com/cb", ErrHost},
		{"https://[fe80::1%25en0]/cb", ErrHost},
		{"https://[127.0.0.1]/cb", ErrNotAbsolute},
		{"https://app.example.com\\@evil.example/", ErrCharacters},
		{"https://app.example.com/c b", ErrCharacters},
		{"https://app.example.com/\tcb", ErrCharacters},
		{"https://app.example.com/\x00", ErrCharacters},
		{"https://app.example.com/caf\u00e9", ErrCharacters},
		{"https://xn--caf-dma.example/%zz", ErrNotAbsolute},
		{"https://%61pp.example.com/", ErrNotAbsolute},
		{"https://a.example/" + strings.Repeat("p", MaxLen), ErrTooLong},
	} {
		err := Check(tc.uri)
		if !errors.Is(err, tc.want) {
			t.Errorf("Check(%q) = %v, want %v", tc.uri, err, tc.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), "redirect URI") {
			t.Errorf("Check(%q): error %q does not name the redirect URI", tc.uri, err)
		}
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.9.8.7": true, "::1": true,
		"128.0.0.1": false, "::": false, "0.0.0.0": false, "localhost.": false, "::ffff:127.0.0.1": false,
		"": false, "127.0.0.1%lo": false,
	} {
		if got := Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestCheckList(t *testing.T) {
	got, err := CheckList([]string{"https://a.example/cb", "http://127.0.0.1/cb", "https://a.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://a.example/cb http://127.0.0.1/cb"; strings.Join(got, " ") != want {
		t.Errorf("CheckList = %q, want %q (duplicates dropped, order kept)", got, want)
	}
	if got, err := CheckList(nil); err != nil || got == nil || len(got) != 0 {
		t.Errorf("CheckList(nil) = %#v, %v; want an empty list", got, err)
	}
	if _, err := CheckList([]string{"https://a.example/cb", "http://a.example/cb"}); !errors.Is(err, ErrHTTPHost) {
		t.Errorf("CheckList with a bad URI = %v, want %v", err, ErrHTTPHost)
	}
	many := make([]string, MaxCount+1)
	for i := range many {
		many[i] = "not a URI" // refused for its count before any is read
	}
	if _, err := CheckList(many); !errors.Is(err, ErrTooMany) {
		t.Errorf("CheckList of %d = %v, want %v", len(many), err, ErrTooMany)
	}
	ok := make([]string, MaxCount)
	for i := range ok {
		ok[i] = fmt.Sprintf("https://a.example/cb%d", i)
	}
	if _, err := CheckList(ok); err != nil {
		t.Errorf("CheckList of %d = %v, want nil", len(ok), err)
	}
}

// FuzzCheck: Check never panics, and what it accepts is an absolute URI
// without fragment or userinfo whose host, for http, is loopback.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb", "com.example.app:/cb",
		"https://u@h/", "http://evil/", "https://h/#f", "https://h:1/%41", "javascript:x", "https://[::1%25x]/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("accepted %q, which url.Parse refuses: %v", s, err)
		}
		if !u.IsAbs() || u.User != nil || strings.Contains(s, "#") || len(s) > MaxLen {
			t.Fatalf("accepted %q", s)
		}
		switch u.Scheme {
		case "http":
			if !Loopback(u.Hostname()) {
				t.Fatalf("accepted http on a host that is not loopback: %q", s)
			}
		case "https":
			if u.Hostname() == "" {
				t.Fatalf("accepted https without a host: %q", s)
			}
		default:
			if !strings.Contains(u.Scheme, ".") {
				t.Fatalf("accepted scheme %q: %q", u.Scheme, s)
			}
		}
	})
}
