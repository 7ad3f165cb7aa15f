-- Capture sessions, captured requests and adopted fields (issue 5).
-- A capture session records the next `count` authenticated requests to a
-- trigger until expires_at; closed_at is set when it is closed early or
-- fills up. Times are unix microseconds; 0 means not yet.
CREATE TABLE capture_sessions (
    id          TEXT   NOT NULL PRIMARY KEY,
    account_id  TEXT   NOT NULL,
    trigger_id  TEXT   NOT NULL,
    count       BIGINT NOT NULL,
    captured    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    closed_at   BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX capture_sessions_trigger ON capture_sessions (trigger_id, id);

-- Captured requests, secrets redacted, with the status we answered and why,
-- and the field suggestions of a JSON body. At most a few per trigger are
-- kept (the writer prunes), and each expires.
CREATE TABLE captures (
    id               TEXT   NOT NULL PRIMARY KEY,
    session_id       TEXT   NOT NULL,
    account_id       TEXT   NOT NULL,
    trigger_id       TEXT   NOT NULL,
    received_at      BIGINT NOT NULL,
    method           TEXT   NOT NULL,
    query_json       TEXT   NOT NULL,
    headers_json     TEXT   NOT NULL,
    body             BYTEA  NOT NULL,
    body_truncated   BIGINT NOT NULL DEFAULT 0,
    status           BIGINT NOT NULL,
    error_code       TEXT   NOT NULL DEFAULT '',
    reason           TEXT   NOT NULL DEFAULT '',
    event_id         TEXT   NOT NULL DEFAULT '',
    suggestions_json TEXT   NOT NULL,
    expires_at       BIGINT NOT NULL
);

CREATE INDEX captures_trigger ON captures (trigger_id, id);

-- Fields adopted through the API (from a capture's suggestions, origin
-- "captured", or typed by hand, origin "manual"). They add to the fields of
-- the trigger's config.
CREATE TABLE adopted_fields (
    account_id TEXT   NOT NULL,
    trigger_id TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    path       TEXT   NOT NULL,
    origin     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (trigger_id, name)
);
