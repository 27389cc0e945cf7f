package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// env is one run's server, reference and clients.
type env struct {
	cfg     *config
	dir     string
	authd   *authd
	ref     *refProc
	seed    seedInfo
	appAuth string
	svcAuth string
	pool    []string
	log     func(format string, args ...any)

	// codeAuth is codeClientID's Basic credentials (the code scenarios).
	codeAuth string
}

// runOnce starts a fresh authd and reference server and measures every
// selected scenario and its ceiling.
func runOnce(ctx context.Context, cfg *config, logf func(string, ...any)) (*runResult, error) {
	e, cleanup, err := seededEnv(ctx, cfg, "authd-bench-", logf)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	a := e.authd
	if err := a.start(ctx); err != nil {
		return nil, err
	}
	rr := &runResult{StartupMs: ms(a.Startup), HashSlots: hashSlots()}
	logf("authd pid %d ready in %v at %s", a.pid(), a.Startup.Round(time.Millisecond), a.base)
	waitUntil(ctx, time.Now().Add(time.Second))
	idle, err := memField(a.pid(), "VmRSS")
	if err != nil {
		return nil, fmt.Errorf("read authd's RSS: %w", err)
	}
	rr.IdleRSSMiB = toMiB(idle)

	base := client{http: newClient(cfg.floodConns+cfg.conns, nil), base: a.base}
	defer base.http.CloseIdleConnections()
	buf := make([]byte, 0, 8192)
	if err := base.get(ctx, "/.well-known/jwks.json", nil, http.StatusOK, &buf); err != nil {
		return nil, fmt.Errorf("get JWKS: %w", err)
	}
	jwks := slices.Clone(buf)
	etag, err := headETag(ctx, base)
	if err != nil {
		return nil, err
	}
	if err := base.get(ctx, "/.well-known/oauth-authorization-server", nil, http.StatusOK, &buf); err != nil {
		return nil, fmt.Errorf("get metadata: %w", err)
	}
	metadata := slices.Clone(buf)

	if e.ref, err = startRefProc(ctx, e.dir, jwks, etag, metadata, "RS256"); err != nil {
		return nil, fmt.Errorf("reference server: %w", err)
	}
	defer e.ref.stop()
	ref := client{http: newClient(cfg.conns, nil), base: e.ref.base}
	defer ref.http.CloseIdleConnections()

	micro, err := e.ref.micro(ctx, ref.http, 200)
	if err != nil {
		return nil, fmt.Errorf("sign and commit costs: %w", err)
	}
	rr.SignMs, rr.CommitMs = ms(micro.Sign), ms(micro.Commit)
	logf("one RS256 sign %v, one durable bbolt commit %v", micro.Sign.Round(time.Microsecond), micro.Commit.Round(time.Microsecond))

	// Each step measures a group of legs (a ceiling and the authd
	// scenarios read against it) in alternating slices, so that the noise
	// of a shared machine falls on all of them alike.
	http1 := func(name, kind string, conns int, mk func(int) (requestFunc, error), ceiling string) *leg {
		return &leg{name: name, kind: kind, conns: conns, mk: mk, ceiling: ceiling}
	}
	group := func(legs ...*leg) error { return e.measureGroup(ctx, rr, legs...) }
	jwksLeg := func(ceiling string) *leg {
		return http1("jwks", "authd", cfg.conns, e.getWorker(base, "/.well-known/jwks.json", nil, http.StatusOK), ceiling)
	}
	const refFormBody = "grant_type=refresh_token&refresh_token=authd_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

	type step struct {
		scenario string
		run      func() error
	}
	steps := []step{
		{"jwks", func() error {
			legs := []*leg{
				http1("ceiling fixed-bytes jwks", "ceiling", cfg.conns, refRequest(ref.http, http.MethodGet, ref.base+"/jwks", "", "", 200), ""),
				jwksLeg("ceiling fixed-bytes jwks"),
			}
			if cfg.wants("jwks-304") {
				legs = append(legs, http1("jwks-304", "authd", cfg.conns, e.getWorker(base, "/.well-known/jwks.json", http.Header{"If-None-Match": {etag}}, http.StatusNotModified), "jwks"))
			}
			return group(legs...)
		}},
		{"jwks-304", func() error {
			if rr.find("jwks-304") != nil {
				return nil
			}
			return group(jwksLeg(""),
				http1("jwks-304", "authd", cfg.conns, e.getWorker(base, "/.well-known/jwks.json", http.Header{"If-None-Match": {etag}}, http.StatusNotModified), "jwks"))
		}},
		{"metadata", func() error {
			return group(
				http1("ceiling fixed-bytes metadata", "ceiling", cfg.conns, refRequest(ref.http, http.MethodGet, ref.base+"/metadata", "", "", 200), ""),
				http1("metadata", "authd", cfg.conns, e.getWorker(base, "/.well-known/oauth-authorization-server", nil, http.StatusOK), "ceiling fixed-bytes metadata"))
		}},
		{"client_credentials", func() error {
			return group(
				http1("ceiling sign", "ceiling", cfg.conns, refRequest(ref.http, http.MethodPost, ref.base+"/sign", "grant_type=client_credentials", e.svcAuth, 200), ""),
				http1("client_credentials", "authd", cfg.conns, e.clientCredentialsWorker(base), "ceiling sign"))
		}},
		{"introspect", func() error {
			at, _, err := e.login(ctx, base, 0)
			if err != nil {
				return err
			}
			body := "token=" + at + "&token_type_hint=access_token"
			return group(
				http1("ceiling verify", "ceiling", cfg.conns, refRequest(ref.http, http.MethodPost, ref.base+"/verify", body, e.svcAuth, 200), ""),
				http1("introspect", "authd", cfg.conns, e.introspectWorker(base, at), "ceiling verify"))
		}},
		{"refresh", func() error {
			for _, n := range []int{cfg.conns, 1} {
				cname := fmt.Sprintf("ceiling sign+write@%d", n)
				err := group(
					http1(cname, "ceiling", n, refRequest(ref.http, http.MethodPost, ref.base+"/sign-write", refFormBody, e.appAuth, 200), ""),
					http1(fmt.Sprintf("refresh@%d", n), "authd", n, e.refreshWorker(ctx, base), cname))
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"password", func() error {
			argonLeg := func(name, note string, reuse bool) *leg { return e.argonLeg(ref, name, note, reuse) }
			// The target's ceiling is x/crypto's argon2id (issue 16); the
			// second one computes the hashes as authd does, in memory kept
			// from one to the next, so that authd's ratio to it is what
			// authd spends beside the hashes themselves.
			legs := []*leg{
				argonLeg("ceiling argon2id raw", "hashes/s on all cores, x/crypto/argon2, no HTTP", false),
				argonLeg(argonReusedRow, "hashes/s on all cores in a password.Hasher (memory reused from hash to hash), no HTTP", true),
			}
			// One row per number of concurrent clients, all in the same
			// alternating rounds as the ceilings.
			busy := make([]atomic.Uint64, len(cfg.passwordConns))
			for i, n := range cfg.passwordConns {
				legs = append(legs, http1(passwordRow(n), "authd", n, e.passwordWorker(base, &busy[i]), "ceiling argon2id raw"))
			}
			if err := group(legs...); err != nil {
				return err
			}
			c := rr.find(argonReusedRow)
			for i, n := range cfg.passwordConns {
				r := rr.find(passwordRow(n))
				if c != nil && c.RPS > 0 {
					r.Note = fmt.Sprintf("%.2f of argon2id in reused memory", r.RPS/c.RPS)
				}
				if b := busy[i].Load(); b > 0 {
					r.Note += fmt.Sprintf("; %d busy (503, no hashing slot within --hash-wait) over the run", b)
				}
			}
			return nil
		}},
		{"code-exchange", func() error {
			if err := e.codeClient(ctx); err != nil {
				return err
			}
			src, err := e.newCodeSource(ctx, base)
			if err != nil {
				return err
			}
			const cname = "ceiling sign×2+write"
			cl := http1(cname, "ceiling", cfg.conns, refRequest(ref.http, http.MethodPost, ref.base+"/sign2-write", exchangeForm("x"), e.codeAuth, 200), "")
			xl := http1("code-exchange", "authd", cfg.conns, e.codeExchangeWorker(base, src), cname)
			xl.note = "codes made through /authorize with a session cookie before each slice, outside it"
			// Codes for each slice, made before it, outside the window.
			xl.prepare = func(ctx context.Context, s loadSpec) error {
				return src.fill(ctx, codePoolSize(cl, s), cfg.conns)
			}
			xl.remaining = src.left
			if err := group(cl, xl); err != nil {
				return err
			}
			if r := rr.find("code-exchange"); r.Truncated {
				r.Note = "the codes made for a slice ran out before its end: the rate is understated"
			}
			return nil
		}},
		{"authcode-round", func() error {
			if err := e.codeClient(ctx); err != nil {
				return err
			}
			workers := 2 * gomaxprocs()
			const cname = "ceiling argon2id raw (round)"
			return group(
				e.argonLeg(ref, cname, "hashes/s on all cores, x/crypto/argon2, no HTTP", false),
				http1(fmt.Sprintf("authcode-round@%d", workers), "authd", workers, e.roundWorker(base), cname))
		}},
		{"login-flood", func() error { return e.loginFlood(ctx, rr, base) }},
		{"es256", func() error { return algRows(ctx, cfg, rr, "ES256", logf) }},
		{"eddsa", func() error { return algRows(ctx, cfg, rr, "EdDSA", logf) }},
		{"revoke", func() error {
			// The families to revoke are written while the server is
			// stopped, so that every other scenario runs on a small file;
			// revoke, the last one, runs on the restarted server.
			a.stop()
			logf("authd stopped; seeding %d refresh-token families to revoke", cfg.revokePool)
			if e.pool, err = seedPool(ctx, a, e.seed.users, cfg.revokePool); err != nil {
				return fmt.Errorf("seed revocation pool: %w", err)
			}
			if err := a.start(ctx); err != nil {
				return err
			}
			base.http.CloseIdleConnections()
			rr.RevokePoolSz = len(e.pool)
			logf("authd restarted, pid %d, ready in %v", a.pid(), a.Startup.Round(time.Millisecond))
			var next atomic.Int64
			rl := http1("revoke", "authd", cfg.conns, e.revokeWorker(base, e.pool, &next), "ceiling write")
			rl.remaining = func() int64 { return int64(len(e.pool)) - next.Load() }
			err := group(
				http1("ceiling write", "ceiling", cfg.conns, refRequest(ref.http, http.MethodPost, ref.base+"/write", "token=x", e.appAuth, 200), ""),
				rl)
			if err != nil {
				return err
			}
			used := min(int(next.Load()), len(e.pool))
			if err := e.checkRevoked(ctx, base, e.pool[:min(used, 20)]); err != nil {
				r := rr.find("revoke")
				r.Errors++
				r.ErrorKinds = err.Error()
			}
			if r := rr.find("revoke"); r.Truncated {
				r.Note = fmt.Sprintf("the pool of %d tokens ran out before the end of the window", len(e.pool))
			}
			return nil
		}},
	}
	for _, st := range steps {
		if !cfg.wants(st.scenario) {
			continue
		}
		if err := st.run(); err != nil {
			return rr, fmt.Errorf("%s: %w", st.scenario, err)
		}
		select {
		case <-a.exited:
			return rr, fmt.Errorf("authd exited during %s; its log: %s", st.scenario, a.tail())
		default:
		}
	}
	if hwm, err := memField(a.pid(), "VmHWM"); err == nil {
		rr.HWMMiB = toMiB(hwm)
	}
	rr.DBBytes = fileSize(a.db)
	return rr, nil
}

// headETag reads the JWKS ETag.
func headETag(ctx context.Context, c client) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.base+"/.well-known/jwks.json", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" {
		return "", errors.New("the JWKS has no ETag")
	}
	return etag, nil
}

// argonLeg is a ceiling leg: argon2id hashes on all cores in the
// reference process (reuse: in memory kept from hash to hash, as authd
// computes them).
func (e *env) argonLeg(ref client, name, note string, reuse bool) *leg {
	return &leg{name: name, kind: "ceiling", conns: gomaxprocs(), note: note,
		custom: func(ctx context.Context, s loadSpec) (loadResult, error) {
			a, err := e.ref.argon2(ctx, ref.http, s.Duration, reuse)
			if err != nil {
				return loadResult{}, fmt.Errorf("argon2id ceiling: %w", err)
			}
			return loadResult{Requests: uint64(a.Rate*s.Duration.Seconds() + 0.5), Window: s.Duration}, nil
		}}
}

// argonReusedRow is the ceiling row of argon2id computed as authd does.
const argonReusedRow = "ceiling argon2id reused memory"

// passwordRow names the password scenario's row at n concurrent clients.
func passwordRow(n int) string { return fmt.Sprintf("password@%d", n) }

// hashSlots is how many password hashes authd runs at once by default: its
// GOMAXPROCS, which on this machine is the tool's.
func hashSlots() int { return max(1, gomaxprocs()) }

// leg is one load of a measured group: against authd (kind "authd", whose
// process is probed) or a ceiling.
type leg struct {
	name, kind string
	conns      int
	mk         func(int) (requestFunc, error)
	ceiling    string
	note       string
	// remaining, if set, bounds the requests of each slice.
	remaining func() int64
	// custom replaces the HTTP load (the argon2id ceiling).
	custom func(ctx context.Context, s loadSpec) (loadResult, error)
	// prepare, if set, runs before each slice, outside its window (the
	// codes a code-exchange slice spends).
	prepare func(ctx context.Context, s loadSpec) error

	fns      []requestFunc
	res      loadResult
	cpu      time.Duration
	peak     int64
	peakAnon int64
}

// measureGroup measures legs in cfg.slices rounds; in each round every leg
// runs for duration/slices, after a warm-up (the full one in the first
// round, a quarter of it later). Workers are prepared once, so the refresh
// chains and connections carry over between slices.
func (e *env) measureGroup(ctx context.Context, rr *runResult, legs ...*leg) error {
	cfg := e.cfg
	for _, l := range legs {
		if l.custom != nil {
			continue
		}
		for i := range l.conns {
			fn, err := l.mk(i)
			if err != nil {
				return fmt.Errorf("%s: prepare worker %d: %w", l.name, i, err)
			}
			l.fns = append(l.fns, fn)
		}
		l.res = loadResult{Kinds: map[string]uint64{}, Hist: new(hist)}
	}
	if cfg.perfDir != "" {
		for _, l := range legs {
			if l.kind == "authd" {
				stop, err := startPerf(cfg.perfDir, l.name, e.authd.pid())
				if err != nil {
					return err
				}
				defer stop()
				break
			}
		}
	}
	rounds := max(1, cfg.slices)
	for k := range rounds {
		for _, l := range legs {
			s := loadSpec{Conns: l.conns, Warmup: cfg.warmup, Duration: cfg.duration / time.Duration(rounds)}
			if k > 0 {
				s.Warmup = cfg.warmup / 4
			}
			if l.prepare != nil {
				if err := l.prepare(ctx, s); err != nil {
					return fmt.Errorf("%s: prepare slice %d: %w", l.name, k+1, err)
				}
			}
			if l.remaining != nil {
				s.MaxRequests = l.remaining()
				if s.MaxRequests <= 0 {
					l.res.Truncated = true
					continue
				}
			}
			var lr loadResult
			var err error
			if l.custom != nil {
				lr, err = l.custom(ctx, s)
			} else {
				var p *serverProbe
				var on, off func()
				switch l.kind {
				case "authd":
					p = newProbe(e.authd.pid())
				case "ceiling":
					p = newProbe(e.ref.pid())
				}
				if p != nil {
					on, off = p.begin, p.end
				}
				lr, err = runLoad(ctx, s, func(i int) (requestFunc, error) { return l.fns[i], nil }, on, off)
				if p != nil {
					cpu, peak := p.finish()
					l.cpu += cpu
					l.peak = max(l.peak, peak)
					l.peakAnon = max(l.peakAnon, p.peakAnon())
				}
			}
			l.res.Requests += lr.Requests
			l.res.Window += lr.Window
			l.res.Errors += lr.Errors
			l.res.Truncated = l.res.Truncated || lr.Truncated
			for kk, v := range lr.Kinds {
				if l.res.Kinds == nil {
					l.res.Kinds = map[string]uint64{}
				}
				l.res.Kinds[kk] += v
			}
			if lr.Hist != nil {
				if l.res.Hist == nil {
					l.res.Hist = new(hist)
				}
				l.res.Hist.merge(lr.Hist)
			}
			if err != nil {
				return err
			}
			select {
			case <-e.authd.exited:
				return fmt.Errorf("authd exited during %s; its log: %s", l.name, e.authd.tail())
			default:
			}
		}
	}
	for _, l := range legs {
		lr := l.res
		row := result{
			Scenario: l.name, Kind: l.kind, Conns: l.conns, Requests: lr.Requests, RPS: lr.RPS(),
			Errors: lr.Errors, ErrorKinds: lr.errorSummary(), Truncated: lr.Truncated, Ceiling: l.ceiling, Note: l.note,
		}
		if lr.Hist != nil {
			row.P50ms, row.P99ms = ms(lr.Hist.quantile(0.50)), ms(lr.Hist.quantile(0.99))
		}
		if l.custom == nil {
			if lr.Requests > 0 {
				row.CPUPerReqMs = ms(l.cpu) / float64(lr.Requests)
			}
			row.PeakRSSMiB = toMiB(l.peak)
			row.PeakAnonMiB = toMiB(l.peakAnon)
		}
		rr.Results = append(rr.Results, row)
	}
	// Ratios once every leg of the group is in.
	for _, l := range legs {
		r := rr.find(l.name)
		if c := rr.find(l.ceiling); c != nil && c.RPS > 0 {
			r.Ratio = r.RPS / c.RPS
		}
		e.log("%-30s %4d conns %9.1f req/s  p50 %8.3f ms  p99 %8.3f ms  ratio %.2f  errors %d %s",
			r.Scenario, r.Conns, r.RPS, r.P50ms, r.P99ms, r.Ratio, r.Errors, r.ErrorKinds)
	}
	return nil
}

// seededEnv makes a temporary directory for authd (prefix names it), seeds
// users and clients through the authd CLI, and returns the environment with
// authd not yet started. cleanup stops authd and removes the directory
// (kept with --keep).
func seededEnv(ctx context.Context, cfg *config, prefix string, logf func(string, ...any)) (e *env, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, nil, err
	}
	removeDir := func() { os.RemoveAll(dir) }
	if cfg.keep {
		logf("keeping %s", dir)
		removeDir = func() {}
	}
	a, err := newAuthd(cfg.authdBin, dir)
	if err != nil {
		removeDir()
		return nil, nil, err
	}
	cleanup = func() { a.stop(); removeDir() }
	e = &env{cfg: cfg, dir: dir, authd: a, log: logf}
	logf("seeding %d users and 2 clients through the authd CLI", cfg.users)
	if e.seed, err = a.seed(ctx, cfg.users); err != nil {
		cleanup()
		return nil, nil, err
	}
	e.appAuth = basicAuth(appClient, e.seed.appSecret)
	e.svcAuth = basicAuth(svcClient, e.seed.svcSecret)
	return e, cleanup, nil
}

// algRow names a row of the --signing-alg scenarios: the algorithm first,
// so that no row of it is taken for an RS256 one (refreshRow).
func algRow(alg, name string) string { return alg + " " + name }

// algRows measures authd started with --signing-alg alg, on its own fresh
// database, against a reference whose signatures are alg's: client_credentials
// against one signature, and the refresh grant at --conns against one
// signature and one batched durable write (issue 16's targets).
func algRows(ctx context.Context, cfg *config, rr *runResult, alg string, logf func(string, ...any)) error {
	e, cleanup, err := seededEnv(ctx, cfg, "authd-bench-"+strings.ToLower(alg)+"-", logf)
	if err != nil {
		return err
	}
	defer cleanup()
	e.authd.signingAlg = alg
	if err := e.authd.start(ctx); err != nil {
		return err
	}
	logf("authd --signing-alg %s pid %d ready in %v", alg, e.authd.pid(), e.authd.Startup.Round(time.Millisecond))
	base := client{http: newClient(cfg.conns, nil), base: e.authd.base}
	defer base.http.CloseIdleConnections()
	buf := make([]byte, 0, 8192)
	if err := base.get(ctx, "/.well-known/jwks.json", nil, http.StatusOK, &buf); err != nil {
		return fmt.Errorf("get JWKS: %w", err)
	}
	jwks := slices.Clone(buf)
	etag, err := headETag(ctx, base)
	if err != nil {
		return err
	}
	if err := base.get(ctx, "/.well-known/oauth-authorization-server", nil, http.StatusOK, &buf); err != nil {
		return fmt.Errorf("get metadata: %w", err)
	}
	if !strings.Contains(string(buf), `"`+alg+`"`) {
		return fmt.Errorf("authd --signing-alg %s: its metadata does not name %s: %s", alg, alg, truncate(string(buf), 300))
	}
	if e.ref, err = startRefProc(ctx, e.dir, jwks, etag, slices.Clone(buf), alg); err != nil {
		return fmt.Errorf("reference server: %w", err)
	}
	defer e.ref.stop()
	ref := client{http: newClient(cfg.conns, nil), base: e.ref.base}
	defer ref.http.CloseIdleConnections()
	micro, err := e.ref.micro(ctx, ref.http, 200)
	if err != nil {
		return fmt.Errorf("sign and commit costs: %w", err)
	}
	logf("one %s sign %v, one durable bbolt commit %v", alg, micro.Sign.Round(time.Microsecond), micro.Commit.Round(time.Microsecond))

	leg := func(name, kind string, conns int, mk func(int) (requestFunc, error), ceiling string) *leg {
		return &leg{name: name, kind: kind, conns: conns, mk: mk, ceiling: ceiling}
	}
	const refFormBody = "grant_type=refresh_token&refresh_token=authd_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	signRow := algRow(alg, "ceiling sign")
	if err := e.measureGroup(ctx, rr,
		leg(signRow, "ceiling", cfg.conns, refRequest(ref.http, http.MethodPost, ref.base+"/sign", "grant_type=client_credentials", e.svcAuth, 200), ""),
		leg(algRow(alg, "client_credentials"), "authd", cfg.conns, e.clientCredentialsWorker(base), signRow)); err != nil {
		return err
	}
	writeRow := algRow(alg, fmt.Sprintf("ceiling sign+write@%d", cfg.conns))
	return e.measureGroup(ctx, rr,
		leg(writeRow, "ceiling", cfg.conns, refRequest(ref.http, http.MethodPost, ref.base+"/sign-write", refFormBody, e.appAuth, 200), ""),
		leg(algRow(alg, fmt.Sprintf("refresh@%d", cfg.conns)), "authd", cfg.conns, e.refreshWorker(ctx, base), writeRow))
}
