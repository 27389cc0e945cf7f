package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	jose "github.com/go-jose/go-jose/v4"
	bbolt "go.etcd.io/bbolt"
)

// refServer is the reference: Gin handlers, in a child process of this
// tool, that do only the work a request cannot avoid, so that authd's
// throughput can be read as a fraction of what this machine allows.
//
//	POST /sign-write  one signature and one durable bbolt write
//	POST /sign2-write two signatures (an access token and an ID token) and one durable bbolt write
//	POST /sign        one signature
//	POST /write       one durable bbolt write
//	POST /verify      one RS256 verification of the form's token
//	GET  /jwks        fixed bytes (authd's own JWKS body)
//	GET  /metadata    fixed bytes (authd's own metadata body)
//	GET  /micro       sign and commit costs one at a time (see measureMicro)
//	GET  /argon2      raw argon2id rate on all cores (see argon2Rate; ?reuse=1 in reused memory)
//
// Durable writes go through a group commit, as a well-built server would
// do: the first pending write starts a transaction at once and every write
// queued meanwhile joins it, so one fsync serves many.
type refServer struct {
	base   string
	srv    *http.Server
	signer jose.Signer
	db     *bbolt.DB
	writes chan refWrite
	wg     sync.WaitGroup

	// idSigner signs ID tokens (typ JWT) with the same key.
	idSigner jose.Signer

	// verifyKeys are authd's published keys, to verify its tokens.
	verifyKeys jose.JSONWebKeySet
	jwks       []byte
	jwksETag   string
	metadata   []byte
}

type refWrite struct {
	key, val []byte
	done     chan error
}

var refBucket = []byte("tokens")

// startRefServer starts the reference on a free loopback port. jwks and
// metadata are the bodies authd serves, so the fixed-bytes reference
// answers with exactly as many bytes. Its signatures are alg's (RS256 with
// RSA-2048, ES256 with P-256, EdDSA with Ed25519), as authd's with that
// --signing-alg.
func startRefServer(dir string, jwks []byte, jwksETag string, metadata []byte, alg string) (*refServer, error) {
	var key any
	var err error
	switch alg {
	case "RS256":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("no reference key for signing algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: key, KeyID: "ref"}},
		(&jose.SignerOptions{}).WithType("at+jwt"),
	)
	if err != nil {
		return nil, err
	}
	idSigner, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: key, KeyID: "ref"}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("authd's JWKS: %w", err)
	}
	db, err := bbolt.Open(filepath.Join(dir, "ref.db"), 0o600, &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(refBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	r := &refServer{
		base: "http://" + ln.Addr().String(), signer: signer, idSigner: idSigner, db: db,
		writes: make(chan refWrite, 256), verifyKeys: set,
		jwks: jwks, jwksETag: jwksETag, metadata: metadata,
	}
	r.wg.Go(r.commitLoop)

	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/sign-write", r.handleSignWrite)
	e.POST("/sign2-write", r.handleSign2Write)
	e.POST("/sign", r.handleSign)
	e.POST("/write", r.handleWrite)
	e.POST("/verify", r.handleVerify)
	e.GET("/jwks", r.handleFixed(r.jwks, r.jwksETag))
	e.GET("/metadata", r.handleFixed(r.metadata, ""))
	e.GET("/micro", r.handleMicro)
	e.GET("/argon2", r.handleArgon2)
	r.srv = &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	r.wg.Go(func() { _ = r.srv.Serve(ln) })
	return r, nil
}

// Close stops the server, the committer and the database.
func (r *refServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	close(r.writes)
	r.wg.Wait()
	return errors.Join(err, r.db.Close())
}

func (r *refServer) commitLoop() {
	batch := make([]refWrite, 0, 256)
	for w := range r.writes {
		batch = append(batch[:0], w)
	drain:
		for len(batch) < cap(batch) {
			select {
			case w, ok := <-r.writes:
				if !ok {
					break drain
				}
				batch = append(batch, w)
			default:
				break drain
			}
		}
		err := r.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(refBucket)
			for _, w := range batch {
				if err := b.Put(w.key, w.val); err != nil {
					return err
				}
			}
			return nil
		})
		for _, w := range batch {
			w.done <- err
		}
		clear(batch)
	}
}

// write stores one token-sized record durably through the group commit.
func (r *refServer) write() error {
	var tok [32]byte
	rand.Read(tok[:])
	sum := sha256.Sum256(tok[:])
	key := []byte(hex.EncodeToString(sum[:]))
	val := make([]byte, 96) // about the size of authd's encoded token record
	rand.Read(val)
	done := make(chan error, 1)
	r.writes <- refWrite{key: key, val: val, done: done}
	return <-done
}

// refClaims mirror the claims authd signs (RFC 9068).
type refClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	Expiry            int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	NotBefore         int64  `json:"nbf"`
	JTI               string `json:"jti"`
	ClientID          string `json:"client_id"`
	Scope             string `json:"scope"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
}

type refTokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign makes an access token like authd's.
func (r *refServer) sign() (string, error) {
	now := time.Now()
	payload, err := json.Marshal(refClaims{
		Issuer: "http://127.0.0.1", Subject: randomID(16), Audience: "http://127.0.0.1",
		Expiry: now.Add(15 * time.Minute).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		JTI: randomID(16), ClientID: "bench-app", Scope: "api:read api:write",
		AuthTime: now.Unix(), PreferredUsername: "bench-user-0",
	})
	if err != nil {
		return "", err
	}
	obj, err := r.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func (r *refServer) respond(c *gin.Context, resp refTokenResponse) {
	body, err := json.Marshal(resp)
	if err != nil {
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json", body)
}

func (r *refServer) handleSignWrite(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	at, err := r.sign()
	if err == nil {
		err = r.write()
	}
	if err != nil {
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	r.respond(c, refTokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: 900, RefreshToken: "authd_rt_" + randomID(32), Scope: "api:read api:write"})
}

// refIDClaims mirror the claims of authd's ID tokens (SPEC §2.7).
type refIDClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	Expiry            int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	AuthTime          int64  `json:"auth_time"`
	Nonce             string `json:"nonce,omitempty"`
	AZP               string `json:"azp"`
	ATHash            string `json:"at_hash"`
	SID               string `json:"sid"`
	PreferredUsername string `json:"preferred_username,omitempty"`
}

// signID makes an ID token like authd's for the access token at.
func (r *refServer) signID(at string) (string, error) {
	now := time.Now()
	sum := sha256.Sum256([]byte(at))
	payload, err := json.Marshal(refIDClaims{
		Issuer: "http://127.0.0.1", Subject: randomID(16), Audience: "bench-web",
		Expiry: now.Add(15 * time.Minute).Unix(), IssuedAt: now.Unix(), AuthTime: now.Unix(),
		Nonce: randomID(12), AZP: "bench-web", ATHash: base64.RawURLEncoding.EncodeToString(sum[:16]),
		SID: randomID(16), PreferredUsername: "bench-user-0",
	})
	if err != nil {
		return "", err
	}
	obj, err := r.idSigner.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// handleSign2Write is the unavoidable work of a code exchange with scope
// openid: an access token and an ID token signed, and one durable commit
// (the code spent and the family created, in one transaction).
func (r *refServer) handleSign2Write(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	at, err := r.sign()
	var id string
	if err == nil {
		id, err = r.signID(at)
	}
	if err == nil {
		err = r.write()
	}
	if err != nil {
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	r.respond(c, refTokenResponse{AccessToken: at, IDToken: id, TokenType: "Bearer", ExpiresIn: 900, RefreshToken: "authd_rt_" + randomID(32), Scope: "openid profile api:read"})
}

func (r *refServer) handleSign(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	at, err := r.sign()
	if err != nil {
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	r.respond(c, refTokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: 900, Scope: "api:read"})
}

func (r *refServer) handleWrite(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	if err := r.write(); err != nil {
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
}

// handleVerify verifies an RS256 JWT against authd's published keys and
// decodes its claims: the work introspection of an access token cannot
// avoid.
func (r *refServer) handleVerify(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	inactive := func() { c.Data(http.StatusOK, "application/json", []byte(`{"active":false}`)) }
	obj, err := jose.ParseSigned(c.Request.PostForm.Get("token"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(obj.Signatures) != 1 {
		inactive()
		return
	}
	keys := r.verifyKeys.Key(obj.Signatures[0].Header.KeyID)
	if len(keys) == 0 {
		inactive()
		return
	}
	payload, err := obj.Verify(keys[0])
	if err != nil {
		inactive()
		return
	}
	var cl refClaims
	if err := json.Unmarshal(payload, &cl); err != nil || time.Now().Unix() >= cl.Expiry {
		inactive()
		return
	}
	body, _ := json.Marshal(struct {
		Active   bool   `json:"active"`
		Scope    string `json:"scope"`
		ClientID string `json:"client_id"`
		Sub      string `json:"sub"`
		Exp      int64  `json:"exp"`
	}{true, cl.Scope, cl.ClientID, cl.Subject, cl.Expiry})
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json", body)
}

func (r *refServer) handleFixed(body []byte, etag string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Cache-Control"] = []string{"public, max-age=300"}
		if etag != "" {
			h["Etag"] = []string{etag}
		}
		c.Status(http.StatusOK)
		c.Writer.Write(body)
	}
}

// refServerMain is the child's main: it serves the reference on a free
// loopback port, prints its base URL on stdout and serves until SIGTERM,
// SIGINT or its stdin closes (the parent is gone).
func refServerMain(dir string) error {
	jwks, err1 := os.ReadFile(filepath.Join(dir, "jwks.json"))
	etag, err2 := os.ReadFile(filepath.Join(dir, "jwks.etag"))
	metadata, err3 := os.ReadFile(filepath.Join(dir, "metadata.json"))
	alg, err4 := os.ReadFile(filepath.Join(dir, "signing.alg"))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	r, err := startRefServer(dir, jwks, string(etag), metadata, string(alg))
	if err != nil {
		return err
	}
	fmt.Println(r.base)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		var b [1]byte
		for {
			if _, err := os.Stdin.Read(b[:]); err != nil {
				stop()
				return
			}
		}
	}()
	<-ctx.Done()
	return r.Close()
}

// handleMicro measures one sign and one durable commit, n times each, and
// answers their medians as JSON.
func (r *refServer) handleMicro(c *gin.Context) {
	n, err := strconv.Atoi(c.Query("n"))
	if err != nil || n < 1 || n > 10_000 {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	m, err := measureMicro(c.Request.Context(), r, n)
	if err != nil {
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.JSON(http.StatusOK, m)
}

// handleArgon2 hashes on all cores for the given milliseconds and answers
// the hashes counted.
func (r *refServer) handleArgon2(c *gin.Context) {
	d, err := strconv.Atoi(c.Query("ms"))
	if err != nil || d < 1 || d > 600_000 {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	rate, workers := argon2Rate(c.Request.Context(), time.Duration(d)*time.Millisecond, c.Query("reuse") == "1")
	c.JSON(http.StatusOK, argonAnswer{Rate: rate, Workers: workers})
}
