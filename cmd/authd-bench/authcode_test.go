package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignInForm_Parse(t *testing.T) {
	page, _ := url.Parse("http://127.0.0.1:8080/authorize?client_id=x")
	for _, tc := range []struct {
		name, body, action string
		hidden             url.Values
		wantErr            bool
	}{
		{
			name: "sign-in page",
			body: `<html><body><form method="get" action="/search"><input name="q"></form>
<form method="POST" action="/authorize"><input type="hidden" name="csrf" value="c1"><input type="hidden" name="request" value="r&amp;1">
<input name="username" value="alice"><input name="password" type="password"><button type="submit">Sign in</button></form></body></html>`,
			action: "http://127.0.0.1:8080/authorize", hidden: url.Values{"csrf": {"c1"}, "request": {"r&1"}, "username": {"alice"}, "password": {""}},
		},
		{
			name:   "empty action posts to the page",
			body:   `<form method="post"><input name="username"><input name="password" type="password"><input type="submit" name="go" value="1"></form>`,
			action: page.String(), hidden: url.Values{"username": {""}, "password": {""}},
		},
		{name: "no password input", body: `<form method="post"><input name="username"></form>`, wantErr: true},
		{name: "not HTML", body: `{"error":"x"}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			action, vals, err := signInForm(page, strings.NewReader(tc.body))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got action %v, want an error", action)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if action.String() != tc.action || vals.Encode() != tc.hidden.Encode() {
				t.Errorf("got %s %s, want %s %s", action, vals.Encode(), tc.action, tc.hidden.Encode())
			}
		})
	}
}

func TestCodeFrom(t *testing.T) {
	for _, tc := range []struct {
		status   int
		location string
		code     string
	}{
		{http.StatusSeeOther, codeRedirect + "?code=abc&state=bench&iss=x", "abc"},
		{http.StatusFound, codeRedirect + "?error=login_required&state=bench", ""},
		{http.StatusSeeOther, "http://evil.example/cb?code=abc", ""},
		{http.StatusOK, "", ""},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Location": {tc.location}}}
		got, err := codeFrom(resp)
		if got != tc.code || (err == nil) != (tc.code != "") {
			t.Errorf("%d %s: got %q, %v; want %q", tc.status, tc.location, got, err, tc.code)
		}
	}
}

func TestCodePoolSize(t *testing.T) {
	s := loadSpec{Conns: 64, Warmup: time.Second, Duration: 2 * time.Second}
	if n := codePoolSize(&leg{}, s); n != 2000*3*3/2+4*64 {
		t.Errorf("before a ceiling figure: %d codes", n)
	}
	c := &leg{res: loadResult{Requests: 1000, Window: time.Second}}
	if n := codePoolSize(c, s); n != 1000*3*3/2+4*64 {
		t.Errorf("at a ceiling of 1000/s: %d codes, want %d", n, 1000*3*3/2+4*64)
	}
}
