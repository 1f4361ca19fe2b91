-- Arbytron schema, SQLite flavour (keep in step with ../postgres/).
--
-- STRICT tables: a value of the wrong type is refused, as PostgreSQL would.
-- INTEGER is SQLite's 64-bit integer; booleans are INTEGER 0/1.
--
-- Money, prices and quantities are INTEGER millionths (Money/Price/Qty micros),
-- timestamps INTEGER Unix milliseconds, structured extras JSON text. No floats.

CREATE TABLE venues (
    name TEXT NOT NULL PRIMARY KEY
) STRICT;
INSERT INTO venues (name) VALUES ('kalshi'), ('polymarket-clob'), ('polymarket-amm');

CREATE TABLE markets (
    venue              TEXT    NOT NULL REFERENCES venues (name),
    symbol             TEXT    NOT NULL,
    event              TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    outcome            TEXT    NOT NULL,
    rules              TEXT    NOT NULL,
    closes_at          INTEGER NOT NULL,
    mutually_exclusive INTEGER NOT NULL CHECK (mutually_exclusive IN (0, 1)),
    status             TEXT    NOT NULL CHECK (status IN
                           ('unopened', 'open', 'paused', 'closed', 'settled-yes', 'settled-no', 'settled-void')),
    fee                TEXT    NOT NULL,
    tick               INTEGER NOT NULL CHECK (tick BETWEEN 0 AND 1000000),
    min_qty            INTEGER NOT NULL CHECK (min_qty >= 0),
    refs               TEXT    NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (venue, symbol)
) STRICT;
CREATE INDEX markets_event ON markets (venue, event);

CREATE TABLE links (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    source         TEXT    NOT NULL,
    -- sha256 of the outcomes JSON: the same link from the same source is one row.
    fingerprint    TEXT    NOT NULL,
    outcomes       TEXT    NOT NULL,
    confidence_ppm INTEGER NOT NULL CHECK (confidence_ppm BETWEEN 0 AND 1000000),
    reasons        TEXT    NOT NULL,
    approved       INTEGER NOT NULL CHECK (approved IN (0, 1)),
    created_at     INTEGER NOT NULL,
    UNIQUE (source, fingerprint)
) STRICT;

CREATE TABLE strategy_versions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name      TEXT   NOT NULL,
    version   TEXT   NOT NULL,
    hash      TEXT   NOT NULL,
    file      TEXT   NOT NULL,
    loaded_at INTEGER NOT NULL,
    result    TEXT   NOT NULL CHECK (result <> ''),
    reason    TEXT   NOT NULL
) STRICT;
CREATE INDEX strategy_versions_name ON strategy_versions (name, loaded_at);

CREATE TABLE bundles (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    strategy        TEXT   NOT NULL,
    link_id         INTEGER NOT NULL REFERENCES links (id),
    status          TEXT   NOT NULL CHECK (status IN
                        ('pending', 'open', 'repairing', 'closing', 'closed', 'settled', 'failed')),
    quantity        INTEGER NOT NULL,
    cost            INTEGER NOT NULL,
    fees            INTEGER NOT NULL,
    expected_payout INTEGER NOT NULL,
    realized_pnl    INTEGER NOT NULL,
    opened_at       INTEGER NOT NULL,
    closed_at       INTEGER,
    resolves_at     INTEGER NOT NULL,
    note            TEXT   NOT NULL
) STRICT;
-- open_bundles() and the daily realized PnL.
CREATE INDEX bundles_status ON bundles (status);
CREATE INDEX bundles_closed_at ON bundles (closed_at);

CREATE TABLE opportunities (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    ts             INTEGER NOT NULL,
    strategy       TEXT   NOT NULL,
    link_id        INTEGER NOT NULL REFERENCES links (id),
    quantity       INTEGER NOT NULL,
    cost           INTEGER NOT NULL,
    fees           INTEGER NOT NULL,
    payout         INTEGER NOT NULL,
    profit         INTEGER NOT NULL,
    return_ppm     INTEGER NOT NULL,
    annualized_ppm INTEGER NOT NULL,
    result         TEXT   NOT NULL,
    reason         TEXT   NOT NULL,
    bundle_id      INTEGER REFERENCES bundles (id),
    detail         TEXT   NOT NULL,
    CHECK ((result = 'taken' AND reason = '') OR (result = 'rejected' AND reason <> ''))
) STRICT;
CREATE INDEX opportunities_ts ON opportunities (ts);
CREATE INDEX opportunities_strategy ON opportunities (strategy, ts);

CREATE TABLE intents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    bundle_id  INTEGER NOT NULL REFERENCES bundles (id),
    kind       TEXT   NOT NULL CHECK (kind IN ('entry', 'exit', 'repair', 'unwind', 'settle')),
    created_at INTEGER NOT NULL,
    state      TEXT   NOT NULL CHECK (state IN ('written', 'done', 'failed'))
) STRICT;
CREATE INDEX intents_bundle ON intents (bundle_id);

CREATE TABLE orders (
    client_order_id TEXT   NOT NULL PRIMARY KEY,
    intent_id       INTEGER NOT NULL REFERENCES intents (id),
    bundle_id       INTEGER NOT NULL REFERENCES bundles (id),
    venue           TEXT   NOT NULL REFERENCES venues (name),
    market          TEXT   NOT NULL,
    side            TEXT   NOT NULL CHECK (side IN ('yes', 'no')),
    action          TEXT   NOT NULL CHECK (action IN ('buy', 'sell')),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    limit_price     INTEGER NOT NULL CHECK (limit_price BETWEEN 0 AND 1000000),
    time_in_force   TEXT   NOT NULL CHECK (time_in_force IN
                        ('fill_or_kill', 'immediate_or_cancel', 'good_till_canceled')),
    amount          INTEGER,
    state           TEXT   NOT NULL CHECK (state IN
                        ('intent', 'acked', 'filled', 'partial', 'cancelled', 'rejected', 'unknown')),
    venue_order_id  TEXT,
    filled          INTEGER NOT NULL,
    notional        INTEGER NOT NULL,
    fee             INTEGER NOT NULL,
    reason          TEXT   NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
-- What a restarted host must reconcile: small, because resolved orders leave it.
CREATE INDEX orders_unresolved ON orders (state) WHERE state IN ('intent', 'unknown');
CREATE INDEX orders_bundle ON orders (bundle_id);
CREATE INDEX orders_intent ON orders (intent_id);

CREATE TABLE fills (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    venue           TEXT   NOT NULL REFERENCES venues (name),
    trade_id        TEXT   NOT NULL,
    client_order_id TEXT,
    venue_order_id  TEXT   NOT NULL,
    market          TEXT   NOT NULL,
    side            TEXT   NOT NULL CHECK (side IN ('yes', 'no')),
    action          TEXT   NOT NULL CHECK (action IN ('buy', 'sell')),
    quantity        INTEGER NOT NULL,
    price           INTEGER NOT NULL CHECK (price BETWEEN 0 AND 1000000),
    fee             INTEGER NOT NULL,
    state           TEXT   NOT NULL CHECK (state IN ('matched', 'mined', 'confirmed', 'retrying', 'failed')),
    ts              INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (venue, trade_id)
) STRICT;
CREATE INDEX fills_order ON fills (client_order_id);

CREATE TABLE positions (
    bundle_id  INTEGER NOT NULL REFERENCES bundles (id),
    venue      TEXT   NOT NULL REFERENCES venues (name),
    market     TEXT   NOT NULL,
    side       TEXT   NOT NULL CHECK (side IN ('yes', 'no')),
    quantity   INTEGER NOT NULL,
    cost       INTEGER NOT NULL,
    fees       INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bundle_id, venue, market, side)
) STRICT;

CREATE TABLE pnl_snapshots (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ts         INTEGER NOT NULL,
    realized   INTEGER NOT NULL,
    unrealized INTEGER NOT NULL,
    exposure   TEXT   NOT NULL
) STRICT;
CREATE INDEX pnl_snapshots_ts ON pnl_snapshots (ts);
