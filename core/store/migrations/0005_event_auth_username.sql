-- The username half of the Basic auth an event came with ('' for
-- X-API-TOKEN): adapters put it in the normalised document, so a replay
-- needs it to normalise the event as it was (the Authorization header
-- itself is never stored).
ALTER TABLE events ADD COLUMN auth_username TEXT NOT NULL DEFAULT '';
