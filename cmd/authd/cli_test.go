package main

import (
	"context"
	"flag"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRun_ExitCodes(t *testing.T) {
	dbPath := newDB(t)
	dir := filepath.Dir(dbPath)
	missing := filepath.Join(dir, "missing.db")
	tests := []struct {
		name  string
		args  []string
		stdin string
		env   map[string]string
		code  int
		err   string
	}{
		{"no command", nil, "", nil, 2, "no command given"},
		{"unknown command", []string{"frobnicate"}, "", nil, 2, `unknown command "frobnicate"`},
		{"help", []string{"help"}, "", nil, 0, ""},
		{"-h", []string{"-h"}, "", nil, 0, ""},
		{"version", []string{"version"}, "", nil, 0, ""},
		{"version extra", []string{"version", "x"}, "", nil, 2, `unexpected argument "x"`},
		{"unknown global flag", []string{"--nope", "user", "list"}, "", nil, 2, "unknown flag -nope"},
		{"user without subcommand", []string{"user"}, "", nil, 2, "user needs a subcommand"},
		{"user unknown subcommand", []string{"user", "fly"}, "", nil, 2, `unknown user subcommand "fly"`},
		{"user add without name", []string{"--db", dbPath, "user", "add", "--password-stdin"}, "pw\n", nil, 2, "missing the username"},
		{"user add unknown flag", []string{"--db", dbPath, "user", "add", "x", "--bogus"}, "", nil, 2, "unknown flag -bogus"},
		{"user add no terminal", []string{"--db", dbPath, "user", "add", "x"}, "", nil, 2, "use --password-stdin"},
		{"user add empty password", []string{"--db", dbPath, "user", "add", "x", "--password-stdin"}, "\n", nil, 1, "empty"},
		{"user show unknown", []string{"--db", dbPath, "user", "show", "ghost"}, "", nil, 1, `user "ghost" not found`},
		{"user list missing db", []string{"--db", missing, "user", "list"}, "", nil, 1, "there is no database at"},
		{"client add public with secret", []string{"--db", dbPath, "client", "add", "x", "--public", "--secret-stdin"}, "s\n", nil, 2, "a public client has no secret"},
		{"client add bad grant", []string{"--db", dbPath, "client", "add", "x", "--grant", "implicit"}, "", nil, 1, `"implicit" is not valid`},
		{"client add bad id", []string{"--db", dbPath, "client", "add", "a b"}, "", nil, 1, "is not valid"},
		{"session revoke nothing", []string{"--db", dbPath, "session", "revoke"}, "", nil, 2, "missing the session"},
		{"session revoke both", []string{"--db", dbPath, "session", "revoke", "f", "--user", "u"}, "", nil, 2, "not both"},
		{"keys revoke without kid", []string{"--db", dbPath, "keys", "revoke"}, "", nil, 2, "missing the key id"},
		{"keys revoke kid like a flag", []string{"--db", dbPath, "keys", "revoke", "-4LtY2Vsz_0Kone4Srjub9NotYGlnDWdK5r7WTMqEnI"}, "", nil, 2, `put "--" before it`},
		{"keys revoke unknown kid after --", []string{"--db", dbPath, "keys", "revoke", "--", "-4LtY2Vsz_0Kone4Srjub9NotYGlnDWdK5r7WTMqEnI"}, "", nil, 1, "-4LtY2Vsz_0Kone4Srjub9NotYGlnDWdK5r7WTMqEnI"},
		{"backup onto the database", []string{"--db", dbPath, "backup", dbPath}, "", nil, 2, "must not be the database"},
		{"serve bad key bits", []string{"--db", dbPath, "serve", "--key-bits", "1024"}, "", nil, 2, "--key-bits must be 2048, 3072 or 4096"},
		{"serve bad signing alg", []string{"--db", dbPath, "serve", "--signing-alg", "HS256"}, "", nil, 2, "--signing-alg must be RS256, ES256 or EdDSA"},
		{"serve bad signing alg env", []string{"--db", dbPath, "serve"}, "", map[string]string{"AUTHD_SIGNING_ALG": "none"}, 2, "--signing-alg must be RS256, ES256 or EdDSA"},
		{"serve bad log format", []string{"--db", dbPath, "serve", "--log-format", "xml"}, "", nil, 2, "--log-format must be text or json"},
		{"serve http issuer off loopback", []string{"--db", dbPath, "serve", "--issuer", "http://auth.example.com"}, "", nil, 2, `--issuer: issuer "http://auth.example.com" must use https`},
		{"serve tls cert without key", []string{"--db", dbPath, "serve", "--tls-cert", "c.pem"}, "", nil, 2, "--tls-cert and --tls-key must be given together"},
		{"serve bad proxy", []string{"--db", dbPath, "serve", "--trusted-proxies", "10.0.0.0/8,nope"}, "", nil, 2, `"nope" is not a CIDR`},
		{"serve bad env", []string{"--db", dbPath, "serve"}, "", map[string]string{"AUTHD_ACCESS_TTL": "soon"}, 2, "AUTHD_ACCESS_TTL"},
		{"serve several problems", []string{"--db", dbPath, "serve", "--key-bits", "1", "--access-ttl", "-1s"}, "", nil, 2, "--access-ttl must be positive"},
		{"serve argument", []string{"--db", dbPath, "serve", "now"}, "", nil, 2, "serve takes no arguments"},
		{"serve address in use", []string{"--db", dbPath, "serve", "--addr", "256.0.0.1:80"}, "", nil, 1, "listen on 256.0.0.1:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb syncBuffer
			code := run(context.Background(), tt.args, strings.NewReader(tt.stdin), &out, &errb, mapEnv(tt.env))
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), tt.err) {
				t.Errorf("stderr %q, want it to contain %q", errb.String(), tt.err)
			}
			// serve logs to stderr too; the error is one "authd:" line.
			if n := strings.Count("\n"+errb.String(), "\nauthd: "); tt.code != 0 && n != 1 {
				t.Errorf("%d error lines, want 1: %q", n, errb.String())
			}
			if tt.code == 0 && errb.String() != "" {
				t.Errorf("stderr on success: %q", errb.String())
			}
		})
	}
}

func TestServeConfig_EnvAndFlags(t *testing.T) {
	env := mapEnv(map[string]string{
		"AUTHD_ADDR":                "0.0.0.0:9000",
		"AUTHD_ACCESS_TTL":          "5m",
		"AUTHD_KEY_BITS":            "4096",
		"AUTHD_SIGNING_ALG":         "ES256",
		"AUTHD_DEV":                 "true",
		"AUTHD_TRUSTED_PROXIES":     "10.0.0.0/8, 192.168.1.1",
		"AUTHD_REFRESH_REUSE_GRACE": "0s",
	})
	var c serveConfig
	fs := serveFlags(&c)
	if _, err := parseArgs(fs, []string{"--addr", "127.0.0.1:7000", "--key-bits=3072", "--trusted-proxies", "172.16.0.0/12"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, env); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	// The flag wins over the environment; the environment over the default.
	if c.Addr != "127.0.0.1:7000" {
		t.Errorf("addr %q, want the flag's", c.Addr)
	}
	if c.KeyBits != 3072 {
		t.Errorf("key bits %d, want the flag's 3072", c.KeyBits)
	}
	if c.AccessTTL != 5*time.Minute {
		t.Errorf("access ttl %v, want the environment's 5m", c.AccessTTL)
	}
	if c.SigningAlg != "ES256" {
		t.Errorf("signing alg %q, want the environment's ES256", c.SigningAlg)
	}
	if !c.Dev {
		t.Error("dev not set from AUTHD_DEV")
	}
	if c.RefreshReuseGrace != 0 {
		t.Errorf("refresh reuse grace %v, want the environment's 0", c.RefreshReuseGrace)
	}
	if c.RefreshTTL != 720*time.Hour || c.JWKSMaxAge != 5*time.Minute || c.KeyRotation != 24*time.Hour || c.LogFormat != "text" {
		t.Errorf("defaults not kept: %+v", c)
	}
	p := c.TrustedProxies
	if want := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")}; !reflect.DeepEqual(p, want) {
		t.Errorf("trusted proxies %v, want the flag's %v", p, want)
	}

	// Without flags, the environment applies, comma-separated lists too.
	var d serveConfig
	fs = serveFlags(&d)
	parseArgs(fs, nil)
	applyEnv(fs, env)
	if err := d.validate(); err != nil {
		t.Fatal(err)
	}
	p = d.TrustedProxies
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32")}; !reflect.DeepEqual(p, want) || d.Addr != "0.0.0.0:9000" {
		t.Errorf("from the environment: proxies %v addr %q", p, d.Addr)
	}
}

// TestGlobalFlags_Env: AUTHD_DB and AUTHD_SOCKET are read, the flags win.
func TestGlobalFlags_Env(t *testing.T) {
	dbPath := newDB(t)
	env := map[string]string{"AUTHD_DB": filepath.Join(t.TempDir(), "other.db")}
	// The flag wins: the user is created in dbPath.
	mustCLI(t, env, "password-1\n", "--db", dbPath, "user", "add", "frank", "--password-stdin")
	if r := cli(t, env, "", "user", "show", "frank"); r.code != 1 {
		t.Errorf("AUTHD_DB names another database, yet: %v", r)
	}
	env["AUTHD_DB"] = dbPath
	if r := mustCLI(t, env, "", "user", "show", "frank"); !strings.Contains(r.stdout, "frank") {
		t.Errorf("user show with AUTHD_DB: %v", r)
	}
	// A server on a custom socket is found through AUTHD_SOCKET.
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	s := startServe(t, map[string]string{"AUTHD_SOCKET": sock}, "--db", dbPath, "serve", "--addr", "127.0.0.1:0")
	env["AUTHD_SOCKET"] = sock
	if r := mustCLI(t, env, "", "user", "list"); !strings.Contains(r.stdout, "frank") {
		t.Errorf("user list over AUTHD_SOCKET: %v", r)
	}
	if r := cli(t, map[string]string{"AUTHD_DB": dbPath}, "", "user", "list"); r.code != 1 || !strings.Contains(r.stderr, "does not answer on the control socket") {
		t.Errorf("user list without the custom socket: %v", r)
	}
	s.stop(t)
}

func TestParseArgs_Interspersed(t *testing.T) {
	var l listFlag
	var b bool
	fs := newFlagSet("t")
	fs.Var(&l, "scope", "")
	fs.BoolVar(&b, "admin", false, "")
	pos, err := parseArgs(fs, []string{"alice", "--scope", "a,b", "--admin", "--scope=c", "--", "--literal"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pos, []string{"alice", "--literal"}) || !reflect.DeepEqual([]string(l), []string{"a", "b", "c"}) || !b {
		t.Errorf("got pos %q scopes %q admin %v", pos, l, b)
	}
}

// TestUndefinedFlag: the flag a failed Parse stopped at is named when the
// flag set does not define it, and only then, found by the flag package's
// own rules (values of non-boolean flags skipped, "--" and the first
// non-flag end the flags), not by reading the error's text.
func TestUndefinedFlag(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := newFlagSet("t")
		fs.String("db", "", "")
		fs.String("socket", "", "")
		fs.Bool("json", false, "")
		fs.Duration("wait", 0, "")
		return fs
	}
	tests := []struct {
		name string
		args []string
		want string // "" when the error is not an undefined flag
	}{
		{"double dash", []string{"--nope"}, "nope"},
		{"single dash", []string{"-nope", "x"}, "nope"},
		{"with value", []string{"--nope=1"}, "nope"},
		{"after flags", []string{"--db", "x", "--json", "--bogus"}, "bogus"},
		{"after a value like a flag", []string{"--db", "-x", "--bogus"}, "bogus"},
		{"after a value that names a flag", []string{"--db", "--socket", "--bogus"}, "bogus"},
		{"after a bool with value", []string{"--json=true", "-k"}, "k"},
		{"key id like a flag", []string{"-4LtY2Vsz_0Kone"}, "4LtY2Vsz_0Kone"},
		{"bad value", []string{"--wait", "soon"}, ""},
		{"bad value like a flag", []string{"--wait", "-nope"}, ""},
		{"bad value with =", []string{"--wait=-nope"}, ""},
		{"missing value", []string{"--db"}, ""},
		{"bad syntax", []string{"---x"}, ""},
		{"bad syntax =", []string{"-=x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFS()
			if err := fs.Parse(tt.args); err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.args)
			}
			got, ok := undefinedFlag(fs, tt.args)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("undefinedFlag(%q) = %q, %v; want %q", tt.args, got, ok, tt.want)
			}
		})
	}
}
