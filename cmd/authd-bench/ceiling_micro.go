package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/server/password"
	bbolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/argon2"
)

// microCosts are the costs of the unavoidable work of a refresh measured
// one at a time, without HTTP: the medians of one RS256 signature and of
// one durable bbolt commit of one token record.
type microCosts struct {
	Sign   time.Duration `json:"sign_ns"`
	Commit time.Duration `json:"commit_ns"`
}

func measureMicro(ctx context.Context, r *refServer, n int) (microCosts, error) {
	signs := make([]time.Duration, 0, n)
	commits := make([]time.Duration, 0, n)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		if _, err := r.sign(); err != nil {
			return microCosts{}, err
		}
		signs = append(signs, time.Since(t0))
		var tok [32]byte
		rand.Read(tok[:])
		val := make([]byte, 96)
		t0 = time.Now()
		err := r.db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(refBucket).Put([]byte(hex.EncodeToString(tok[:])), val)
		})
		if err != nil {
			return microCosts{}, err
		}
		commits = append(commits, time.Since(t0))
	}
	if len(signs) == 0 {
		return microCosts{}, ctx.Err()
	}
	return microCosts{Sign: median(signs), Commit: median(commits)}, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// argon2Rate is the raw argon2id rate of the machine at authd's default
// parameters: one goroutine per available CPU hashing for d, no HTTP. With
// reuse the hashes are computed as authd computes them, by a
// password.Hasher with a slot per goroutine, in memory kept from one hash
// to the next; without, by x/crypto's argon2, which allocates it per hash.
func argon2Rate(ctx context.Context, d time.Duration, reuse bool) (float64, int) {
	p := password.DefaultParams
	workers := runtime.GOMAXPROCS(0)
	h := password.New(password.Config{Params: p, MaxConcurrent: workers, Wait: time.Hour})
	var n atomic.Int64
	end := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Go(func() {
			salt := make([]byte, p.SaltLen)
			rand.Read(salt)
			for ctx.Err() == nil && time.Now().Before(end) {
				if reuse {
					if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
						return
					}
				} else {
					argon2.IDKey([]byte("correct horse battery staple"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), workers
}

type argonAnswer struct {
	Rate    float64 `json:"rate"`
	Workers int     `json:"workers"`
}
