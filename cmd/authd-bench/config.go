package main

import (
	"io"
	"slices"
	"time"
)

// config is one invocation's settings.
type config struct {
	authdBin  string
	scenarios []string
	runs      int
	short     bool
	jsonPath  string
	keep      bool
	out       io.Writer

	warmup        time.Duration
	duration      time.Duration
	conns         int
	passwordConns []int // a row each (issue 16)
	floodConns    int
	floodDuration time.Duration
	floodRefresh  int
	users         int
	revokePool    int
	scaleFamilies []int
	// slices is how many alternating rounds a measured group runs in.
	slices int
	// perfDir, if set, gets a perf profile of authd per measured group.
	perfDir string
	// sweepOnly: with --scale, only the server's background sweep run.
	sweepOnly bool
}

// allScenarios in the order they run.
var allScenarios = []string{"jwks", "jwks-304", "metadata", "client_credentials", "introspect", "refresh", "password", "code-exchange", "authcode-round", "login-flood", "revoke", "es256", "eddsa"}

func (c *config) wants(s string) bool { return slices.Contains(c.scenarios, s) }

func (c *config) setDefaults(duration, warmup time.Duration, conns int, pwConns []int, floodConns int, floodDur time.Duration) {
	if c.short {
		c.duration, c.warmup, c.conns, c.passwordConns = time.Second, 200*time.Millisecond, 4, []int{2, 4}
		c.floodConns, c.floodDuration, c.floodRefresh = 16, 2*time.Second, 2
		c.users, c.revokePool, c.slices = 2, 3000, 1
	} else {
		c.duration, c.warmup, c.conns, c.passwordConns = 10*time.Second, time.Second, 64, []int{2, 16, 64}
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
	if len(pwConns) > 0 {
		c.passwordConns = pwConns
	}
	if floodConns > 0 {
		c.floodConns = floodConns
	}
	if floodDur > 0 {
		c.floodDuration = floodDur
	}
}
