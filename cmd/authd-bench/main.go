// Command authd-bench measures authd against the machine's own ceilings
// (issue 7) and under a password flood (issue 4).
//
// It builds the authd binary (or takes one with --authd), starts it on a
// temporary database on a loopback port, seeds users and clients through
// authd's command line, and runs closed-loop load from many goroutines for
// a fixed time per scenario. In the same run it measures reference servers
// that do only the unavoidable work of each request (an RS256 signature, a
// durable bbolt commit, a JWT verification, fixed bytes) and the raw
// argon2id rate, and reports authd's throughput as a ratio to them, with
// the server's CPU time per request and its memory, read from /proc.
//
// Usage:
//
//	authd-bench [--short] [--runs N] [--scenario a,b] [--json FILE]
//	authd-bench --scale [--families 1000,1000000] [--json FILE]
//
// It only ever listens on and connects to loopback addresses, and it ends
// only the server processes it started, by their process id, also when it
// is interrupted.
//
// # Files
//
// One concern each. The load generator and what it drives:
//
//	main.go, config.go   flags and the settings of one invocation
//	run.go               one run: a seeded authd and a reference, every scenario beside its ceiling
//	scenarios.go         the authd scenarios' workers (password, refresh, introspect, ...)
//	flood.go             the login-flood scenario
//	authcode.go          the authorization code scenarios: code exchange, a whole browserless sign-in
//	scale.go, sweep.go   --scale: many live families; the server's own sweep under load
//	load.go, hist.go     the closed-loop load generator and its latency histogram
//	authd.go, seed.go    building, starting and stopping authd; seeding it
//	proc.go, diskprobe.go  what the server process uses (/proc, perf); the disk's own commit stalls
//	result.go, report.go the measured rows, the targets, the table and the JSON
//
// The ceilings, apart from it (the reference server runs in a child process
// of this same executable, see refDirEnv):
//
//	ceiling_server.go    the reference server: only the unavoidable work of each request
//	ceiling_micro.go     single-operation costs and the raw argon2id rate, measured in the child
//	ceiling_proc.go      starting the child and asking it for those measurements
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if dir := os.Getenv(refDirEnv); dir != "" {
		if err := refServerMain(dir); err != nil {
			fmt.Fprintf(os.Stderr, "authd-bench reference server: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "authd-bench: %v\n", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// run parses args and runs the benchmark; stdout gets the table, stderr the
// progress.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("authd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg        = config{out: stdout}
		scenarios  = fs.String("scenario", "all", "comma-separated scenarios: "+strings.Join(allScenarios, ", ")+", or all")
		families   = fs.String("families", "1000,1000000", "with --scale: live refresh families to measure at")
		scale      = fs.Bool("scale", false, "measure refresh latency, file size, start-up and sweep with many live refresh families")
		duration   = fs.Duration("duration", 0, "measured time per scenario (default 10s, 1s with --short)")
		warmup     = fs.Duration("warmup", 0, "unmeasured warm-up per scenario (default 1s, 200ms with --short)")
		conns      = fs.Int("conns", 0, "connections of the many-connection scenarios (default 64, 4 with --short)")
		pwConns    = fs.String("password-conns", "", "comma-separated concurrent clients of the password scenario, a row each (default 2,16,64; 2,4 with --short)")
		floodConns = fs.Int("flood-conns", 0, "attacker connections of login-flood (default 256, 16 with --short)")
		floodDur   = fs.Duration("flood-duration", 0, "measured time of login-flood (default 20s, 2s with --short)")
	)
	fs.StringVar(&cfg.authdBin, "authd", "", "authd binary to measure (default: build ./cmd/authd of this module)")
	fs.IntVar(&cfg.runs, "runs", 1, "runs; the table shows the median of each figure")
	fs.BoolVar(&cfg.short, "short", false, "a second per scenario and few connections: a smoke test, not figures")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directories (databases, server logs)")
	// Hidden: not in the usage text; a diagnosis aid, not a figure.
	fs.StringVar(&cfg.perfDir, "perf-dir", "", "")
	fs.BoolVar(&cfg.sweepOnly, "sweep-only", false, "")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: authd-bench [flags]")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage == "" {
				return // hidden
			}
			fmt.Fprintf(stderr, "  --%s\n    \t%s\n", f.Name, f.Usage)
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "authd-bench: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	var pw []int
	if *pwConns != "" {
		for _, f := range strings.Split(*pwConns, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || slices.Contains(pw, n) {
				fmt.Fprintf(stderr, "authd-bench: bad --password-conns value %q\n", f)
				return errUsage
			}
			pw = append(pw, n)
		}
	}
	cfg.setDefaults(*duration, *warmup, *conns, pw, *floodConns, *floodDur)
	if *scenarios == "all" {
		cfg.scenarios = allScenarios
	} else {
		for _, s := range strings.Split(*scenarios, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(allScenarios, s) {
				fmt.Fprintf(stderr, "authd-bench: unknown scenario %q (have %s)\n", s, strings.Join(allScenarios, ", "))
				return errUsage
			}
			cfg.scenarios = append(cfg.scenarios, s)
		}
	}
	if cfg.runs < 1 || cfg.conns < 1 || cfg.floodConns < 1 {
		fmt.Fprintln(stderr, "authd-bench: --runs and connection counts must be at least 1")
		return errUsage
	}
	for _, f := range strings.Split(*families, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "authd-bench: bad --families value %q\n", f)
			return errUsage
		}
		cfg.scaleFamilies = append(cfg.scaleFamilies, n)
	}

	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	if cfg.authdBin == "" {
		dir, err := os.MkdirTemp("", "authd-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.authdBin = filepath.Join(dir, "authd")
		logf("building ./cmd/authd")
		if err := buildAuthd(ctx, cfg.authdBin); err != nil {
			return err
		}
	}
	command := "authd-bench " + strings.Join(args, " ")

	if *scale {
		return runScale(ctx, &cfg, command, logf)
	}

	var runs []*runResult
	for i := range cfg.runs {
		logf("run %d of %d", i+1, cfg.runs)
		r, err := runOnce(ctx, &cfg, logf)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		runs = append(runs, r)
	}
	s := summarize(runs, strings.TrimSpace(command))
	s.print(stdout)
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, s); err != nil {
			return err
		}
	}
	if n := s.totalErrors(); n > 0 {
		return fmt.Errorf("%d requests got an unexpected answer", n)
	}
	return nil
}
