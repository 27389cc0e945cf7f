package bolt_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
)

var (
	benchN     = flag.Int("bolt.n", 100000, "number of families for BenchmarkSweep and BenchmarkFamilySize")
	benchLimit = flag.Int("bolt.limit", 1000, "Sweep limit for BenchmarkSweep")
)

// rotateTo spends the presented token and inserts next, as the refresh
// grant does.
func rotateTo(next string, at time.Time) storage.RefreshFunc {
	return func(st storage.RefreshState) (storage.RefreshChange, error) {
		tok, fam := st.Token, st.Family
		if tok.Spent() {
			return storage.RefreshChange{}, fmt.Errorf("token %.8s spent", tok.Hash)
		}
		tok.SpentAt, tok.SuccessorHash = at, next
		fam.LastUsedAt = at
		ins := storage.RefreshToken{Hash: next, FamilyID: fam.ID, IssuedAt: at, IdleExpiresAt: at.Add(168 * time.Hour)}
		return storage.RefreshChange{Token: &tok, Family: &fam, Insert: &ins}, nil
	}
}

// BenchmarkUpdateRefresh measures one refresh rotation with fsync: the
// latency of a durable commit (sequential) and the throughput of group
// commit (parallel).
func BenchmarkUpdateRefresh(b *testing.B) {
	b.Run("sequential", func(b *testing.B) {
		db, _ := openTemp(b, nil)
		f, tok := testFamily(0, t0.Add(720*time.Hour))
		if err := db.CreateFamily(b.Context(), f, tok); err != nil {
			b.Fatal(err)
		}
		cur, i := tok.Hash, 0
		for b.Loop() {
			i++
			next := tokenHash(fmt.Sprint("seq-", i))
			if err := db.UpdateRefresh(b.Context(), cur, rotateTo(next, t0)); err != nil {
				b.Fatal(err)
			}
			cur = next
		}
	})
	b.Run("parallel", func(b *testing.B) {
		db, _ := openTemp(b, nil)
		var worker atomic.Int64
		before := db.Stats()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			w := int(worker.Add(1))
			f, tok := testFamily(w, t0.Add(720*time.Hour))
			if err := db.CreateFamily(b.Context(), f, tok); err != nil {
				b.Error(err)
				return
			}
			cur := tok.Hash
			for i := 0; pb.Next(); i++ {
				next := tokenHash(fmt.Sprint("par-", w, "-", i))
				if err := db.UpdateRefresh(b.Context(), cur, rotateTo(next, t0)); err != nil {
					b.Error(err)
					return
				}
				cur = next
			}
		})
		st := db.Stats()
		if c := st.Commits - before.Commits; c > 0 {
			b.ReportMetric(float64(st.Writes-before.Writes)/float64(c), "writes/commit")
		}
	})
}

// BenchmarkRedeemCode measures one code exchange with fsync (the code
// spent, a family and its first token created: one durable commit), to
// set beside BenchmarkUpdateRefresh/sequential. Creating each code is left
// out of the time.
func BenchmarkRedeemCode(b *testing.B) {
	db, _ := openTemp(b, nil)
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		code := testCode(i)
		if err := db.CreateCode(b.Context(), code); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := db.RedeemCode(b.Context(), code.Hash, exchangeCode(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetRefreshToken(b *testing.B) {
	db, _ := openTemp(b, &bolt.Options{NoSync: true})
	const n = 10000
	fillFamilies(b, db, n, t0.Add(time.Hour))
	hashes := make([]string, n)
	for i := range hashes {
		_, tok := testFamily(i, t0)
		hashes[i] = tok.Hash
	}
	b.Run("sequential", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, _, err := db.GetRefreshToken(b.Context(), hashes[i%n]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, _, err := db.GetRefreshToken(b.Context(), hashes[i%n]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkSweep fills -bolt.n families, each with one token, all expired,
// and sweeps them with fsync in calls of -bolt.limit index entries. It
// reports the items removed per second and the duration of the Sweep calls
// (one transaction each). Run with -benchtime=1x.
func BenchmarkSweep(b *testing.B) {
	n := *benchN
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "authd.db")
		fill, err := bolt.Open(path, &bolt.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		fillFamilies(b, fill, n, t0)
		fill.Close()
		// The fill skipped fsync; flush it now, or the first fsync'd
		// sweep transaction pays for writing the whole file.
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
			f.Sync()
			f.Close()
		}
		db, err := bolt.Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		var durs []time.Duration
		items := 0
		start := time.Now()
		for {
			t := time.Now()
			st, err := db.Sweep(b.Context(), t0.Add(time.Second), *benchLimit)
			if err != nil {
				b.Fatal(err)
			}
			durs = append(durs, time.Since(t))
			items += st.Tokens + st.Families + st.Denied
			if !st.More {
				break
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		db.Close()
		if items != 2*n {
			b.Fatalf("swept %d items, want %d", items, 2*n)
		}
		b.ReportMetric(float64(items)/elapsed.Seconds(), "items/s")
		b.Logf("first tx %v, last tx %v", durs[0], durs[len(durs)-1])
		slices.Sort(durs)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(durs[len(durs)/2]), "p50-ms/tx")
		b.ReportMetric(ms(durs[len(durs)*99/100]), "p99-ms/tx")
		b.ReportMetric(ms(durs[len(durs)-1]), "max-ms/tx")
		b.ReportMetric(float64(len(durs)), "txs")
		b.StartTimer()
	}
}

// BenchmarkFamilySize reports the bytes a family costs on disk: -bolt.n
// families, each with its live token, user index and two expiry entries.
// Run with -benchtime=1x.
func BenchmarkFamilySize(b *testing.B) {
	n := *benchN
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "authd.db")
		db, err := bolt.Open(path, &bolt.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		fillFamilies(b, db, n, t0.Add(720*time.Hour))
		db.Close()
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		var inuse, alloc, payload int
		raw.View(func(tx *bbolt.Tx) error {
			return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
				s := bk.Stats()
				inuse += s.BranchInuse + s.LeafInuse
				alloc += s.BranchAlloc + s.LeafAlloc
				return bk.ForEach(func(k, v []byte) error {
					payload += len(k) + len(v)
					return nil
				})
			})
		})
		raw.Close()
		b.ReportMetric(float64(fi.Size())/float64(n), "file-B/family")
		b.ReportMetric(float64(alloc)/float64(n), "pages-B/family")
		b.ReportMetric(float64(inuse)/float64(n), "inuse-B/family")
		b.ReportMetric(float64(payload)/float64(n), "kv-B/family")
	}
}
