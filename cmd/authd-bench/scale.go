package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// scaleResult is what one size of the scale run measured.
type scaleResult struct {
	Families        int     `json:"families"`
	SeedSeconds     float64 `json:"seed_s"`
	FileBytes       int64   `json:"file_bytes"`
	FileBytesPerFam float64 `json:"file_bytes_per_family"`
	UsedBytesPerFam float64 `json:"used_bytes_per_family"`
	StartupMs       float64 `json:"startup_ms"`
	IdleRSSMiB      float64 `json:"idle_rss_mib"`
	Refresh1        result  `json:"refresh_1"`
	RefreshN        result  `json:"refresh_n"`
}

type scaleSummary struct {
	Sizes   []scaleResult `json:"sizes"`
	Online  *onlineSweep  `json:"online_sweep,omitempty"`
	Targets []target      `json:"targets"`
	Machine machine       `json:"machine"`
	Command string        `json:"command"`
}

func runScale(ctx context.Context, cfg *config, command string, logf func(string, ...any)) error {
	if cfg.sweepOnly {
		n := cfg.scaleFamilies[len(cfg.scaleFamilies)-1]
		online, err := sweepOnline(ctx, cfg, n, logf)
		if err != nil {
			return err
		}
		fmt.Fprintln(cfg.out, online.summary(cfg.floodRefresh))
		if cfg.jsonPath != "" {
			return writeJSON(cfg.jsonPath, online)
		}
		return nil
	}
	var sizes []scaleResult
	for _, n := range cfg.scaleFamilies {
		r, err := scaleOnce(ctx, cfg, n, logf)
		if err != nil {
			return fmt.Errorf("%d families: %w", n, err)
		}
		sizes = append(sizes, *r)
	}
	s := scaleSummary{Sizes: sizes, Command: command, Machine: summarize([]*runResult{{}}, "").Machine}
	small, large := sizes[0], sizes[len(sizes)-1]
	online, err := sweepOnline(ctx, cfg, large.Families, logf)
	if err != nil {
		return fmt.Errorf("online sweep of %d families: %w", large.Families, err)
	}
	s.Online = online
	add := func(t target) {
		t.eval()
		s.Targets = append(s.Targets, t)
	}
	if len(sizes) > 1 && small.Refresh1.P50ms > 0 {
		add(target{Name: fmt.Sprintf("refresh@1 p50 at %d ≤ 1.5 × at %d", large.Families, small.Families), Value: large.Refresh1.P50ms / small.Refresh1.P50ms, Limit: 1.5, Unit: "×"})
	}
	add(target{Name: fmt.Sprintf("file bytes per family at %d ≤ 1 KiB", large.Families), Value: large.FileBytesPerFam, Limit: 1024, Unit: " B"})
	add(target{Name: fmt.Sprintf("start-up at %d families < 1 s", large.Families), Value: large.StartupMs, Strict: true, Limit: 1000, Unit: " ms"})
	if online.SweepS > 0 {
		add(target{Name: "server's sweep: longest write lock since start ≤ 50 ms", Value: online.CommitMaxMs, Limit: 50, Unit: " ms"})
		v := 0.0
		if online.P99AfterMs > 0 {
			v = online.P99DuringMs / online.P99AfterMs
		}
		add(target{Name: "refresh p99 during the sweep ≤ 2 × without", Value: v, Limit: 2, Unit: "×"})
	}

	w := cfg.out
	fmt.Fprintf(w, "\nauthd bench-scale; %d CPUs, %s\ncommand: %s\n\n", s.Machine.CPUs, s.Machine.GoVersion, command)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintf(tw, "families\tseed s\tfile MiB\tfile B/family\tused B/family\tstart-up ms\tidle RSS MiB\trefresh@1 p50 ms\tp99 ms\trefresh@%d req/s\tp50 ms\tp99 ms\tsrv peak RSS MiB\tof it anon\terrors\t\n", cfg.conns)
	for _, r := range sizes {
		fmt.Fprintf(tw, "%d\t%.1f\t%s\t%.0f\t%.0f\t%.0f\t%.1f\t%.3f\t%.3f\t%.0f\t%.3f\t%.3f\t%.1f\t%.1f\t%d\t\n",
			r.Families, r.SeedSeconds, mib(r.FileBytes), r.FileBytesPerFam, r.UsedBytesPerFam, r.StartupMs, r.IdleRSSMiB,
			r.Refresh1.P50ms, r.Refresh1.P99ms, r.RefreshN.RPS, r.RefreshN.P50ms, r.RefreshN.P99ms, r.RefreshN.PeakRSSMiB, r.RefreshN.PeakAnonMiB,
			r.Refresh1.Errors+r.RefreshN.Errors)
	}
	tw.Flush()
	if o := s.Online; o != nil {
		fmt.Fprintln(w, o.summary(cfg.floodRefresh))
	}
	fmt.Fprintln(w, "\ntargets:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range s.Targets {
		fmt.Fprintf(tw, "  %s\t%s%s\t%s\t%s\n", t.Name, trimFloat(t.Value), t.Unit, t.want(), t.verdict())
	}
	tw.Flush()
	fmt.Fprintln(w, "\nFamilies are written before the server starts, through storage/bolt's CreateFamily (without fsync), as the records a password login of bench-app writes, in random key order like a server's logins. \"used\" is bbolt's high-water mark; the file also holds space allocated ahead. Server peak RSS includes the pages of the memory-mapped file that the load touched.")
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, s); err != nil {
			return err
		}
	}
	errs := online.Errors
	for _, r := range sizes {
		errs += r.Refresh1.Errors + r.RefreshN.Errors
	}
	if errs > 0 {
		return fmt.Errorf("%d requests got an unexpected answer", errs)
	}
	return nil
}

func scaleOnce(ctx context.Context, cfg *config, n int, logf func(string, ...any)) (*scaleResult, error) {
	e, cleanup, err := seededEnv(ctx, cfg, "authd-bench-scale-", logf)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	a := e.authd

	r := &scaleResult{Families: n}
	before := fileSize(a.db)
	logf("seeding %d live refresh families", n)
	t0 := time.Now()
	if err := seedFamilies(ctx, a, e.seed.users, n); err != nil {
		return nil, err
	}
	r.SeedSeconds = time.Since(t0).Seconds()
	r.FileBytes = fileSize(a.db)
	r.FileBytesPerFam = float64(r.FileBytes-before) / float64(n)
	used, err := usedBytes(a.db)
	if err != nil {
		return nil, err
	}
	r.UsedBytesPerFam = float64(used) / float64(n)
	logf("seeded in %.1f s; file %s MiB", r.SeedSeconds, mib(r.FileBytes))

	if err := a.start(ctx); err != nil {
		return nil, err
	}
	r.StartupMs = ms(a.Startup)
	waitUntil(ctx, time.Now().Add(time.Second))
	if v, err := memField(a.pid(), "VmRSS"); err == nil {
		r.IdleRSSMiB = toMiB(v)
	}
	logf("authd ready in %v, idle RSS %.1f MiB", a.Startup.Round(time.Millisecond), r.IdleRSSMiB)

	base := client{http: newClient(cfg.conns, nil), base: a.base}
	defer base.http.CloseIdleConnections()
	for _, conns := range []int{1, cfg.conns} {
		p := newProbe(a.pid())
		lr, err := runLoad(ctx, loadSpec{Conns: conns, Warmup: cfg.warmup, Duration: cfg.duration}, e.refreshWorker(ctx, base), p.begin, p.end)
		cpu, peak := p.finish()
		if err != nil {
			return nil, err
		}
		row := result{Scenario: fmt.Sprintf("refresh@%d", conns), Kind: "authd", Conns: conns, Requests: lr.Requests, RPS: lr.RPS(),
			P50ms: ms(lr.Hist.quantile(0.5)), P99ms: ms(lr.Hist.quantile(0.99)), Errors: lr.Errors, ErrorKinds: lr.errorSummary(),
			PeakRSSMiB: toMiB(peak), PeakAnonMiB: toMiB(p.peakAnon())}
		if lr.Requests > 0 {
			row.CPUPerReqMs = ms(cpu) / float64(lr.Requests)
		}
		logf("%d families, refresh@%d: %.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d %s", n, conns, row.RPS, row.P50ms, row.P99ms, row.Errors, row.ErrorKinds)
		if conns == 1 {
			r.Refresh1 = row
		} else {
			r.RefreshN = row
		}
	}
	a.stop()
	return r, nil
}

// seedFamilies writes n live families of appClient, spread over the users,
// with random ids and token hashes in random order, as a server's logins
// would leave them in the file.
func seedFamilies(ctx context.Context, a *authd, users []string, n int) error {
	s, err := openSeeder(ctx, a.db, a.base, users)
	if err != nil {
		return err
	}
	fams := make([]seededFamily, n)
	for i := range fams {
		_, hash := newToken()
		fams[i] = seededFamily{id: newFamilyID(), hash: hash}
	}
	err = s.write(ctx, fams, time.Now().Add(-time.Duration(n)*time.Microsecond))
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// usedBytes is the part of the file bbolt uses (its high-water mark),
// without the space it allocated ahead.
func usedBytes(path string) (int64, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var size int64
	err = db.View(func(tx *bbolt.Tx) error {
		size = tx.Size()
		return nil
	})
	return size, err
}

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

// refreshLatencies runs conns refresh workers for d or until stop is
// closed and returns the latencies of their successful requests.
func refreshLatencies(ctx context.Context, e *env, c client, conns int, d time.Duration, stop <-chan struct{}) (*hist, uint64, error) {
	h := &hist{}
	var mu sync.Mutex
	mk := e.refreshWorker(ctx, c)
	lr, err := runLoad(ctx, loadSpec{Conns: conns, Duration: d, Stop: stop}, func(i int) (requestFunc, error) {
		fn, err := mk(i)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			t0 := time.Now()
			err := fn(ctx)
			if err == nil {
				d := time.Since(t0)
				mu.Lock()
				h.record(d)
				mu.Unlock()
			}
			return err
		}, nil
	}, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	return h, lr.Errors, nil
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
