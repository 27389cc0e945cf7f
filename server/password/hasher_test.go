package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/server/internal/timingtest"
)

// tiny are parameters that make tests fast.
var tiny = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newTiny(t *testing.T, slots int, wait time.Duration) *Hasher {
	t.Helper()
	return New(Config{Params: tiny, MaxConcurrent: slots, Wait: wait})
}

// fill takes every slot of h, as if other requests were hashing, and
// returns a function that frees them.
func fill(h *Hasher) (release func()) {
	n := h.sem.size
	for range n {
		h.sem.acquire(context.Background(), time.Hour, false)
	}
	return func() {
		for range n {
			h.sem.release()
		}
	}
}

func TestNew_Defaults(t *testing.T) {
	h := New(Config{})
	if got := h.Params(); got != DefaultParams {
		t.Errorf("Params() = %+v, want %+v", got, DefaultParams)
	}
	if h.wait != 2*time.Second {
		t.Errorf("wait = %v, want 2s", h.wait)
	}
	if h.sem.size < 1 {
		t.Errorf("slots = %d, want GOMAXPROCS", h.sem.size)
	}
}

func TestNew_InvalidParamsPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with Time 0 did not panic")
		}
	}()
	New(Config{Params: Params{Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}})
}

func TestHasher_Hash_Format(t *testing.T) {
	h := newTiny(t, 1, time.Second)
	phc, err := h.Hash(t.Context(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(phc) {
		t.Errorf("Hash = %q, want match of %s", phc, re)
	}
	other, _ := h.Hash(t.Context(), "correct horse")
	if other == phc {
		t.Error("two hashes of one password are equal; salt not random")
	}
}

func TestHasher_Verify_RoundTrip(t *testing.T) {
	h := newTiny(t, 2, time.Second)
	for _, pw := range []string{"", "correct horse battery staple", "pässwörd 🔑", strings.Repeat("x", MaxPasswordLen)} {
		phc, err := h.Hash(t.Context(), pw)
		if err != nil {
			t.Fatalf("Hash(len %d): %v", len(pw), err)
		}
		ok, rehash, err := h.Verify(t.Context(), phc, pw)
		if !ok || rehash || err != nil {
			t.Errorf("Verify(right password, len %d) = %v, %v, %v; want true, false, nil", len(pw), ok, rehash, err)
		}
		wrong := "x"
		if pw != "" {
			wrong = pw[:len(pw)-1] + "\x00"
		}
		ok, rehash, err = h.Verify(t.Context(), phc, wrong)
		if ok || rehash || err != nil {
			t.Errorf("Verify(wrong password, len %d) = %v, %v, %v; want false, false, nil", len(pw), ok, rehash, err)
		}
	}
}

// TestHasher_Verify_Reference checks hashes of the reference implementation
// (phc-winner-argon2, src/test.c).
func TestHasher_Verify_Reference(t *testing.T) {
	h := New(Config{Params: DefaultParams, MaxConcurrent: 1})
	for _, phc := range []string{
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	} {
		ok, rehash, err := h.Verify(t.Context(), phc, "password")
		if !ok || !rehash || err != nil {
			t.Errorf("Verify(%s, password) = %v, %v, %v; want true, true, nil", phc, ok, rehash, err)
		}
		if ok, _, _ := h.Verify(t.Context(), phc, "passwore"); ok {
			t.Errorf("Verify(%s, passwore) = true", phc)
		}
	}
}

func TestHasher_Verify_Rehash(t *testing.T) {
	old := newTiny(t, 1, time.Second)
	phc, err := old.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params Params
		want   bool
	}{
		{"same", tiny, false},
		{"memory", Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"time", Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"threads", Params{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"salt length", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 32, KeyLen: 32}, true},
		{"key length", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Config{Params: tt.params, MaxConcurrent: 1})
			ok, rehash, err := h.Verify(t.Context(), phc, "pw")
			if !ok || err != nil {
				t.Fatalf("Verify = %v, %v; want true, nil", ok, err)
			}
			if rehash != tt.want {
				t.Errorf("rehash = %v, want %v", rehash, tt.want)
			}
		})
	}
}

func TestHasher_Verify_Bcrypt(t *testing.T) {
	h := newTiny(t, 1, time.Second)
	b, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		t.Run(prefix, func(t *testing.T) {
			hash := prefix + string(b[4:])
			ok, rehash, err := h.Verify(t.Context(), hash, "hunter2")
			if !ok || !rehash || err != nil {
				t.Errorf("Verify(right) = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			ok, _, err = h.Verify(t.Context(), hash, "hunter3")
			if ok || err != nil {
				t.Errorf("Verify(wrong) = %v, %v; want false, nil", ok, err)
			}
		})
	}
	// bcrypt reads 72 bytes, like every implementation.
	long := strings.Repeat("a", 72)
	b, _ = bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if ok, _, err := h.Verify(t.Context(), string(b), long+"tail"); !ok || err != nil {
		t.Errorf("Verify(73+ byte password against 72-byte bcrypt) = %v, %v; want true, nil", ok, err)
	}
}

func TestHasher_Verify_Malformed(t *testing.T) {
	h := newTiny(t, 1, time.Second)
	valid, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	for _, hash := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$c29tZWhhc2hzb21laGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ",
		"$2x$" + string(valid[4:]),
		"$2b$31$" + string(valid[7:]),
		"$2b$03$" + string(valid[7:]),
		string(valid[:59]),
		string(valid) + "x",
		"$5$rounds=5000$salt$hash",
	} {
		ok, rehash, err := h.Verify(t.Context(), hash, "x")
		if ok || rehash || !errors.Is(err, ErrMalformedHash) || errors.Is(err, ErrBusy) {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, ErrMalformedHash", hash, ok, rehash, err)
		}
		if err != nil && hash != "" && strings.Contains(err.Error(), hash) {
			t.Errorf("error %q contains the hash", err)
		}
	}
}

func TestHasher_TooLong(t *testing.T) {
	h := newTiny(t, 1, time.Millisecond)
	phc, _ := h.Hash(t.Context(), "pw")
	defer fill(h)() // no slot: ErrTooLong must come before any hashing
	long := strings.Repeat("x", MaxPasswordLen+1)
	if _, err := h.Hash(t.Context(), long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash: err = %v, want ErrTooLong", err)
	}
	if _, _, err := h.Verify(t.Context(), phc, long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Verify: err = %v, want ErrTooLong", err)
	}
	if err := h.VerifyDummy(t.Context(), long); !errors.Is(err, ErrTooLong) {
		t.Errorf("VerifyDummy: err = %v, want ErrTooLong", err)
	}
}

func TestHasher_Busy(t *testing.T) {
	tests := []struct {
		name      string
		wait      time.Duration
		ctx       func(t *testing.T) context.Context
		wantBusy  bool
		wantCause error
	}{
		{"wait elapses", 10 * time.Millisecond, func(t *testing.T) context.Context { return t.Context() }, true, nil},
		{"deadline first", time.Hour, func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, true, context.DeadlineExceeded},
		{"canceled", time.Hour, func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, false, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTiny(t, 2, tt.wait)
			phc, _ := h.Hash(t.Context(), "pw")
			defer fill(h)()
			check := func(op string, err error) {
				t.Helper()
				if errors.Is(err, ErrBusy) != tt.wantBusy {
					t.Errorf("%s: err = %v, want ErrBusy %v", op, err, tt.wantBusy)
				}
				if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
					t.Errorf("%s: err = %v, want it to match %v", op, err, tt.wantCause)
				}
			}
			ctx := tt.ctx(t)
			_, err := h.Hash(ctx, "pw")
			check("Hash", err)
			ok, _, err := h.Verify(ctx, phc, "pw")
			check("Verify", err)
			if ok {
				t.Error("Verify without a slot reported ok")
			}
			check("VerifyDummy", h.VerifyDummy(ctx, "pw"))
		})
	}
}

func TestHasher_WaitsForSlot(t *testing.T) {
	h := newTiny(t, 1, time.Hour)
	release := fill(h)
	done := make(chan error)
	go func() {
		_, err := h.Hash(context.Background(), "pw")
		done <- err
	}()
	release()
	if err := <-done; err != nil {
		t.Errorf("Hash after a slot freed: %v", err)
	}
	if n := h.sem.inUse(); n != 0 {
		t.Errorf("%d slots still taken after all calls returned", n)
	}
}

// TestHasher_VerifyDummy_SameWork checks, without timing anything, that
// VerifyDummy does the work of a failed Verify: an argon2id hash with the
// current parameters, salt and key lengths, computed in a hashing slot.
func TestHasher_VerifyDummy_SameWork(t *testing.T) {
	h := newTiny(t, 1, time.Hour)
	p, salt, key, err := ParsePHC(h.dummy)
	if err != nil {
		t.Fatal(err)
	}
	if p != h.Params() || len(salt) != int(p.SaltLen) || len(key) != int(p.KeyLen) {
		t.Errorf("dummy params %+v, salt %d bytes, key %d bytes; want %+v", p, len(salt), len(key), h.Params())
	}
	if err := h.VerifyDummy(t.Context(), "anything"); err != nil {
		t.Errorf("VerifyDummy: %v", err)
	}
	// It waits for the one slot, like Verify.
	release := fill(h)
	done := make(chan error, 1)
	go func() { done <- h.VerifyDummy(context.Background(), "anything") }()
	waitLane(t, h.sem, 0, 1)
	select {
	case err := <-done:
		t.Fatalf("VerifyDummy returned (%v) while every slot was taken", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("VerifyDummy after a slot freed: %v", err)
	}
	if n := h.sem.inUse(); n != 0 {
		t.Errorf("%d slots still taken after VerifyDummy returned", n)
	}
}

// TestHasher_VerifyDummy_Timing: VerifyDummy takes the time of a failed
// Verify, by the paired, randomly ordered comparison of package
// timingtest, whose false alarms have probability at most 10⁻⁶ however
// busy the machine is. Parameters of 4 MiB make hashing dominate.
func TestHasher_VerifyDummy_Timing(t *testing.T) {
	h := New(Config{Params: Params{Memory: 4096, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, MaxConcurrent: 1})
	phc, err := h.Hash(t.Context(), "right")
	if err != nil {
		t.Fatal(err)
	}
	timingtest.Equal(t, "VerifyDummy", "a failed Verify",
		func() error { return h.VerifyDummy(t.Context(), "wrong") },
		func() error {
			ok, _, err := h.Verify(t.Context(), phc, "wrong")
			if ok {
				return errors.New("Verify(wrong) = true")
			}
			return err
		}, timingtest.Options{})
}

func BenchmarkHash(b *testing.B) {
	h := New(Config{Params: DefaultParams, MaxConcurrent: 1})
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := New(Config{Params: DefaultParams, MaxConcurrent: 1})
	ctx := context.Background()
	phc, _ := h.Hash(ctx, "correct horse battery staple")
	for b.Loop() {
		if _, _, err := h.Verify(ctx, phc, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
