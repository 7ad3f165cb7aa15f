-- The run and ticket lists filtered by trigger (the admin page's trigger
-- view, GET /v1/runs?trigger=, GET /v1/tickets?trigger=) read the
-- account's rows newest first until a page of the trigger's had turned up:
-- every row of the account for a quiet trigger (10-110 ms at 35,000 runs in
-- the soak test, growing with every run). These give a trigger's page its
-- rows in order. Neither table is written on the event path; a run row is
-- written per attempt and a ticket once, so the extra index costs little.
CREATE INDEX IF NOT EXISTS workflow_runs_account_trigger_id ON workflow_runs (account_id, trigger_id, id);
CREATE INDEX IF NOT EXISTS tickets_account_trigger_id ON tickets (account_id, trigger_id, id);
