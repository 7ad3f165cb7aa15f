-- The event list (GET /v1/events, the admin page) pages by id, newest
-- first, for one trigger or for every trigger of an account. The index on
-- (account_id, trigger_id, received_at) could not give that order, and no
-- query reads received_at through it: each page read and sorted every event
-- of the account (or trigger), 0.35-0.9 s at 105,000 events, longer with
-- every event stored. This one gives a trigger's page its rows in order;
-- an account's page merges its triggers' pages (ListEvents). It replaces
-- the old index rather than adding one: each index on events costs a page
-- written per group commit. IF [NOT] EXISTS: an operator may build the
-- index beforehand (CREATE INDEX CONCURRENTLY on PostgreSQL, README), and
-- a rollback deletes only the step's row. The build comes first: on
-- PostgreSQL it keeps writers out while it runs, but dropping an index
-- locks out readers too, until the step commits.
CREATE INDEX IF NOT EXISTS events_account_trigger_id ON events (account_id, trigger_id, id);
DROP INDEX IF EXISTS events_account_trigger_received;
