package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDiskProbe: the probe's file is written in full before the first
// sample, each tick gives one sample, and finish removes the file.
func TestDiskProbe(t *testing.T) {
	dir := t.TempDir()
	tick := make(chan time.Time)
	p, err := startDiskProbeTicks(dir, tick)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "disk-probe")
	if fi, err := os.Stat(name); err != nil || fi.Size() != diskProbeFile {
		t.Fatalf("probe file: %v, %v", fi, err)
	}
	for range 3 {
		tick <- time.Time{}
	}
	r, err := p.finish()
	if err != nil {
		t.Fatal(err)
	}
	if r.Samples != 3 || r.MaxMs <= 0 || r.P50ms <= 0 || r.P50ms > r.MaxMs {
		t.Errorf("after 3 ticks: %+v", r)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("probe file left behind: %v", err)
	}
}

// TestSlowHoldsMatchStalls: slow transactions are read from the server's
// text log and counted as during a stall only when their span of lock hold
// overlaps a slow probe sample.
func TestSlowHoldsMatchStalls(t *testing.T) {
	log := []byte(`time=2026-11-26T15:26:10.500Z level=INFO msg=request method=GET path=/metrics status=200
time=2026-11-26T15:26:10.600Z level=WARN msg="slow write transaction" held=97.684262ms work=978.886µs commit=96.705376ms pages=222 page_write_sync=95.665907ms writes=1 slow_total=1
time=2026-11-26T15:27:00.000Z level=WARN msg="slow write transaction" held=60ms work=59ms commit=1ms pages=3 page_write_sync=900µs writes=1 slow_total=2
{"time":"2026-11-26T15:28:00Z","level":"WARN","msg":"slow write transaction","held":"70ms"}
time=2026-11-26T15:29:00.000Z level=WARN msg="slow write transaction" held=bogus
`)
	holds := slowHolds(log)
	if len(holds) != 2 || holds[0].Held != 97684262*time.Nanosecond || !holds[1].End.Equal(time.Date(2026, 11, 26, 15, 27, 0, 0, time.UTC)) {
		t.Fatalf("slowHolds = %+v", holds)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	stalls := []interval{
		{at("2026-11-26T15:26:10.450Z"), at("2026-11-26T15:26:10.535Z")}, // inside the first hold
		{at("2026-11-26T15:26:59.000Z"), at("2026-11-26T15:26:59.900Z")}, // ends before the second began
	}
	if n := duringStall(holds, stalls); n != 1 {
		t.Errorf("duringStall = %d, want 1", n)
	}
	if n := duringStall(holds, nil); n != 0 {
		t.Errorf("duringStall without stalls = %d", n)
	}
}
