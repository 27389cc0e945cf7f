package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/server/password/internal/argon2"
)

// MaxPasswordLen is the longest password, in bytes, that Hash and Verify
// accept.
const MaxPasswordLen = 1024

var (
	// ErrBusy means that no hashing slot became free within Config.Wait or
	// before the context's deadline. The server answers 503 with
	// Retry-After. When the deadline came first, the error also matches
	// context.DeadlineExceeded.
	ErrBusy = errors.New("password: all hashing slots busy")
	// ErrTooLong means that the password is longer than MaxPasswordLen. It
	// is checked before any hashing.
	ErrTooLong = errors.New("password: password too long")
)

// Config configures a Hasher.
type Config struct {
	// Params for new hashes; DefaultParams if zero. New panics if they are
	// not valid (see Params.Validate).
	Params Params
	// MaxConcurrent is the number of hashes computed at once; GOMAXPROCS
	// if zero or negative.
	MaxConcurrent int
	// Wait is the longest a call waits for a hashing slot; 2s if zero or
	// negative.
	Wait time.Duration
}

// Hasher hashes and verifies passwords with bounded concurrency. It is safe
// for concurrent use.
type Hasher struct {
	params Params
	wait   time.Duration
	sem    *slots
	mem    memPool

	// dummy is a PHC string with the current parameters that no password
	// matches (its key is random), for VerifyDummy.
	dummy string
}

// New returns a Hasher. It panics if cfg.Params are set and invalid, which
// is a programming error.
func New(cfg Config) *Hasher {
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if err := cfg.Params.Validate(); err != nil {
		panic(fmt.Sprintf("password: invalid params: %v", err))
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 2 * time.Second
	}
	salt := make([]byte, cfg.Params.SaltLen)
	key := make([]byte, cfg.Params.KeyLen)
	rand.Read(salt)
	rand.Read(key)
	return &Hasher{
		params: cfg.Params,
		wait:   cfg.Wait,
		sem:    newSlots(cfg.MaxConcurrent),
		mem:    memPool{kib: cfg.Params.Memory},
		dummy:  encodePHC(cfg.Params, salt, key),
	}
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// acquire takes a hashing slot, waiting at most h.wait or until ctx is done,
// behind every other waiter if ctx was marked with Deprioritize. It returns
// ErrBusy when the wait or ctx's deadline ran out, and ctx's error when ctx
// was canceled.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return h.ctxErr(err)
	}
	ok, err := h.sem.acquireFrom(ctx, h.wait, lowPriority(ctx), source(ctx))
	switch {
	case ok:
		return nil
	case err != nil:
		return h.ctxErr(err)
	default:
		return ErrBusy
	}
}

func (h *Hasher) ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return err
}

func (h *Hasher) release() { h.sem.release() }

// Hash returns the argon2id PHC string of pw with the current parameters
// and a fresh random salt. Errors: ErrTooLong, ErrBusy, or ctx's error.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > MaxPasswordLen {
		return "", ErrTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	m := h.mem.get()
	defer h.mem.put(m)
	key := argon2.IDKey(m, []byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodePHC(p, salt, key), nil
}

// Verify checks pw against a stored hash: an argon2id PHC string with any
// parameters within the bounds of ParsePHC, or a bcrypt hash ($2a$, $2b$,
// $2y$, cost up to MaxBcryptCost) of an imported user. The comparison is in
// constant time.
//
// rehash is true when the hash should be replaced by Hash(pw) after a
// successful login: always for bcrypt, and for argon2id hashes whose
// parameters differ from the current ones.
//
// Errors, all with ok false:
//   - ErrTooLong, before any hashing;
//   - ErrBusy, or ctx's error when ctx was canceled while waiting;
//   - an error wrapping ErrMalformedHash when phc is not a valid hash. That
//     is a problem of the stored data, not of the request: the server
//     should log it and answer as for a wrong password.
//
// Time depends on the stored hash's parameters, so a hash with other
// parameters than the current ones takes another time than VerifyDummy
// until it is rehashed.
func (h *Hasher) Verify(ctx context.Context, phc, pw string) (ok, rehash bool, err error) {
	if len(pw) > MaxPasswordLen {
		return false, false, ErrTooLong
	}
	if IsBcrypt(phc) {
		return h.verifyBcrypt(ctx, phc, pw)
	}
	p, salt, key, err := ParsePHC(phc)
	if err != nil {
		return false, false, err
	}
	ok, err = h.verifyArgon2(ctx, p, salt, key, pw)
	if err != nil {
		return false, false, err
	}
	return ok, p != h.params, nil
}

func (h *Hasher) verifyArgon2(ctx context.Context, p Params, salt, key []byte, pw string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	// A stored hash with more memory than the current parameters computes
	// in memory of its own, which is dropped afterwards.
	m := h.mem.get()
	defer h.mem.put(m)
	got := argon2.IDKey(m, []byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// verifyBcrypt checks a bcrypt hash. bcrypt reads at most 72 bytes of the
// password, like every other implementation, so a longer password matches
// a hash made from its first 72 bytes; the rehash that follows a successful
// login stores an argon2id hash of the whole password.
func (h *Hasher) verifyBcrypt(ctx context.Context, hash, pw string) (ok, rehash bool, err error) {
	if err := checkBcrypt(hash); err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	// CompareHashAndPassword compares in constant time (crypto/subtle).
	switch err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); {
	case err == nil:
		return true, true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, true, nil
	default:
		return false, false, fmt.Errorf("%w: bcrypt: %w", ErrMalformedHash, err)
	}
}

// VerifyDummy does the work of a failed Verify, against a hash made at New
// with the current parameters that no password matches, so that answering
// for an unknown or disabled user takes as long as for a wrong password. It
// takes a hashing slot like Verify and returns the same errors: ErrTooLong,
// ErrBusy or ctx's error.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, _, err := h.Verify(ctx, h.dummy, pw)
	return err
}
