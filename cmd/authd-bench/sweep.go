package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// onlineSweep is what the server's own background sweep did to refresh
// latency: refresh load runs from start-up while the server sweeps n
// expired families, for at most sweepLoadWindow; if the sweep is not done
// by then, it finishes without load; then the same load runs again on the
// swept file as the baseline.
type onlineSweep struct {
	Families    int     `json:"expired_families"`
	Swept       float64 `json:"items_swept"`
	SweepS      float64 `json:"sweep_s"`
	SweptLoaded float64 `json:"items_swept_under_load"`
	LoadedS     float64 `json:"under_load_s"`
	CommitMaxMs float64 `json:"longest_write_lock_ms"`
	// SlowCommits counts the server's write-lock holds past 50 ms, and
	// Disk is what a probe of the disk's own one-page commit saw in the
	// same window (from start-up to the end of the sweep).
	SlowCommits float64         `json:"write_locks_over_50ms"`
	Disk        diskProbeResult `json:"disk_one_page_commit"`
	// SlowLogged is how many of the slow holds the server logged (at most
	// one a second), and SlowInStall how many of those overlapped a probe
	// sample over 50 ms.
	SlowLogged    int     `json:"write_locks_over_50ms_logged"`
	SlowInStall   int     `json:"logged_during_disk_stall"`
	P99DuringMs   float64 `json:"refresh_p99_during_ms"`
	P99AfterMs    float64 `json:"refresh_p99_after_ms"`
	SamplesDuring int     `json:"samples_during"`
	SamplesAfter  int     `json:"samples_after"`
	Errors        uint64  `json:"errors"`
	Note          string  `json:"note,omitempty"`
}

// summary is the one-paragraph report of the online sweep, conns the
// refresh workers that ran during it.
func (o *onlineSweep) summary(conns int) string {
	if o.Note != "" {
		return fmt.Sprintf("server's background sweep of %d expired families: %s", o.Families, o.Note)
	}
	return fmt.Sprintf("server's background sweep of %d expired families: %.0f items in %.1f s (%.0f of them in the first %.0f s, under refresh load); "+
		"longest write lock since start %.1f ms, %.0f holds over 50 ms (%d logged, %d of those while the disk probe's own commit also took over 50 ms); "+
		"the disk's own one-page commit in the same window: p50 %.2f ms, p99.9 %.2f ms, longest %.1f ms, %d of %d over 50 ms; "+
		"refresh@%d p99 %.2f ms during the sweep (%d samples), %.2f ms after (%d samples); errors %d",
		o.Families, o.Swept, o.SweepS, o.SweptLoaded, o.LoadedS,
		o.CommitMaxMs, o.SlowCommits, o.SlowLogged, o.SlowInStall, o.Disk.P50ms, o.Disk.P999ms, o.Disk.MaxMs, o.Disk.Over50, o.Disk.Samples,
		conns, o.P99DuringMs, o.SamplesDuring, o.P99AfterMs, o.SamplesAfter, o.Errors)
}

// How long the online sweep measurement may take: refresh load during the
// sweep for at most sweepLoadWindow, the rest of the sweep without load for
// at most sweepDrainLimit, then sweepAfter of the same load as baseline.
const (
	sweepLoadWindow = 5 * time.Minute
	sweepDrainLimit = 30 * time.Minute
	sweepAfter      = 15 * time.Second
)

// sweepOnline seeds n families that expired a day ago, starts the server
// and measures refresh latency from cfg.floodRefresh workers while the
// server's background sweep removes them, and again once it is done.
// Progress comes from the server's /metrics (authd_swept_total, which moves
// after every sweep transaction, and authd_db_commit_max_seconds).
func sweepOnline(ctx context.Context, cfg *config, n int, logf func(string, ...any)) (*onlineSweep, error) {
	e, cleanup, err := seededEnv(ctx, cfg, "authd-bench-sweep-", logf)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	a := e.authd
	logf("seeding %d refresh families that expired a day ago", n)
	s, err := openSeeder(ctx, a.db, a.base, e.seed.users)
	if err != nil {
		return nil, err
	}
	fams := make([]seededFamily, n)
	for i := range fams {
		_, hash := newToken()
		fams[i] = seededFamily{id: newFamilyID(), hash: hash}
	}
	err = s.write(ctx, fams, time.Now().Add(-refreshTTL-24*time.Hour))
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	fams = nil

	if err := a.start(ctx); err != nil {
		return nil, err
	}
	started := time.Now()
	base := client{http: newClient(cfg.floodRefresh+2, nil), base: a.base}
	defer base.http.CloseIdleConnections()

	// Every seeded family and its token are swept: 2n items.
	want := float64(2 * n)
	buf := make([]byte, 0, 64<<10)
	metrics := func() (map[string]float64, error) {
		if err := base.get(ctx, "/metrics", nil, 200, &buf); err != nil {
			return nil, err
		}
		return parseMetrics(buf), nil
	}
	probe, err := startDiskProbe(filepath.Dir(a.db), diskProbeEvery)
	if err != nil {
		return nil, err
	}
	probeDone := false
	defer func() {
		if !probeDone {
			probe.finish()
		}
	}()
	res := &onlineSweep{Families: n}
	var finished time.Time

	// Phase 1: load while the sweep runs, until it is done or the window
	// ends.
	stop := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		defer close(stop)
		for ctx.Err() == nil {
			if m, err := metrics(); err == nil {
				res.SweptLoaded = m["authd_swept_total"]
				if res.SweptLoaded >= want {
					finished = time.Now()
					return
				}
			}
			if time.Since(started) > sweepLoadWindow {
				return
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}()
	during, errs, err := refreshLatencies(ctx, e, base, cfg.floodRefresh, sweepLoadWindow+time.Minute, stop)
	<-watchDone
	if err != nil {
		return nil, err
	}
	res.LoadedS = time.Since(started).Seconds()
	res.Errors += errs
	logf("%.0f of %.0f items swept in %.0f s under refresh load", res.SweptLoaded, want, res.LoadedS)

	// Phase 2: the rest of the sweep without load.
	for finished.IsZero() && ctx.Err() == nil && time.Since(started) < sweepLoadWindow+sweepDrainLimit {
		if m, err := metrics(); err == nil && m["authd_swept_total"] >= want {
			finished = time.Now()
			break
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	m, err := metrics()
	if err != nil {
		return nil, err
	}
	swept := m["authd_swept_total"]
	res.Swept, res.CommitMaxMs, res.SlowCommits = swept, m["authd_db_commit_max_seconds"]*1000, m["authd_db_slow_commits_total"]
	probeDone = true
	if res.Disk, err = probe.finish(); err != nil {
		return nil, err
	}
	if log, err := os.ReadFile(a.log); err == nil {
		holds := slowHolds(log)
		res.SlowLogged, res.SlowInStall = len(holds), duringStall(holds, res.Disk.Slow)
	}
	logf("disk's own one-page commit (2 fdatasyncs, every %v) over the same window: %d samples, p50 %.2f ms, p99.9 %.2f ms, longest %.1f ms, %d over 50 ms; the server's write-lock holds over 50 ms: %.0f, %d of them logged, %d of those during a probe sample over 50 ms",
		diskProbeEvery, res.Disk.Samples, res.Disk.P50ms, res.Disk.P999ms, res.Disk.MaxMs, res.Disk.Over50, res.SlowCommits, res.SlowLogged, res.SlowInStall)
	if finished.IsZero() {
		res.Note = fmt.Sprintf("the sweep was not done %v after start-up: %.0f of %.0f items swept", sweepLoadWindow+sweepDrainLimit, swept, want)
		return res, ctx.Err()
	}
	res.SweepS = finished.Sub(started).Seconds()

	// Phase 3: the same load on the swept file, as the baseline.
	after, errs, err := refreshLatencies(ctx, e, base, cfg.floodRefresh, sweepAfter, nil)
	if err != nil {
		return nil, err
	}
	res.Errors += errs
	res.P99DuringMs, res.P99AfterMs = ms(during.quantile(0.99)), ms(after.quantile(0.99))
	res.SamplesDuring, res.SamplesAfter = int(during.n), int(after.n)
	logf("online sweep of %d expired families: %.0f items in %.1f s (%.0f of them in %.0f s under load), longest write lock %.1f ms; refresh p99 %.2f ms during, %.2f ms after",
		n, res.Swept, res.SweepS, res.SweptLoaded, res.LoadedS, res.CommitMaxMs, res.P99DuringMs, res.P99AfterMs)
	return res, nil
}

// parseMetrics sums the samples of each metric family in a Prometheus text
// exposition (labels ignored).
func parseMetrics(b []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
			if j := strings.LastIndexByte(line, '}'); j >= 0 {
				rest, ok = strings.TrimSpace(line[j+1:]), true
			}
		}
		if !ok {
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				out[name] += v
			}
		}
	}
	return out
}
