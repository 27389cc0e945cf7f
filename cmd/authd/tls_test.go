package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed ECDSA P-256 certificate for localhost and
// 127.0.0.1 and its key as PEM files in dir, and returns their paths and
// the certificate.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "authd test " + name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, name+".crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, dir, name+".key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})))
	return certFile, keyFile, cert
}

// TestServe_TLS runs serve with --tls-cert and --tls-key and talks to it
// over real TLS on loopback: the health check and the metadata answer to a
// client that trusts the certificate, by address and by name; the issuer
// defaults to https://localhost:PORT; a client that does not trust the
// certificate is refused, and the failed handshake is logged as JSON.
func TestServe_TLS(t *testing.T) {
	dbPath := newDB(t)
	certFile, keyFile, cert := selfSigned(t, t.TempDir(), "server")
	s := startServe(t, nil, "--db", dbPath, "serve", "--addr", "127.0.0.1:0",
		"--tls-cert", certFile, "--tls-key", keyFile, "--log-format", "json")
	var addr, issuer string
	var tlsOn bool
	for _, m := range jsonLines(t, s.err.String()) {
		if m["msg"] == "authd listening" {
			addr, _ = m["addr"].(string)
			issuer, _ = m["issuer"].(string)
			tlsOn, _ = m["tls"].(bool)
		}
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("startup line address %q: %v\n%s", addr, err, s.err.String())
	}
	if want := "https://localhost:" + port; issuer != want || !tlsOn {
		t.Errorf("startup line: issuer %q tls %v, want %s and true", issuer, tlsOn, want)
	}

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	// Every connection goes to the listener; the URL's host is what the
	// certificate is checked against.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     dial,
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	defer client.CloseIdleConnections()

	resp := getJSON(t, client, "https://127.0.0.1:"+port+"/healthz", nil)
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("healthz not over TLS 1.2 or later: %+v", resp.TLS)
	}
	if got := resp.TLS.PeerCertificates[0]; !got.Equal(cert) {
		t.Errorf("server presented %v, want the test certificate", got.Subject)
	}

	var md map[string]any
	getJSON(t, client, "https://localhost:"+port+"/.well-known/oauth-authorization-server", &md)
	if md["issuer"] != issuer {
		t.Errorf("metadata issuer %v, want %s", md["issuer"], issuer)
	}
	for _, k := range []string{"token_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint"} {
		if v, _ := md[k].(string); !strings.HasPrefix(v, issuer+"/") {
			t.Errorf("metadata %s %q, want it under %s", k, v, issuer)
		}
	}
	getJSON(t, client, "https://localhost:"+port+"/.well-known/jwks.json", nil)

	// A client that does not trust the certificate fails the handshake.
	strict := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial}}
	_, err = strict.Get("https://localhost:" + port + "/healthz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("GET with the system roots: %v, want an unknown authority error", err)
	}
	// Plain HTTP on the TLS port gets no answer from the server's routes.
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial}}
	if resp, err := plain.Get("http://127.0.0.1:" + port + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d, want 400", resp.StatusCode)
		}
	}
	waitLog(t, s, "TLS handshake error", 5*time.Second)

	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.err.String())
	}
	jsonLines(t, s.err.String()) // also the handshake error and shutdown lines
}

// TestServe_TLSBadFiles: a missing, unreadable or mismatched certificate or
// key makes serve exit 1 with one sentence naming the file, before it
// opens the database or listens.
func TestServe_TLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	certA, keyA, _ := selfSigned(t, dir, "a")
	_, keyB, _ := selfSigned(t, dir, "b")
	missing := filepath.Join(dir, "missing.pem")
	garbage := writeFile(t, dir, "garbage.pem", "not PEM at all\n")
	tests := []struct {
		name, cert, key string
		names           []string
		want            string
	}{
		{"missing certificate", missing, keyA, []string{missing}, "cannot read the TLS certificate"},
		{"missing key", certA, missing, []string{missing}, "cannot read the TLS private key"},
		{"certificate is a directory", dir, keyA, []string{dir + ":"}, "cannot read the TLS certificate"},
		{"mismatched key", certA, keyB, []string{certA, keyB}, "does not match"},
		{"garbage certificate", garbage, keyA, []string{garbage, keyA}, "cannot be used"},
		{"garbage key", certA, garbage, []string{certA, garbage}, "cannot be used"},
		{"key as certificate", keyA, certA, []string{keyA, certA}, "cannot be used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbPath := newDB(t)
			before, _ := os.ReadFile(dbPath)
			r := cli(t, nil, "", "--db", dbPath, "serve", "--addr", "127.0.0.1:0", "--tls-cert", tt.cert, "--tls-key", tt.key)
			line := checkStartFailure(t, r, 1, dbPath+".sock", tt.names...)
			if !strings.Contains(line, tt.want) {
				t.Errorf("error line %q, want it to contain %q", line, tt.want)
			}
			if strings.Contains(r.stderr, "time=") {
				t.Errorf("serve logged before it checked the TLS files:\n%s", r.stderr)
			}
			if after, _ := os.ReadFile(dbPath); !bytes.Equal(before, after) {
				t.Error("serve changed the database")
			}
		})
	}
}
