package store

import (
	"context"

	"fmt"
	"time"

	"github.com/jsonevent/jsonevent/core"
)

var _ core.SnapshotStore = (*Store)(nil)

// maxSnapshotKey bounds a snapshot key (core.SnapshotStore promises 512).
const maxSnapshotKey = 512

// UpdateSnapshot implements core.SnapshotStore durably: it reads the
// document stored under key (nil when there is none), calls fn with it and
// stores what fn returns, deleting the key when fn returns nil, all in one
// transaction. The row is locked first (an upsert that changes nothing), so
// concurrent updates of one key serialise on PostgreSQL as they do on
// SQLite's single writer. An error from fn is returned unchanged and
// nothing is written; a database failure is a *core.Error unavailable.
func (s *Store) UpdateSnapshot(ctx context.Context, key string, fn func(prev []byte) (next []byte, err error)) error {
	if key == "" || len(key) > maxSnapshotKey {
		return fmt.Errorf("snapshot key of %d bytes: want 1 to %d", len(key), maxSnapshotKey)
	}
	var fnErr error
	err := s.b.write(ctx, func(tx Tx) error {
		now := time.Now().UnixMicro()
		if _, err := tx.Exec(ctx, `INSERT INTO adapter_snapshots (snapshot_key, doc, updated_at) VALUES ($1, NULL, $2)
ON CONFLICT (snapshot_key) DO UPDATE SET updated_at = adapter_snapshots.updated_at`, key, now); err != nil {
			return fmt.Errorf("lock snapshot: %w", err)
		}
		var prev []byte
		if err := tx.QueryRow(ctx, `SELECT doc FROM adapter_snapshots WHERE snapshot_key = $1`, key).Scan(&prev); err != nil {
			return fmt.Errorf("read snapshot: %w", err)
		}
		if len(prev) == 0 {
			prev = nil
		}
		var next []byte
		next, fnErr = fn(prev)
		if fnErr != nil {
			return fnErr
		}
		if next == nil {
			_, err := tx.Exec(ctx, `DELETE FROM adapter_snapshots WHERE snapshot_key = $1`, key)
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE adapter_snapshots SET doc = $2, updated_at = $3 WHERE snapshot_key = $1`, key, next, now)
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return unavailable(fmt.Errorf("update snapshot %q: %w", key, err))
	}
	return nil
}
