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
