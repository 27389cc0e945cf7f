package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd/authd/storage/bolt"
)

// boltCollector exports the database's size and transaction statistics.
type boltCollector struct {
	db                                                  *bolt.DB
	size, writes, commits, commitSec, commitMax, readTx *prometheus.Desc
	slowCommits                                         *prometheus.Desc
	openReadTx, freePages                               *prometheus.Desc
}

func newBoltCollector(db *bolt.DB) *boltCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &boltCollector{
		db:          db,
		size:        d("authd_db_size_bytes", "Size of the database file."),
		writes:      d("authd_db_writes_total", "Write operations committed (several share one transaction)."),
		commits:     d("authd_db_commits_total", "Write transactions, each one fsync."),
		commitSec:   d("authd_db_commit_seconds_total", "Time write transactions held the write lock, fsync included."),
		commitMax:   d("authd_db_commit_max_seconds", "Longest single write-lock hold since start."),
		slowCommits: d("authd_db_slow_commits_total", "Write transactions that held the write lock longer than 50 ms, fsync included."),
		readTx:      d("authd_db_read_transactions_total", "Read transactions started."),
		openReadTx:  d("authd_db_open_read_transactions", "Read transactions open now."),
		freePages:   d("authd_db_free_pages", "Pages on the database's free list."),
	}
}

func (c *boltCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.size, c.writes, c.commits, c.commitSec, c.commitMax, c.slowCommits, c.readTx, c.openReadTx, c.freePages} {
		ch <- d
	}
}

func (c *boltCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(st.FileSize))
	ch <- prometheus.MustNewConstMetric(c.writes, prometheus.CounterValue, float64(st.Writes))
	ch <- prometheus.MustNewConstMetric(c.commits, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(c.commitSec, prometheus.CounterValue, st.CommitTime.Seconds())
	ch <- prometheus.MustNewConstMetric(c.commitMax, prometheus.GaugeValue, st.CommitMax.Seconds())
	ch <- prometheus.MustNewConstMetric(c.slowCommits, prometheus.CounterValue, float64(st.SlowCommits))
	ch <- prometheus.MustNewConstMetric(c.readTx, prometheus.CounterValue, float64(st.ReadTx))
	ch <- prometheus.MustNewConstMetric(c.openReadTx, prometheus.GaugeValue, float64(st.OpenReadTx))
	ch <- prometheus.MustNewConstMetric(c.freePages, prometheus.GaugeValue, float64(st.FreePages))
}
