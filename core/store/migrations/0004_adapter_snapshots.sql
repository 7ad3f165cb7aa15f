-- Adapter snapshots: the last known state of a vendor record, for adapters
-- that fill in partial updates (dynamics merge_snapshots). The key is built
-- by the adapter (trigger/entity/record id). A NULL doc is a key being
-- created; it reads as "no snapshot".
CREATE TABLE adapter_snapshots (
    snapshot_key TEXT   NOT NULL PRIMARY KEY,
    doc          BYTEA,
    updated_at   BIGINT NOT NULL
);
