package argon2

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	xargon2 "golang.org/x/crypto/argon2"
)

// Hashes computed one after the other in the same, never cleared Memory
// equal x/crypto's, whatever the hash before left in it: other passwords,
// salts, passes, lanes, key lengths, and more or less memory than Memory
// holds (more allocates a one-off).
func TestIDKey_ReusedMemoryMatchesXCrypto(t *testing.T) {
	type params struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}
	cases := []params{
		{1, 64, 1, 32}, {2, 64, 1, 32}, {3, 256, 2, 16}, {1, 8, 1, 32}, // smaller than the minimum: rounded up
		{2, 1024, 4, 64}, {1, 100, 3, 100}, {2, 512, 1, 32}, {4, 2048, 1, 32}, // 2048 > the Memory's 1024
		{1, 1024, 1, 4}, {2, 37, 1, 1024},
	}
	pws := [][]byte{[]byte("correct horse"), {}, bytes.Repeat([]byte{0xff}, 1024)}
	salts := [][]byte{[]byte("saltsaltsaltsalt"), bytes.Repeat([]byte{0}, 8)}
	for _, m := range []*Memory{NewMemory(1024), nil} {
		for i, c := range cases {
			pw, salt := pws[i%len(pws)], salts[i%len(salts)]
			name := fmt.Sprintf("mem=%v/t=%d,m=%d,p=%d,len=%d", m != nil, c.time, c.memory, c.threads, c.keyLen)
			want := xargon2.IDKey(pw, salt, c.time, c.memory, c.threads, c.keyLen)
			// Twice: the second time in memory the same hash has filled.
			for range 2 {
				if got := IDKey(m, pw, salt, c.time, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
					t.Fatalf("%s: got %x, want x/crypto's %x", name, got, want)
				}
			}
		}
	}
}

// RFC 9106 section 5.3's Argon2id test vector has a secret and associated
// data, which IDKey does not take; deriveKey does.
func TestDeriveKey_RFC9106Vector(t *testing.T) {
	rep := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	want := []byte{
		0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c, 0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b, 0x53, 0xc9,
		0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e, 0xb5, 0x25, 0x20, 0xe9, 0x6b, 0x01, 0xe6, 0x59,
	}
	m := NewMemory(32)
	for i := range m.b {
		for j := range m.b[i] {
			m.b[i][j] = 0xa5a5a5a5a5a5a5a5 // dirty
		}
	}
	got := deriveKey(argon2id, m, rep(1, 32), rep(2, 16), rep(3, 8), rep(4, 12), 3, 32, 4, 32)
	if !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
}

// A hash in Memory big enough does not allocate its blocks.
func TestIDKey_MemoryNotReallocated(t *testing.T) {
	m := NewMemory(1024)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 5 {
		IDKey(m, []byte("pw"), []byte("saltsaltsaltsalt"), 1, 1024, 1, 32)
	}
	runtime.ReadMemStats(&after)
	// The goroutines of the segments, blake2b's state and the key: a few
	// KiB; not 5 × the 1 MiB of blocks.
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
		t.Errorf("5 hashes of 1 MiB in Memory allocated %d KiB, want only their bookkeeping", got>>10)
	}
}
