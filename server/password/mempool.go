package password

import (
	"sync"
	"weak"

	"github.com/authd/authd/server/password/internal/argon2"
)

// memPool keeps the working memory of finished hashes for the next ones,
// so that a busy server neither allocates, zeroes and collects nor gives
// back and faults in again Params.Memory per hash (issue 16).
//
// It never holds more Memory than the Hasher has slots: a Memory is taken
// only inside a slot and returned before the slot is freed, and a new one
// is made only when none is free, so the hashing memory is bounded by the
// hashes in flight, however many requests wait. It holds the free ones
// weakly: a garbage collection frees those not in use, so an idle server
// gives the memory back (the runtime collects at least every two minutes)
// while a busy one, which now makes little garbage, keeps reusing it.
type memPool struct {
	kib  uint32 // the size of a new Memory, Params.Memory
	mu   sync.Mutex
	free []weak.Pointer[argon2.Memory]
}

// get returns a free Memory, or a new one.
func (p *memPool) get() *argon2.Memory {
	p.mu.Lock()
	for len(p.free) > 0 {
		w := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		if m := w.Value(); m != nil {
			p.mu.Unlock()
			return m
		}
	}
	p.mu.Unlock()
	return argon2.NewMemory(p.kib)
}

// put returns m, which its hash no longer uses.
func (p *memPool) put(m *argon2.Memory) {
	p.mu.Lock()
	p.free = append(p.free, weak.Make(m))
	p.mu.Unlock()
}
