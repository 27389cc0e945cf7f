package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// loginFlood is issue 4's scenario: many connections send wrong passwords
// from one address while, from another, a few workers refresh and one user
// logs in every 200 ms. Refresh latency is measured without the flood
// first, with the same workers.
func (e *env) loginFlood(ctx context.Context, rr *runResult, base client) error {
	cfg := e.cfg
	fs := &floodSum{}
	rr.Flood = fs
	rspec := loadSpec{Conns: cfg.floodRefresh, Warmup: cfg.warmup, Duration: cfg.duration}
	lr, err := runLoad(ctx, rspec, e.refreshWorker(ctx, base), nil, nil)
	if err != nil {
		return err
	}
	fs.RefreshP99Base = ms(lr.Hist.quantile(0.99))
	rr.Results = append(rr.Results, result{Scenario: "flood: refresh, no flood", Kind: "authd", Conns: rspec.Conns, Requests: lr.Requests, RPS: lr.RPS(),
		P50ms: ms(lr.Hist.quantile(0.5)), P99ms: fs.RefreshP99Base, Errors: lr.Errors, ErrorKinds: lr.errorSummary()})
	e.log("%-26s %4d conns %9.0f req/s  p99 %7.3f ms  errors %d", "flood: refresh, no flood", rspec.Conns, lr.RPS(), fs.RefreshP99Base, lr.Errors)

	attacker := client{http: newClient(cfg.floodConns, attackerIP), base: base.base}
	defer attacker.http.CloseIdleConnections()
	st := &floodStats{}
	fspec := loadSpec{Conns: cfg.floodConns, Warmup: cfg.warmup, Duration: cfg.floodDuration}
	// Prepare the refresh workers (one login each) before the flood starts.
	var refreshFns []requestFunc
	mk := e.refreshWorker(ctx, base)
	for i := range cfg.floodRefresh {
		fn, err := mk(i)
		if err != nil {
			return err
		}
		refreshFns = append(refreshFns, fn)
	}
	p := newProbe(e.authd.pid())
	var (
		wg                    sync.WaitGroup
		attackRes, refreshRes loadResult
		validRes              loadResult
		errA, errR, errV      error
		refused               atomic.Uint64
	)
	wg.Go(func() {
		attackRes, errA = runLoad(ctx, fspec, e.attackWorker(attacker, st), p.begin, p.end)
	})
	wg.Go(func() {
		refreshRes, errR = runLoad(ctx, loadSpec{Conns: cfg.floodRefresh, Warmup: fspec.Warmup, Duration: fspec.Duration},
			func(i int) (requestFunc, error) { return refreshFns[i], nil }, nil, nil)
	})
	wg.Go(func() {
		validRes, errV = runLoad(ctx, loadSpec{Conns: 1, Warmup: fspec.Warmup, Duration: fspec.Duration, Pause: 200 * time.Millisecond},
			e.validLoginWorker(base, &refused), nil, nil)
	})
	wg.Wait()
	cpu, peak := p.finish()
	peakAnon := p.peakAnon()
	if err := errors.Join(errA, errR, errV); err != nil {
		return err
	}
	fs.Rejected, fs.Throttled, fs.Busy = st.rejected.Load(), st.throttled.Load(), st.busy.Load()
	fs.ValidOK, fs.ValidFailed = validRes.Requests, refused.Load()
	fs.RefreshP99Flood = ms(refreshRes.Hist.quantile(0.99))
	fs.PeakRSSMiB = toMiB(peak)
	attackRow := result{Scenario: "flood: wrong passwords", Kind: "authd", Conns: fspec.Conns, Requests: attackRes.Requests, RPS: attackRes.RPS(),
		P50ms: ms(attackRes.Hist.quantile(0.5)), P99ms: ms(attackRes.Hist.quantile(0.99)), Errors: attackRes.Errors, ErrorKinds: attackRes.errorSummary(),
		PeakRSSMiB: fs.PeakRSSMiB, PeakAnonMiB: toMiB(peakAnon),
		Note: fmt.Sprintf("from %s: %d invalid_grant, %d throttled (429), %d busy (503)", attackerIP, fs.Rejected, fs.Throttled, fs.Busy)}
	if attackRes.Requests > 0 {
		attackRow.CPUPerReqMs = ms(cpu) / float64(attackRes.Requests)
	}
	rr.Results = append(rr.Results,
		attackRow,
		result{Scenario: "flood: refresh, in flood", Kind: "authd", Conns: cfg.floodRefresh, Requests: refreshRes.Requests, RPS: refreshRes.RPS(),
			P50ms: ms(refreshRes.Hist.quantile(0.5)), P99ms: fs.RefreshP99Flood, Errors: refreshRes.Errors, ErrorKinds: refreshRes.errorSummary()},
		result{Scenario: "flood: valid logins", Kind: "authd", Conns: 1, Requests: validRes.Requests, RPS: validRes.RPS(),
			P50ms: ms(validRes.Hist.quantile(0.5)), P99ms: ms(validRes.Hist.quantile(0.99)), Errors: validRes.Errors, ErrorKinds: validRes.errorSummary(),
			Note: fmt.Sprintf("one login every 200 ms from 127.0.0.1: %d ok in the window, %d refused (429/503) over the run", fs.ValidOK, fs.ValidFailed)},
	)
	e.log("%-26s %4d conns %9.0f req/s  %s  peak RSS %.1f MiB, errors %d %s", "flood: wrong passwords", fspec.Conns, attackRes.RPS(), attackRow.Note, fs.PeakRSSMiB, attackRes.Errors, attackRes.errorSummary())
	e.log("%-26s %4d conns %9.0f req/s  p99 %7.3f ms (unloaded %.3f ms)  errors %d %s", "flood: refresh, in flood", cfg.floodRefresh, refreshRes.RPS(), fs.RefreshP99Flood, fs.RefreshP99Base, refreshRes.Errors, refreshRes.errorSummary())
	e.log("%-26s %4d conns  ok %d, failed %d %s", "flood: valid logins", 1, fs.ValidOK, fs.ValidFailed, validRes.errorSummary())
	return nil
}

// validLoginWorker logs in with the right password during the flood. A
// 429 or 503 is a refused login, which the flood summary counts (the target
// is that none happens); it is not an error of the tool or the server.
func (e *env) validLoginWorker(c client, refused *atomic.Uint64) func(int) (requestFunc, error) {
	return func(i int) (requestFunc, error) {
		body := passwordForm(e.seed.users[0], passwordOf(0))
		buf := make([]byte, 0, 4096)
		return func(ctx context.Context) error {
			err := c.post(ctx, "/token", body, e.appAuth, http.StatusOK, &buf)
			var se *statusError
			if errors.As(err, &se) && (se.code == http.StatusTooManyRequests || se.code == http.StatusServiceUnavailable) {
				refused.Add(1)
				return errRefused
			}
			return err
		}, nil
	}
}

// errRefused marks a refused valid login; runLoad does not count it.
var errRefused = errors.New("login refused")

// floodStats counts the attackers' answers by status.
type floodStats struct {
	rejected  atomic.Uint64 // 400/401 invalid_grant: hashed and refused
	throttled atomic.Uint64 // 429
	busy      atomic.Uint64 // 503
}

// attackWorker sends wrong passwords, alternating between the seeded users'
// names and unknown names, from its own loopback address. 400, 429 and 503
// are the answers a defended server gives; anything else is an error.
func (e *env) attackWorker(c client, st *floodStats) func(int) (requestFunc, error) {
	return func(i int) (requestFunc, error) {
		buf := make([]byte, 0, 1024)
		n := 0
		return func(ctx context.Context) error {
			n++
			user := fmt.Sprintf("nobody-%d-%d", i, n)
			if n%2 == 0 {
				user = e.seed.users[(i+n)%len(e.seed.users)]
			}
			err := c.post(ctx, "/token", passwordForm(user, fmt.Sprintf("wrong-%d-%d", i, n)), e.appAuth, http.StatusOK, &buf)
			var se *statusError
			if !errors.As(err, &se) {
				if err == nil {
					return errors.New("a wrong password was accepted")
				}
				return err
			}
			switch se.code {
			case http.StatusBadRequest:
				if oauthErrorCode(buf) != "invalid_grant" {
					return err
				}
				st.rejected.Add(1)
			case http.StatusTooManyRequests:
				st.throttled.Add(1)
			case http.StatusServiceUnavailable:
				st.busy.Add(1)
			default:
				return err
			}
			return nil
		}, nil
	}
}

// attackerIP is the loopback address the login flood comes from, so that a
// server's per-address throttling tells the attacker from the legitimate
// users on 127.0.0.1.
var attackerIP = net.IPv4(127, 0, 0, 2)
