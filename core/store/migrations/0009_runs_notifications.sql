-- The failure notifications of a run (one entry per channel and failure:
-- sent, retrying or failed, with the tries so far and the last error), so
-- the run's history says whether the account's admin was told. Written
-- only by the notification worker, under the row's lock; SaveRun never
-- names it, so a run worker's save, or an older node's, leaves it alone.
ALTER TABLE workflow_runs ADD COLUMN notifications_json TEXT NOT NULL DEFAULT '[]';
