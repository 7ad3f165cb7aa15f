package receiver

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the receiver's Prometheus series. Trigger labels only ever
// hold configured trigger ids (anything else is "unknown"), so a caller
// cannot blow up the label cardinality.
type metrics struct {
	requests   *prometheus.CounterVec   // by trigger and status
	latency    *prometheus.HistogramVec // by route
	stored     prometheus.Counter
	duplicates prometheus.Counter
	rejections *prometheus.CounterVec // by reason (error code)
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jsonevent_http_requests_total",
			Help: "Inbound event requests by trigger and HTTP status.",
		}, []string{"trigger", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jsonevent_http_request_duration_seconds",
			Help:    "Time from request start to reply, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jsonevent_events_stored_total",
			Help: "Events committed to the store.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jsonevent_events_duplicate_total",
			Help: "Requests answered with an earlier event's id (Idempotency-Key or delivery id).",
		}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jsonevent_rejections_total",
			Help: "Refused requests by reason (the error code sent).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.requests, m.latency, m.stored, m.duplicates, m.rejections)
	return m
}

// newRegistry is a private registry with the Go and process collectors, so
// several servers (tests) never collide on the global one.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func statusLabel(s int) string { return strconv.Itoa(s) }
