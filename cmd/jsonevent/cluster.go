package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jsonevent/jsonevent/core/capture"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
)

// What serve does differently when several nodes share a PostgreSQL store.

// newLimiter returns the per-token rate limiter for st: on PostgreSQL one
// shared by every node on the database (so N nodes together admit a token's
// requests_per_minute once, not N times), on SQLite, where there is only one
// node, an in-process one.
func newLimiter(ctx context.Context, st *store.Store) (limit.Limiter, error) {
	if pool := st.PgxPool(); pool != nil {
		lim, err := limit.NewPostgres(ctx, pool)
		if err != nil {
			return nil, fmt.Errorf("shared rate limiter: %w", err)
		}
		return lim, nil
	}
	return limit.NewMemory(), nil
}

// captureRefresh is how often a node on PostgreSQL picks up the capture
// sessions and adopted fields that other nodes opened, closed or adopted.
const captureRefresh = time.Second

// syncCapture keeps capt in step with the other nodes sharing st until ctx
// ends. On SQLite there is one node and it returns at once.
func syncCapture(ctx context.Context, capt *capture.Service, st *store.Store, log *slog.Logger) {
	if st.Driver() != "postgres" {
		return
	}
	tick := time.NewTicker(captureRefresh)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := capt.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			log.Warn("cannot refresh capture sessions and adopted fields from the store; other nodes' changes are not seen until it recovers", "err", err)
		case err == nil && failing:
			failing = false
			log.Info("capture sessions and adopted fields refresh again from the store")
		}
	}
}
