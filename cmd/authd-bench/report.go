package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// target is one of issue 7's (and issue 4's) goals, evaluated on one run.
type target struct {
	Name string `json:"name"`
	// Row is the scenario row it belongs to, if any.
	Row   string  `json:"row,omitempty"`
	Value float64 `json:"value"`
	// AtLeast: Value must be >= Limit; otherwise <= Limit (or < when
	// Strict).
	AtLeast bool    `json:"at_least"`
	Strict  bool    `json:"strict,omitempty"`
	Limit   float64 `json:"limit"`
	Unit    string  `json:"unit,omitempty"`
	Pass    bool    `json:"pass"`
}

func (t *target) eval() {
	switch {
	case math.IsNaN(t.Value):
		t.Pass = false
	case t.AtLeast:
		t.Pass = t.Value >= t.Limit
	case t.Strict:
		t.Pass = t.Value < t.Limit
	default:
		t.Pass = t.Value <= t.Limit
	}
}

func (t target) want() string {
	op := "≤"
	switch {
	case t.AtLeast:
		op = "≥"
	case t.Strict:
		op = "<"
	}
	return fmt.Sprintf("%s %s%s", op, trimFloat(t.Limit), t.Unit)
}

func (t target) verdict() string {
	if t.Pass {
		return "PASS"
	}
	return "MISS"
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// hashMemMiB is the memory of one argon2id hash at authd's defaults.
const hashMemMiB = 19

// passwordRSSOverMiB is what authd may use beside the hashes' memory under
// password load (issue 16).
const passwordRSSOverMiB = 80

// targets evaluates the goals on one run's rows; goals whose rows were not
// measured are left out.
func targets(r *runResult) []target {
	var ts []target
	add := func(t target) {
		t.eval()
		ts = append(ts, t)
	}
	ratio := func(name, row string, limit float64) {
		if x := r.find(row); x != nil && x.Ceiling != "" {
			add(target{Name: name, Row: row, Value: x.Ratio, AtLeast: true, Limit: limit, Unit: "×"})
		}
	}
	// Issue 16's targets (issue 7's, raised).
	ratio("refresh ≥ 0.9 of sign+write", refreshRow(r), 0.9)
	if x := r.find("refresh@1"); x != nil && r.SignMs+r.CommitMs > 0 {
		add(target{Name: "refresh@1 p50 ≤ 1.3 × (sign + commit)", Row: "refresh@1", Value: x.P50ms / (r.SignMs + r.CommitMs), Limit: 1.3, Unit: "×"})
	}
	ratio("client_credentials ≥ 0.85 of sign", "client_credentials", 0.85)
	// Issue 14: one code spent, one family created, two signatures.
	ratio("code exchange ≥ 0.8 of sign×2+write", "code-exchange", 0.8)
	ratio("introspection ≥ 0.9 of verify", "introspect", 0.9)
	ratio("JWKS ≥ 0.95 of fixed bytes", "jwks", 0.95)
	// Issue 16's --signing-alg: with a cheap signature the durable write
	// and the HTTP path are the limit.
	for _, alg := range []string{"ES256", "EdDSA"} {
		ratio(alg+" refresh ≥ 0.8 of "+alg+" sign+write", algRefreshRow(r, alg), 0.8)
		ratio(alg+" client_credentials ≥ 0.9 of "+alg+" sign", algRow(alg, "client_credentials"), 0.9)
	}
	ratio("JWKS 304 at least as fast as 200", "jwks-304", 1.0)
	// The password grant at every number of concurrent clients: the same
	// throughput and the same memory, bounded by the hashes in flight and
	// not by the clients waiting.
	rss := float64(r.HashSlots*hashMemMiB + passwordRSSOverMiB)
	for _, x := range r.Results {
		if !strings.HasPrefix(x.Scenario, "password@") {
			continue
		}
		ratio(x.Scenario+" ≥ 0.9 of raw argon2id", x.Scenario, 0.9)
		add(target{Name: fmt.Sprintf("%s peak RSS ≤ hashes × %d MiB + %d MiB", x.Scenario, hashMemMiB, passwordRSSOverMiB), Row: x.Scenario,
			Value: x.PeakRSSMiB, Limit: rss, Unit: " MiB"})
	}
	add(target{Name: "idle RSS ≤ 40 MiB", Value: r.IdleRSSMiB, Limit: 40, Unit: " MiB"})
	if row := refreshRow(r); row != "" {
		add(target{Name: "RSS under refresh load ≤ 120 MiB", Row: row, Value: r.find(row).PeakRSSMiB, Limit: 120, Unit: " MiB"})
	}
	if f := r.Flood; f != nil {
		add(target{Name: "flood: peak RSS < 256 MiB", Row: "flood: wrong passwords", Value: f.PeakRSSMiB, Strict: true, Limit: 256, Unit: " MiB"})
		v := math.NaN()
		if f.RefreshP99Base > 0 {
			v = f.RefreshP99Flood / f.RefreshP99Base
		}
		add(target{Name: "flood: refresh p99 < 5 × unloaded", Row: "flood: refresh, in flood", Value: v, Strict: true, Limit: 5, Unit: "×"})
		okFrac := math.NaN()
		if n := f.ValidOK + f.ValidFailed; n > 0 {
			okFrac = float64(f.ValidOK) / float64(n)
		}
		add(target{Name: "flood: valid logins succeed", Row: "flood: valid logins", Value: okFrac, AtLeast: true, Limit: 1})
	}
	return ts
}

// refreshRow is the name of the many-connection refresh row.
func refreshRow(r *runResult) string {
	for _, x := range r.Results {
		if strings.HasPrefix(x.Scenario, "refresh@") && x.Scenario != "refresh@1" {
			return x.Scenario
		}
	}
	return ""
}

// algRefreshRow is the name of the refresh row of the --signing-alg alg
// scenario, or "".
func algRefreshRow(r *runResult, alg string) string {
	for _, x := range r.Results {
		if strings.HasPrefix(x.Scenario, algRow(alg, "refresh@")) {
			return x.Scenario
		}
	}
	return ""
}

// summary is the median of several runs: every number of every row is the
// median of that number over the runs, and every target's value the median
// of its per-run values (ratios are taken within a run, against that run's
// ceiling, before the median).
type summary struct {
	Runs    int         `json:"runs"`
	Rows    []result    `json:"rows"`
	Targets []target    `json:"targets"`
	Run     runResult   `json:"run_medians"`
	All     []runResult `json:"all_runs"`
	Machine machine     `json:"machine"`
	Command string      `json:"command"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Date      string `json:"date"`
}

func medianF(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianU(xs []uint64) uint64 {
	f := make([]float64, len(xs))
	for i, x := range xs {
		f[i] = float64(x)
	}
	return uint64(medianF(f))
}

func summarize(runs []*runResult, command string) *summary {
	s := &summary{Runs: len(runs), Command: command, Machine: machine{
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC().Format(time.RFC3339),
	}}
	for _, r := range runs {
		s.All = append(s.All, *r)
	}
	col := func(f func(*runResult) float64) float64 {
		var xs []float64
		for _, r := range runs {
			xs = append(xs, f(r))
		}
		return medianF(xs)
	}
	s.Run = runResult{
		IdleRSSMiB: col(func(r *runResult) float64 { return r.IdleRSSMiB }),
		HWMMiB:     col(func(r *runResult) float64 { return r.HWMMiB }),
		StartupMs:  col(func(r *runResult) float64 { return r.StartupMs }),
		SignMs:     col(func(r *runResult) float64 { return r.SignMs }),
		CommitMs:   col(func(r *runResult) float64 { return r.CommitMs }),
		HashSlots:  runs[0].HashSlots,
		DBBytes:    int64(col(func(r *runResult) float64 { return float64(r.DBBytes) })),
	}
	// Rows in the order of the first run.
	for _, first := range runs[0].Results {
		var rows []result
		for _, r := range runs {
			if x := r.find(first.Scenario); x != nil {
				rows = append(rows, *x)
			}
		}
		m := first
		pick := func(f func(result) float64) float64 {
			var xs []float64
			for _, x := range rows {
				xs = append(xs, f(x))
			}
			return medianF(xs)
		}
		var reqs, errs []uint64
		var kinds []string
		for _, x := range rows {
			reqs = append(reqs, x.Requests)
			errs = append(errs, x.Errors)
			if x.ErrorKinds != "" {
				kinds = append(kinds, x.ErrorKinds)
			}
			m.Truncated = m.Truncated || x.Truncated
		}
		m.Requests = medianU(reqs)
		// Errors: the sum over runs, so that none is hidden by a median.
		m.Errors = 0
		for _, e := range errs {
			m.Errors += e
		}
		m.ErrorKinds = strings.Join(kinds, " | ")
		m.RPS = pick(func(x result) float64 { return x.RPS })
		m.P50ms = pick(func(x result) float64 { return x.P50ms })
		m.P99ms = pick(func(x result) float64 { return x.P99ms })
		m.Ratio = pick(func(x result) float64 { return x.Ratio })
		m.CPUPerReqMs = pick(func(x result) float64 { return x.CPUPerReqMs })
		m.PeakRSSMiB = pick(func(x result) float64 { return x.PeakRSSMiB })
		m.PeakAnonMiB = pick(func(x result) float64 { return x.PeakAnonMiB })
		s.Rows = append(s.Rows, m)
	}
	// Targets: median of per-run values.
	per := map[string][]target{}
	var order []string
	for _, r := range runs {
		for _, t := range targets(r) {
			if _, ok := per[t.Name]; !ok {
				order = append(order, t.Name)
			}
			per[t.Name] = append(per[t.Name], t)
		}
	}
	for _, name := range order {
		ts := per[name]
		t := ts[0]
		var xs []float64
		for _, x := range ts {
			xs = append(xs, x.Value)
		}
		t.Value = medianF(xs)
		t.eval()
		s.Targets = append(s.Targets, t)
	}
	if runs[0].Flood != nil {
		var f floodSum
		fl := func(g func(*floodSum) float64) float64 {
			var xs []float64
			for _, r := range runs {
				if r.Flood != nil {
					xs = append(xs, g(r.Flood))
				}
			}
			return medianF(xs)
		}
		f.Rejected = uint64(fl(func(f *floodSum) float64 { return float64(f.Rejected) }))
		f.Throttled = uint64(fl(func(f *floodSum) float64 { return float64(f.Throttled) }))
		f.Busy = uint64(fl(func(f *floodSum) float64 { return float64(f.Busy) }))
		f.ValidOK = uint64(fl(func(f *floodSum) float64 { return float64(f.ValidOK) }))
		f.ValidFailed = uint64(fl(func(f *floodSum) float64 { return float64(f.ValidFailed) }))
		f.RefreshP99Base = fl(func(f *floodSum) float64 { return f.RefreshP99Base })
		f.RefreshP99Flood = fl(func(f *floodSum) float64 { return f.RefreshP99Flood })
		f.PeakRSSMiB = fl(func(f *floodSum) float64 { return f.PeakRSSMiB })
		s.Run.Flood = &f
	}
	return s
}

// totalErrors counts unexpected answers over every row.
func (s *summary) totalErrors() uint64 {
	var n uint64
	for _, r := range s.Rows {
		n += r.Errors
	}
	return n
}

func (s *summary) print(w io.Writer) {
	what := "one run"
	if s.Runs > 1 {
		what = fmt.Sprintf("medians of %d runs", s.Runs)
	}
	fmt.Fprintf(w, "\nauthd bench: %s; %d CPUs, %s, %s\n", what, s.Machine.CPUs, s.Machine.GoVersion, s.Machine.OS)
	fmt.Fprintf(w, "command: %s\n\n", s.Command)
	byRow := map[string]target{}
	for _, t := range s.Targets {
		if t.Row != "" && t.Unit == "×" && t.AtLeast {
			byRow[t.Row] = t
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "scenario\tconns\treq/s\tp50 ms\tp99 ms\terrors\tceiling\tratio\ttarget\tsrv CPU/req ms\tsrv peak RSS MiB\tof it anon\t")
	for _, r := range s.Rows {
		ratio, tgt, cpu, rss, anon := "", "", "", "", ""
		if r.Ceiling != "" {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		if t, ok := byRow[r.Scenario]; ok {
			tgt = t.want() + " " + t.verdict()
		}
		if r.CPUPerReqMs > 0 {
			cpu = fmt.Sprintf("%.3f", r.CPUPerReqMs)
		}
		if r.PeakRSSMiB > 0 {
			rss = fmt.Sprintf("%.1f", r.PeakRSSMiB)
			anon = fmt.Sprintf("%.1f", r.PeakAnonMiB)
		}
		p50, p99 := fmt.Sprintf("%.3f", r.P50ms), fmt.Sprintf("%.3f", r.P99ms)
		if strings.HasPrefix(r.Scenario, "ceiling argon2id") {
			p50, p99 = "", ""
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Scenario, r.Conns, r.RPS, p50, p99, r.Errors, strings.TrimPrefix(r.Ceiling, "ceiling "), ratio, tgt, cpu, rss, anon)
	}
	tw.Flush()
	for _, r := range s.Rows {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Scenario, r.Note)
		}
		if r.Errors > 0 {
			fmt.Fprintf(w, "  %s errors: %s\n", r.Scenario, r.ErrorKinds)
		}
	}
	fmt.Fprintf(w, "\nCeiling rows show the reference process's CPU and memory. The server is restarted before revoke, the last scenario, to write the families it revokes.\n")
	fmt.Fprintf(w, "authd start-up %.0f ms; idle RSS %.1f MiB; VmHWM %.1f MiB; one RS256 sign %.3f ms, one durable commit %.3f ms; concurrent hashes %d; database %s MiB at the end\n",
		s.Run.StartupMs, s.Run.IdleRSSMiB, s.Run.HWMMiB, s.Run.SignMs, s.Run.CommitMs, s.Run.HashSlots, mib(s.Run.DBBytes))
	if f := s.Run.Flood; f != nil {
		fmt.Fprintf(w, "login flood (each figure the median over runs): %d invalid_grant, %d throttled (429), %d busy (503); refresh p99 %.2f ms (unloaded %.2f ms); valid logins %d ok, %d refused; peak RSS %.1f MiB\n",
			f.Rejected, f.Throttled, f.Busy, f.RefreshP99Flood, f.RefreshP99Base, f.ValidOK, f.ValidFailed, f.PeakRSSMiB)
	}
	fmt.Fprintln(w, "\ntargets:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range s.Targets {
		fmt.Fprintf(tw, "  %s\t%s%s\t%s\t%s\n", t.Name, trimFloat(t.Value), t.Unit, t.want(), t.verdict())
	}
	tw.Flush()
	fmt.Fprintln(w, "\nCeilings: reference handlers in a child process of this tool on another loopback port, loaded by the same generator; like authd, a separate process on the same cores. Ratios and targets are medians of per-run values.")
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func mib(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64)
}
