package workflow

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus series. Labels hold only configured
// trigger and workflow ids and fixed words, so cardinality stays bounded.
type Metrics struct {
	runs          *prometheus.CounterVec   // trigger, workflow, status
	retries       *prometheus.CounterVec   // trigger, workflow
	taskLatency   *prometheus.HistogramVec // type, outcome
	notifications *prometheus.CounterVec   // channel, outcome
}

// NewMetrics builds the series and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jsonevent_workflow_runs_total",
			Help: "Workflow run outcomes by trigger, workflow and status (succeeded, skipped, retrying, failed).",
		}, []string{"trigger", "workflow", "status"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jsonevent_workflow_retries_total",
			Help: "Workflow attempts after the first, by trigger and workflow.",
		}, []string{"trigger", "workflow"}),
		taskLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jsonevent_workflow_task_duration_seconds",
			Help:    "Time one task attempt took, by task type and outcome (ok, retryable, permanent).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"type", "outcome"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jsonevent_workflow_notifications_total",
			Help: "Failure notifications by channel (webhook, email) and outcome (ok, error).",
		}, []string{"channel", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.retries, m.taskLatency, m.notifications)
	}
	return m
}

// RegisterQueueDepth adds a gauge of the jobs waiting in the queue, read
// from the store when scraped.
func (e *Engine) RegisterQueueDepth(reg prometheus.Registerer) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jsonevent_workflow_queue_depth",
		Help: "River jobs waiting to be worked (available, scheduled or retryable).",
	}, func() float64 {
		if e.st == nil {
			return 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := e.st.QueueDepth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

func (m *Metrics) run(wf *Workflow, status string) {
	m.runs.WithLabelValues(wf.TriggerID, wf.ID, status).Inc()
}

func (m *Metrics) retry(wf *Workflow) {
	m.retries.WithLabelValues(wf.TriggerID, wf.ID).Inc()
}

func (m *Metrics) task(typ string, err error, d time.Duration) {
	outcome := "ok"
	switch {
	case err == nil:
	case IsPermanent(err):
		outcome = "permanent"
	default:
		outcome = "retryable"
	}
	m.taskLatency.WithLabelValues(typ, outcome).Observe(d.Seconds())
}

func (m *Metrics) notification(channel string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.notifications.WithLabelValues(channel, outcome).Inc()
}
