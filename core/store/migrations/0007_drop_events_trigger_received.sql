-- The second half of 0006: the index on (account_id, trigger_id,
-- received_at) that 0006 replaced. A step of its own, so that waiting for
-- the table's exclusive lock (which readers hold off) never throws away
-- 0006's build. IF EXISTS: a rollback deletes only the step's row.
DROP INDEX IF EXISTS events_account_trigger_received;
