package main

import (
	"context"
	"fmt"
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
