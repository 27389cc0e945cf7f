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
		pwConns    = fs.Int("password-conns", 0, "connections of the password scenario (default 8, 2 with --short)")
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
	cfg.setDefaults(*duration, *warmup, *conns, *pwConns, *floodConns, *floodDur)
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
	if cfg.runs < 1 || cfg.conns < 1 || cfg.passwordConns < 1 || cfg.floodConns < 1 {
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

func (c *config) setDefaults(duration, warmup time.Duration, conns, pwConns, floodConns int, floodDur time.Duration) {
	if c.short {
		c.duration, c.warmup, c.conns, c.passwordConns = time.Second, 200*time.Millisecond, 4, 2
		c.floodConns, c.floodDuration, c.floodRefresh = 16, 2*time.Second, 2
		c.users, c.revokePool, c.slices = 2, 3000, 1
	} else {
		c.duration, c.warmup, c.conns, c.passwordConns = 10*time.Second, time.Second, 64, 8
		c.floodConns, c.floodDuration, c.floodRefresh = 256, 20*time.Second, 4
		c.users, c.revokePool, c.slices = 8, 100_000, 5
	}
	if duration > 0 {
		c.duration = duration
	}
	if warmup > 0 {
		c.warmup = warmup
	}
	if conns > 0 {
		c.conns = conns
	}
	if pwConns > 0 {
		c.passwordConns = pwConns
	}
	if floodConns > 0 {
		c.floodConns = floodConns
	}
	if floodDur > 0 {
		c.floodDuration = floodDur
	}
}
