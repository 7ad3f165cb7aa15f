package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Notification outcomes, as a run's history shows them.
const (
	NotifySent     = "sent"     // delivered
	NotifyRetrying = "retrying" // the last try failed; river tries again
	NotifyFailed   = "failed"   // given up: the failure was never told there
)

// RunNotification is what became of one failure notification of a run on
// one channel (the account's notify.webhook or notify.email).
type RunNotification struct {
	Channel string `json:"channel"`
	Status  string `json:"status"`
	// RunAttempts is the run's attempt count when it failed: a run retried
	// by hand that fails again is notified again, under a new entry.
	RunAttempts int `json:"runAttempts"`
	// Attempts is how many times the notification was tried so far.
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
	// At is when the latest try ended.
	At time.Time `json:"at"`
}

// RecordNotification records n on run runID: it replaces the entry of the
// same channel and run failure, or adds one. Two notifications of a run
// (webhook and e-mail, perhaps on two nodes) each write their own entry
// without losing the other's: the read and the write share one
// transaction, under the row's lock on PostgreSQL (SQLite has a single
// writer). A try older than the one recorded changes nothing, and neither
// does a run that no longer exists (removed by retention).
//
// It is its own transaction, not a group commit: a lock wait must not hold
// back the run updates batched with it.
func (s *Store) RecordNotification(ctx context.Context, runID string, n RunNotification) error {
	lock := ""
	if s.Driver() == "postgres" {
		lock = " FOR UPDATE"
	}
	n.At = n.At.UTC()
	n.Error = Portable(n.Error)
	return s.Write(ctx, func(tx Tx) error {
		var raw string
		err := tx.QueryRow(ctx, `SELECT notifications_json FROM workflow_runs WHERE id = $1`+lock, runID).Scan(&raw)
		if errors.Is(err, ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read run %s notifications: %w", runID, err)
		}
		var list []*RunNotification
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			return fmt.Errorf("decode run %s notifications: %w", runID, err)
		}
		found := false
		for i, old := range list {
			if old.Channel != n.Channel || old.RunAttempts != n.RunAttempts {
				continue
			}
			if old.Attempts > n.Attempts {
				return nil
			}
			list[i], found = &n, true
		}
		if !found {
			list = append(list, &n)
		}
		out, err := json.Marshal(list)
		if err != nil {
			return fmt.Errorf("encode run %s notifications: %w", runID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE workflow_runs SET notifications_json = $1 WHERE id = $2`, string(out), runID); err != nil {
			return fmt.Errorf("record run %s notification: %w", runID, err)
		}
		return nil
	})
}
