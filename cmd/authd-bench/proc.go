package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The server's CPU time and memory are read from /proc (Linux only).

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat, from the auxiliary vector (AT_CLKTCK); 100 if unreadable.
var clockTicks = sync.OnceValue(func() int64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for i := 0; i+16 <= len(b); i += 16 {
			typ := binary.NativeEndian.Uint64(b[i:])
			val := binary.NativeEndian.Uint64(b[i+8:])
			if typ == 17 && val > 0 { // AT_CLKTCK
				return int64(val)
			}
		}
	}
	return 100
})

// cpuTime is the user plus system CPU time the process has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return time.Duration((ut + st) * int64(time.Second) / clockTicks()), nil
}

// memField reads a size field (VmRSS, VmHWM) of /proc/PID/status, in bytes.
func memField(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed %s: %w", field, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rssSampler records the peak VmRSS of a process, and the peak of its
// anonymous part (RssAnon: heap and stacks, without the pages of mapped
// files such as bbolt's), sampled every 50 ms between start and stop.
type rssSampler struct {
	pid      int
	stop     chan struct{}
	done     chan struct{}
	peak     int64
	peakAnon int64
}

func (s *rssSampler) sample() {
	if v, err := memField(s.pid, "VmRSS"); err == nil && v > s.peak {
		s.peak = v
	}
	if v, err := memField(s.pid, "RssAnon"); err == nil && v > s.peakAnon {
		s.peakAnon = v
	}
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the peak in bytes.
func (s *rssSampler) Stop() int64 {
	close(s.stop)
	<-s.done
	s.sample()
	return s.peak
}

// serverProbe measures the server's CPU time over a load's window and its
// peak RSS over the whole load.
type serverProbe struct {
	pid        int
	rss        *rssSampler
	cpu0, cpu1 time.Duration
}

func newProbe(pid int) *serverProbe {
	return &serverProbe{pid: pid, rss: sampleRSS(pid)}
}

func (p *serverProbe) begin() { p.cpu0, _ = cpuTime(p.pid) }
func (p *serverProbe) end()   { p.cpu1, _ = cpuTime(p.pid) }

// finish stops sampling and returns the CPU time used in the window and
// the peak RSS.
func (p *serverProbe) finish() (cpu time.Duration, peakRSS int64) {
	return p.cpu1 - p.cpu0, p.rss.Stop()
}

// peakAnon is the peak anonymous RSS; valid after finish.
func (p *serverProbe) peakAnon() int64 { return p.rss.peakAnon }

// startPerf records a CPU profile of pid with call graphs into
// dir/NAME.perf.data with Linux perf, for diagnosis (the hidden
// --perf-dir flag). The returned function ends the perf process this
// started, by its pid, and waits for it to write the file.
func startPerf(dir, name string, pid int) (func(), error) {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", filepath.Join(dir, clean+".perf.data"))
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start perf: %w", err)
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
