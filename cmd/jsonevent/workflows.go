package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/store"
	"github.com/jsonevent/jsonevent/core/workflow"
)

// workflows is serve's workflow engine: it plans the jobs of accepted
// events (in the event's transaction), works them with river, and serves
// the run, ticket and replay routes through the receiver.
type workflows struct {
	engine *workflow.Engine
	// registry carries the receiver's and the engine's metrics (/metrics).
	registry *prometheus.Registry
	log      *slog.Logger
}

// newWorkflows compiles cfg's workflows and returns the store options
// (river's workers and queue settings) the store must be opened with.
func newWorkflows(cfg *config.Config, log *slog.Logger) (*workflows, store.Options, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eng, err := workflow.NewEngine(cfg, workflow.EngineOptions{Log: log, Metrics: workflow.NewMetrics(reg)})
	if err != nil {
		return nil, store.Options{}, err
	}
	rc, err := eng.RiverConfig(cfg.Queue)
	if err != nil {
		return nil, store.Options{}, err
	}
	return &workflows{engine: eng, registry: reg, log: log}, store.Options{River: rc}, nil
}

// start attaches the opened store and starts working jobs, including any
// left unfinished by a previous process.
func (w *workflows) start(ctx context.Context, st *store.Store) error {
	w.engine.Attach(st)
	if err := w.engine.RegisterQueueDepth(w.registry); err != nil {
		return fmt.Errorf("queue depth metric: %w", err)
	}
	// Not ctx: a signal must not cancel running attempts; stop drains them.
	if err := st.Queue().Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start the workflow queue: %w", err)
	}
	return nil
}

// apply is the config reload hook for the engine.
func (w *workflows) apply(cfg *config.Config) { w.engine.Apply(cfg) }

// stopCancelGrace is how long running workflow attempts get to end once
// cancelled at shutdown (their outcome is recorded; river retries them).
const stopCancelGrace = 5 * time.Second

// stop lets running workflow attempts finish (until timeout, then cancels
// them: they are retried after a restart, resuming at their first
// unfinished task) and stops the engine's writer; the store closes after.
func (w *workflows) stop(st *store.Store, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := st.Queue().Stop(ctx); err != nil {
		w.log.Warn("workflow queue did not stop in time; cancelling running attempts", "err", err)
		cctx, ccancel := context.WithTimeout(context.Background(), stopCancelGrace)
		_ = st.Queue().StopAndCancel(cctx)
		ccancel()
	}
	w.engine.Close()
}
