package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage/bolt"
)

// scaleResult is what one size of the scale run measured.
type scaleResult struct {
	Families        int          `json:"families"`
	SeedSeconds     float64      `json:"seed_s"`
	FileBytes       int64        `json:"file_bytes"`
	FileBytesPerFam float64      `json:"file_bytes_per_family"`
	UsedBytesPerFam float64      `json:"used_bytes_per_family"`
	StartupMs       float64      `json:"startup_ms"`
	IdleRSSMiB      float64      `json:"idle_rss_mib"`
	Refresh1        result       `json:"refresh_1"`
	RefreshN        result       `json:"refresh_n"`
	Sweep           *sweepResult `json:"sweep,omitempty"`
}

// sweepResult times storage/bolt's Sweep removing every family once all
// have expired. Each call is one write transaction: its duration is how long
// it holds bbolt's write lock, fsync included.
type sweepResult struct {
	Calls    int     `json:"calls"`
	Limit    int     `json:"limit"`
	Tokens   int     `json:"tokens"`
	Families int     `json:"families"`
	TotalS   float64 `json:"total_s"`
	P50ms    float64 `json:"call_p50_ms"`
	MaxMs    float64 `json:"call_max_ms"`
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
		fmt.Fprintf(cfg.out, "server's background sweep of %d expired families: %.0f items in %.1f s, longest write lock since start %.1f ms; refresh@%d p99 %.2f ms during the sweep (%d samples), %.2f ms after (%d samples); errors %d %s\n",
			online.Families, online.Swept, online.SweepS, online.CommitMaxMs, cfg.floodRefresh, online.P99DuringMs, online.SamplesDuring, online.P99AfterMs, online.SamplesAfter, online.Errors, online.Note)
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
	if large.Sweep != nil {
		add(target{Name: fmt.Sprintf("storage Sweep of %d families, default limit: longest call ≤ 50 ms", large.Families), Value: large.Sweep.MaxMs, Limit: 50, Unit: " ms"})
	}
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
	for _, r := range sizes {
		if sw := r.Sweep; sw != nil {
			fmt.Fprintf(w, "sweep at %d families: %d calls of limit %d removed %d families and %d tokens in %.1f s; per call p50 %.1f ms, max %.1f ms (write lock held, fsync included)\n",
				r.Families, sw.Calls, sw.Limit, sw.Families, sw.Tokens, sw.TotalS, sw.P50ms, sw.MaxMs)
		}
	}
	if o := s.Online; o != nil {
		if o.Note != "" {
			fmt.Fprintf(w, "server's background sweep of %d expired families: %s\n", o.Families, o.Note)
		} else {
			fmt.Fprintf(w, "server's background sweep of %d expired families: %.0f items in %.1f s, longest write lock since start %.1f ms; refresh@%d p99 %.2f ms during the sweep (%d samples), %.2f ms after (%d samples); errors %d\n",
				o.Families, o.Swept, o.SweepS, o.CommitMaxMs, cfg.floodRefresh, o.P99DuringMs, o.SamplesDuring, o.P99AfterMs, o.SamplesAfter, o.Errors)
		}
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

	logf("sweeping %d families as of after their expiry", n)
	if r.Sweep, err = sweepAll(ctx, a.db); err != nil {
		return nil, err
	}
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

// sweepAll runs storage/bolt's Sweep, with its default limit and as of a
// time after every family's absolute expiry, until nothing is left, and
// times each call.
func sweepAll(ctx context.Context, path string) (*sweepResult, error) {
	db, err := bolt.Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	now := time.Now().Add(refreshTTL + time.Hour)
	res := &sweepResult{Limit: bolt.DefaultSweepLimit}
	var calls []time.Duration
	t0 := time.Now()
	for ctx.Err() == nil {
		c0 := time.Now()
		st, err := db.Sweep(ctx, now, bolt.DefaultSweepLimit)
		if err != nil {
			return nil, err
		}
		calls = append(calls, time.Since(c0))
		res.Tokens += st.Tokens
		res.Families += st.Families
		if !st.More {
			break
		}
		if len(calls) > 10_000_000 {
			return nil, fmt.Errorf("sweep did not finish after %d calls", len(calls))
		}
	}
	res.TotalS = time.Since(t0).Seconds()
	res.Calls = len(calls)
	res.P50ms = ms(median(calls))
	res.MaxMs = ms(slices.Max(calls))
	return res, ctx.Err()
}

// onlineSweep is what the server's own background sweep did to refresh
// latency: refresh load runs from start-up, while the server sweeps n
// expired families, and on after the sweep has finished.
type onlineSweep struct {
	Families      int     `json:"expired_families"`
	Swept         float64 `json:"items_swept"`
	SweepS        float64 `json:"sweep_s"`
	CommitMaxMs   float64 `json:"longest_write_lock_ms"`
	P99DuringMs   float64 `json:"refresh_p99_during_ms"`
	P99AfterMs    float64 `json:"refresh_p99_after_ms"`
	SamplesDuring int     `json:"samples_during"`
	SamplesAfter  int     `json:"samples_after"`
	Errors        uint64  `json:"errors"`
	Note          string  `json:"note,omitempty"`
}

// sweepOnline seeds n families that expired a day ago, starts the server
// and refreshes from cfg.floodRefresh workers while the server's background
// sweep removes them, then for 10 s more. Progress comes from the server's
// /metrics (authd_swept_total, authd_db_commit_max_seconds).
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

	// Watch the sweep.
	type point struct {
		at    time.Time
		swept float64
	}
	var (
		points    []point
		commitMax float64
		stop      = make(chan struct{})
		watchDone = make(chan struct{})
	)
	// The server counts swept items when a whole sweep is done, so the
	// sweep that starts at start-up runs from then until the counter moves.
	var finished time.Time
	go func() {
		defer close(watchDone)
		buf := make([]byte, 0, 64<<10)
		for ctx.Err() == nil {
			if err := base.get(ctx, "/metrics", nil, 200, &buf); err == nil {
				m := parseMetrics(buf)
				now := time.Now()
				points = append(points, point{now, m["authd_swept_total"]})
				commitMax = m["authd_db_commit_max_seconds"]
				if finished.IsZero() && m["authd_swept_total"] > 0 {
					finished = now
				}
				if (!finished.IsZero() && now.Sub(finished) > 12*time.Second) || now.Sub(started) > 10*time.Minute {
					close(stop)
					return
				}
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}()

	type sample struct {
		at time.Time
		d  time.Duration
	}
	perWorker := make([][]sample, cfg.floodRefresh)
	mk := e.refreshWorker(ctx, base)
	lr, err := runLoad(ctx, loadSpec{Conns: cfg.floodRefresh, Duration: 11 * time.Minute, Stop: stop}, func(i int) (requestFunc, error) {
		fn, err := mk(i)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			t0 := time.Now()
			err := fn(ctx)
			if err == nil {
				t1 := time.Now()
				perWorker[i] = append(perWorker[i], sample{t1, t1.Sub(t0)})
			}
			return err
		}, nil
	}, nil, nil)
	<-watchDone
	if err != nil {
		return nil, err
	}
	res := &onlineSweep{Families: n, CommitMaxMs: commitMax * 1000, Errors: lr.Errors}
	if len(points) > 0 {
		res.Swept = points[len(points)-1].swept
	}
	if finished.IsZero() {
		res.Note = "the server finished no sweep within 10 minutes of start-up"
		return res, nil
	}
	first, lastChange := started, finished
	res.SweepS = lastChange.Sub(first).Seconds()
	var during, after hist
	for _, w := range perWorker {
		for _, s := range w {
			switch {
			case !s.at.Before(first) && !s.at.After(lastChange):
				during.record(s.d)
			case s.at.After(lastChange.Add(time.Second)):
				after.record(s.d)
			}
		}
	}
	res.P99DuringMs, res.P99AfterMs = ms(during.quantile(0.99)), ms(after.quantile(0.99))
	res.SamplesDuring, res.SamplesAfter = int(during.n), int(after.n)
	logf("online sweep of %d expired families: %.0f items in %.1f s, longest write lock %.1f ms; refresh p99 %.2f ms during, %.2f ms after",
		n, res.Swept, res.SweepS, res.CommitMaxMs, res.P99DuringMs, res.P99AfterMs)
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
