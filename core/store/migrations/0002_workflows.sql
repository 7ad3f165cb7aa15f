-- Workflow runs: one row per (event, workflow), written by the workflow
-- worker. tasks_json holds each finished task's result (outputs and what
-- was recorded), so a retry resumes at the first unfinished task;
-- attempts_json holds every attempt with its error. Times are unix
-- microseconds; 0 means not yet.
CREATE TABLE workflow_runs (
    id            TEXT   NOT NULL PRIMARY KEY,
    event_id      TEXT   NOT NULL,
    account_id    TEXT   NOT NULL,
    trigger_id    TEXT   NOT NULL,
    workflow_id   TEXT   NOT NULL,
    job_id        BIGINT NOT NULL DEFAULT 0,
    status        TEXT   NOT NULL,
    skipped_by    TEXT   NOT NULL DEFAULT '',
    error         TEXT   NOT NULL DEFAULT '',
    failed_task   TEXT   NOT NULL DEFAULT '',
    attempt_count BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL DEFAULT 0,
    tasks_json    TEXT   NOT NULL DEFAULT '{}',
    attempts_json TEXT   NOT NULL DEFAULT '[]',
    next_at       BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX workflow_runs_event ON workflow_runs (event_id);
CREATE INDEX workflow_runs_account_id ON workflow_runs (account_id, id);
CREATE INDEX workflow_runs_account_status ON workflow_runs (account_id, status, id);

-- Tickets opened by ticket tasks. (event_id, workflow_id, task_id) is
-- unique: a retried task finds the ticket it already opened.
CREATE TABLE tickets (
    id          TEXT   NOT NULL PRIMARY KEY,
    account_id  TEXT   NOT NULL,
    trigger_id  TEXT   NOT NULL,
    event_id    TEXT   NOT NULL,
    workflow_id TEXT   NOT NULL,
    task_id     TEXT   NOT NULL,
    title       TEXT   NOT NULL,
    description TEXT   NOT NULL,
    priority    TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    assignee    TEXT   NOT NULL DEFAULT '',
    fields_json TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE UNIQUE INDEX tickets_origin ON tickets (event_id, workflow_id, task_id);
CREATE INDEX tickets_account_id ON tickets (account_id, id);
