package store

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// storeMetrics are the store's Prometheus series, for an operator judging
// the disk: how many events a group commit carries, how long the fsync
// that makes them durable takes, and whether the store still accepts
// writes (an SQLite store stops for good after a failed fsync or when its
// database file is removed; see sqliteBackend.failed).
type storeMetrics struct {
	fsync  prometheus.Histogram
	group  prometheus.Histogram
	pruned prometheus.Counter
}

func newStoreMetrics() *storeMetrics {
	return &storeMetrics{
		group: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jsonevent_store_group_commit_events",
			Help:    "Requests committed together in one transaction (group commit), duplicates included.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jsonevent_store_fsync_seconds",
			Help:    "Time of each fsync that makes committed events durable (SQLite).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jsonevent_store_events_pruned_total",
			Help: "Events deleted by this node for being older than store.retention (with their workflow runs).",
		}),
	}
}

// Collectors returns the store's metrics, for the registry that serves
// /metrics.
func (s *Store) Collectors() []prometheus.Collector {
	writable := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jsonevent_store_writable",
		Help: "1 while the store accepts writes; 0 once it has stopped for good (a failed fsync, its database file removed): restart the node.",
	}, func() float64 {
		if s.stopped() {
			return 0
		}
		return 1
	})
	return []prometheus.Collector{s.m.group, s.m.fsync, s.m.pruned, writable}
}

// stopped reports whether the backend refuses every write until a restart.
func (s *Store) stopped() bool {
	st, ok := s.b.(interface{ stoppedErr() error })
	return ok && st.stoppedErr() != nil
}

func (m *storeMetrics) observeFsync(start time.Time) {
	m.fsync.Observe(time.Since(start).Seconds())
}
