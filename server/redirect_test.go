package server

import "testing"

func TestMatchRedirectURI(t *testing.T) {
	registered := []string{
		"https://app.example/cb",
		"https://app.example/q?tenant=1",
		"http://127.0.0.1/native",
		"http://[::1]:8080/v6",
		"http://localhost:9000/local",
		"com.example.app:/oauth",
	}
	tests := []struct {
		name, given, want string
	}{
		{"exact", "https://app.example/cb", "https://app.example/cb"},
		{"exact with query", "https://app.example/q?tenant=1", "https://app.example/q?tenant=1"},
		{"private-use scheme", "com.example.app:/oauth", "com.example.app:/oauth"},
		{"loopback v4 any port", "http://127.0.0.1:53124/native", "http://127.0.0.1/native"},
		{"loopback v4 no port", "http://127.0.0.1/native", "http://127.0.0.1/native"},
		{"loopback v4 port 65535", "http://127.0.0.1:65535/native", "http://127.0.0.1/native"},
		{"loopback v6 other port", "http://[::1]:1/v6", "http://[::1]:8080/v6"},
		{"loopback v6 no port", "http://[::1]/v6", "http://[::1]:8080/v6"},

		{"unregistered", "https://evil.example/cb", ""},
		{"prefix", "https://app.example/c", ""},
		{"suffix", "https://app.example/cb/evil", ""},
		{"suffix query", "https://app.example/cb?x=1", ""},
		{"other path", "https://app.example/other", ""},
		{"port on non-loopback", "https://app.example:8443/cb", ""},
		{"default port spelled", "https://app.example:443/cb", ""},
		{"scheme http", "http://app.example/cb", ""},
		{"userinfo", "https://app.example@evil.example/cb", ""},
		{"userinfo after", "https://evil.example@app.example/cb", ""},
		{"fragment", "https://app.example/cb#x", ""},
		{"percent-encoded path", "https://app.example/%63b", ""},
		{"percent-encoded host", "https://app%2eexample/cb", ""},
		{"encoded slash", "https://app.example%2fcb", ""},
		{"trailing slash", "https://app.example/cb/", ""},
		{"host case", "https://APP.example/cb", ""},
		{"scheme case", "HTTPS://app.example/cb", ""},
		{"dot segment", "https://app.example/x/../cb", ""},
		{"query reordered", "https://app.example/q?tenant=1&x", ""},
		{"localhost any port refused", "http://localhost:9001/local", ""},
		{"loopback other path", "http://127.0.0.1:5000/native/x", ""},
		{"loopback userinfo", "http://127.0.0.1:80@evil.example/native", ""},
		{"loopback host suffix", "http://127.0.0.1.evil.example/native", ""},
		{"loopback port zero", "http://127.0.0.1:0/native", ""},
		{"loopback port leading zero", "http://127.0.0.1:080/native", ""},
		{"loopback port too big", "http://127.0.0.1:65536/native", ""},
		{"loopback empty port", "http://127.0.0.1:/native", ""},
		{"loopback https", "https://127.0.0.1:5000/native", ""},
		{"loopback fragment", "http://127.0.0.1:5000/native#x", ""},
		{"loopback other address", "http://127.0.0.2:5000/native", ""},
		{"loopback v6 spelled out", "http://[0:0:0:0:0:0:0:1]:5000/v6", ""},
		{"loopback v4 for v6", "http://127.0.0.1:8080/v6", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := matchRedirectURI(registered, tt.given)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("matchRedirectURI(%q) = %q, %v; want %q", tt.given, got, ok, tt.want)
			}
		})
	}
}

func TestAppendQuery(t *testing.T) {
	tests := []struct{ u, q, want string }{
		{"https://a.example/cb", "code=x", "https://a.example/cb?code=x"},
		{"https://a.example/cb?t=1", "code=x", "https://a.example/cb?t=1&code=x"},
		{"https://a.example/cb?", "code=x", "https://a.example/cb?code=x"},
		{"https://a.example/cb?t=%2F", "code=x", "https://a.example/cb?t=%2F&code=x"},
		{"https://a.example/cb", "", "https://a.example/cb"},
	}
	for _, tt := range tests {
		if got := appendQuery(tt.u, tt.q); got != tt.want {
			t.Errorf("appendQuery(%q, %q) = %q; want %q", tt.u, tt.q, got, tt.want)
		}
	}
}
