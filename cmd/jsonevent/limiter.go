package main

import (
	"context"
	"fmt"

	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
)

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
