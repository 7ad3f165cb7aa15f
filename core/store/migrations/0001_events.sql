-- Events: every accepted inbound request, exactly as received (minus secret
-- headers), with its normalised document and extracted fields.
-- Portable SQL: it runs unchanged on SQLite and PostgreSQL. Times are unix
-- microseconds (UTC) in BIGINT columns; JSON we generate is TEXT; raw request
-- bytes are BYTEA (SQLite stores them as blobs).
CREATE TABLE events (
    id              TEXT   NOT NULL PRIMARY KEY,
    account_id      TEXT   NOT NULL,
    trigger_id      TEXT   NOT NULL,
    context_id      TEXT   NOT NULL DEFAULT '',
    user_id         TEXT   NOT NULL DEFAULT '',
    brand_id        TEXT   NOT NULL DEFAULT '',
    query_json      TEXT   NOT NULL,
    headers_json    TEXT   NOT NULL,
    body            BYTEA  NOT NULL,
    normalized_body BYTEA  NOT NULL,
    fields_json     TEXT   NOT NULL,
    warnings_json   TEXT   NOT NULL,
    received_at     BIGINT NOT NULL,
    idempotency_key TEXT   NOT NULL DEFAULT '',
    replay_of       TEXT   NOT NULL DEFAULT ''
);

CREATE INDEX events_account_trigger_received ON events (account_id, trigger_id, received_at);

-- Idempotency keys: the unique constraint is what de-duplicates (across
-- nodes too, on PostgreSQL). A key older than the window may be reused: the
-- insert overwrites it (ON CONFLICT ... DO UPDATE ... WHERE expired).
CREATE TABLE idempotency_keys (
    account_id TEXT   NOT NULL,
    trigger_id TEXT   NOT NULL,
    idem_key   TEXT   NOT NULL,
    event_id   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, trigger_id, idem_key)
);
