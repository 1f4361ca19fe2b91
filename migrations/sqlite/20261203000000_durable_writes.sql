-- Durable writes (outbox): see ../postgres/20261203000000_durable_writes.sql.

ALTER TABLE intents ADD COLUMN intent_key TEXT;
UPDATE intents SET intent_key = 'legacy-' || id WHERE intent_key IS NULL;
CREATE UNIQUE INDEX intents_key ON intents (intent_key);

DROP INDEX pnl_snapshots_ts;
CREATE UNIQUE INDEX pnl_snapshots_ts ON pnl_snapshots (ts);
