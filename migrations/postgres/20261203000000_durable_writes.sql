-- Durable writes (outbox): records that waited in the host's local outbox are
-- applied later, possibly twice after a crash, so every money write is keyed
-- by our own ids and applying one again changes nothing.

-- An intent is named by the host (not only by its row id), so an exit or a
-- repair written while the database was away can be applied, and closed, later.
ALTER TABLE intents ADD COLUMN intent_key TEXT;
UPDATE intents SET intent_key = 'legacy-' || id WHERE intent_key IS NULL;
CREATE UNIQUE INDEX intents_key ON intents (intent_key);

-- One PnL snapshot per instant: a replayed snapshot is not a second one.
DROP INDEX pnl_snapshots_ts;
CREATE UNIQUE INDEX pnl_snapshots_ts ON pnl_snapshots (ts);
