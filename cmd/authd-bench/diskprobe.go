package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// diskProbe measures the disk's own latency for the smallest durable commit
// while a scenario runs, as the ceiling that the server's write-lock holds
// are read against: every interval it writes one 4 KiB page at a random
// offset of a file of its own on the same file system and fdatasyncs it,
// then writes the first page and fdatasyncs again — the two syncs of a
// one-page bbolt commit (data pages, then the meta page). The file is
// written in full and synced before the first sample, so that a sample
// never allocates blocks.
type diskProbe struct {
	f    *os.File
	h    hist
	over int        // samples longer than diskProbeSlow
	slow []interval // the first maxSlowKept of them
	stop chan struct{}
	done chan struct{}
	err  error
}

const (
	diskProbeFile  = 16 << 20
	diskProbeSlow  = 50 * time.Millisecond
	diskProbeEvery = 20 * time.Millisecond
	maxSlowKept    = 100
)

// interval is a span of wall-clock time.
type interval struct{ From, To time.Time }

func (a interval) overlaps(b interval) bool { return a.From.Before(b.To) && b.From.Before(a.To) }

// diskProbeResult is what a probe saw.
type diskProbeResult struct {
	Samples uint64  `json:"samples"`
	P50ms   float64 `json:"p50_ms"`
	P999ms  float64 `json:"p999_ms"`
	MaxMs   float64 `json:"max_ms"`
	Over50  int     `json:"over_50ms"`
	// Slow are the samples over 50 ms (the first 100), to be matched
	// with the server's slow transactions.
	Slow []interval `json:"slow,omitempty"`
}

// startDiskProbe starts sampling in dir every interval until finish.
func startDiskProbe(dir string, every time.Duration) (*diskProbe, error) {
	t := time.NewTicker(every)
	p, err := startDiskProbeTicks(dir, t.C)
	if err != nil {
		t.Stop()
		return nil, err
	}
	go func() { <-p.done; t.Stop() }()
	return p, nil
}

// startDiskProbeTicks takes one sample per value received from tick.
func startDiskProbeTicks(dir string, tick <-chan time.Time) (*diskProbe, error) {
	f, err := os.OpenFile(filepath.Join(dir, "disk-probe"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("disk probe: %w", err)
	}
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < diskProbeFile; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk, off); err != nil {
			f.Close()
			return nil, fmt.Errorf("disk probe: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("disk probe: %w", err)
	}
	p := &diskProbe{f: f, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run(tick)
	return p, nil
}

func (p *diskProbe) run(tick <-chan time.Time) {
	defer close(p.done)
	page := make([]byte, 4096)
	var r [8]byte
	for {
		select {
		case <-p.stop:
			return
		case <-tick:
		}
		_, _ = rand.Read(r[:])
		off := int64(1+binary.LittleEndian.Uint64(r[:])%(diskProbeFile/4096-1)) * 4096
		t0 := time.Now()
		if err := p.commit(page, off); err != nil {
			p.err = err
			return
		}
		t1 := time.Now()
		d := t1.Sub(t0)
		p.h.record(d)
		if d > diskProbeSlow {
			p.over++
			if len(p.slow) < maxSlowKept {
				p.slow = append(p.slow, interval{t0, t1})
			}
		}
	}
}

// commit is one page and the first page, each written and fdatasynced.
func (p *diskProbe) commit(page []byte, off int64) error {
	for _, o := range []int64{off, 0} {
		page[0]++
		if _, err := p.f.WriteAt(page, o); err != nil {
			return err
		}
		if err := syscall.Fdatasync(int(p.f.Fd())); err != nil {
			return err
		}
	}
	return nil
}

// finish stops the probe, removes its file and returns what it saw.
func (p *diskProbe) finish() (diskProbeResult, error) {
	close(p.stop)
	<-p.done
	name := p.f.Name()
	p.f.Close()
	os.Remove(name)
	if p.err != nil {
		return diskProbeResult{}, fmt.Errorf("disk probe: %w", p.err)
	}
	return diskProbeResult{
		Samples: p.h.n, P50ms: ms(p.h.quantile(0.5)), P999ms: ms(p.h.quantile(0.999)),
		MaxMs: ms(p.h.max), Over50: p.over, Slow: p.slow,
	}, nil
}

// slowHold is one slow write transaction the server logged: when it ended
// and how long it held the lock.
type slowHold struct {
	End  time.Time
	Held time.Duration
}

var slowLine = regexp.MustCompile(`^time=(\S+) level=WARN msg="slow write transaction" held=(\S+) `)

// slowHolds reads the slow write transactions from a server log in text
// format. The server logs at most one a second, so these may be fewer than
// authd_db_slow_commits_total counts.
func slowHolds(log []byte) []slowHold {
	var out []slowHold
	for _, line := range bytes.Split(log, []byte("\n")) {
		m := slowLine.FindSubmatch(line)
		if m == nil {
			continue
		}
		end, err1 := time.Parse(time.RFC3339Nano, string(m[1]))
		held, err2 := time.ParseDuration(string(m[2]))
		if err1 == nil && err2 == nil {
			out = append(out, slowHold{end, held})
		}
	}
	return out
}

// duringStall counts the holds that overlap a slow sample of the disk
// probe: the disk was stalled while the server held the lock.
func duringStall(holds []slowHold, stalls []interval) int {
	n := 0
	for _, h := range holds {
		span := interval{h.End.Add(-h.Held), h.End}
		for _, s := range stalls {
			if span.overlaps(s) {
				n++
				break
			}
		}
	}
	return n
}
