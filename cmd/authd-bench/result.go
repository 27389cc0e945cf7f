package main

import (
	"time"
)

// result is one measured row.
type result struct {
	Scenario string `json:"scenario"`
	// Kind is "authd" or "ceiling".
	Kind       string  `json:"kind"`
	Conns      int     `json:"connections"`
	Requests   uint64  `json:"requests"`
	RPS        float64 `json:"requests_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Errors     uint64  `json:"errors"`
	ErrorKinds string  `json:"error_kinds,omitempty"`
	// Ceiling names the row this one is measured against, and Ratio is
	// RPS / that row's RPS.
	Ceiling     string  `json:"ceiling,omitempty"`
	Ratio       float64 `json:"ratio,omitempty"`
	CPUPerReqMs float64 `json:"server_cpu_per_req_ms,omitempty"`
	PeakRSSMiB  float64 `json:"server_peak_rss_mib,omitempty"`
	// PeakAnonMiB is the anonymous part of the peak (heap, stacks), without
	// the pages of the memory-mapped database file.
	PeakAnonMiB float64 `json:"server_peak_anon_rss_mib,omitempty"`
	Truncated   bool    `json:"truncated,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// runResult is everything one run measured.
type runResult struct {
	Results      []result  `json:"results"`
	IdleRSSMiB   float64   `json:"idle_rss_mib"`
	HWMMiB       float64   `json:"server_vmhwm_mib"`
	StartupMs    float64   `json:"startup_ms"`
	SignMs       float64   `json:"sign_ms"`
	CommitMs     float64   `json:"durable_commit_ms"`
	HashSlots    int       `json:"concurrent_hashes"`
	Flood        *floodSum `json:"login_flood,omitempty"`
	DBBytes      int64     `json:"db_bytes_after"`
	RevokePoolSz int       `json:"revoke_pool"`
}

// floodSum is the login-flood summary (issue 4).
type floodSum struct {
	Rejected        uint64  `json:"rejected_invalid_grant"`
	Throttled       uint64  `json:"throttled_429"`
	Busy            uint64  `json:"busy_503"`
	ValidOK         uint64  `json:"valid_logins_ok"`
	ValidFailed     uint64  `json:"valid_logins_failed"`
	RefreshP99Base  float64 `json:"refresh_p99_unloaded_ms"`
	RefreshP99Flood float64 `json:"refresh_p99_flood_ms"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
}

func (r *runResult) find(name string) *result {
	for i := range r.Results {
		if r.Results[i].Scenario == name {
			return &r.Results[i]
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func toMiB(b int64) float64 { return float64(b) / (1 << 20) }
