-- Arbytron schema, PostgreSQL flavour (keep in step with ../sqlite/).
--
-- Money, prices and quantities are BIGINT millionths (Money/Price/Qty micros),
-- timestamps BIGINT Unix milliseconds, structured extras JSON text. No floats.

CREATE TABLE venues (
    name TEXT NOT NULL PRIMARY KEY
);
INSERT INTO venues (name) VALUES ('kalshi'), ('polymarket-clob'), ('polymarket-amm');

CREATE TABLE markets (
    venue              TEXT    NOT NULL REFERENCES venues (name),
    symbol             TEXT    NOT NULL,
    event              TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    outcome            TEXT    NOT NULL,
    rules              TEXT    NOT NULL,
    closes_at          BIGINT  NOT NULL,
    mutually_exclusive BOOLEAN NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN
                           ('unopened', 'open', 'paused', 'closed', 'settled-yes', 'settled-no', 'settled-void')),
    fee                TEXT    NOT NULL,
    tick               BIGINT  NOT NULL CHECK (tick BETWEEN 0 AND 1000000),
    min_qty            BIGINT  NOT NULL CHECK (min_qty >= 0),
    refs               TEXT    NOT NULL,
    updated_at         BIGINT  NOT NULL,
    PRIMARY KEY (venue, symbol)
);
CREATE INDEX markets_event ON markets (venue, event);

CREATE TABLE links (
    id             BIGSERIAL PRIMARY KEY,
    source         TEXT    NOT NULL,
    -- sha256 of the outcomes JSON: the same link from the same source is one row.
    fingerprint    TEXT    NOT NULL,
    outcomes       TEXT    NOT NULL,
    confidence_ppm BIGINT  NOT NULL CHECK (confidence_ppm BETWEEN 0 AND 1000000),
    reasons        TEXT    NOT NULL,
    approved       BOOLEAN NOT NULL,
    created_at     BIGINT  NOT NULL,
    UNIQUE (source, fingerprint)
);

CREATE TABLE strategy_versions (
    id        BIGSERIAL PRIMARY KEY,
    name      TEXT   NOT NULL,
    version   TEXT   NOT NULL,
    hash      TEXT   NOT NULL,
    file      TEXT   NOT NULL,
    loaded_at BIGINT NOT NULL,
    result    TEXT   NOT NULL CHECK (result <> ''),
    reason    TEXT   NOT NULL
);
CREATE INDEX strategy_versions_name ON strategy_versions (name, loaded_at);

CREATE TABLE bundles (
    id              BIGSERIAL PRIMARY KEY,
    strategy        TEXT   NOT NULL,
    link_id         BIGINT NOT NULL REFERENCES links (id),
    status          TEXT   NOT NULL CHECK (status IN
                        ('pending', 'open', 'repairing', 'closing', 'closed', 'settled', 'failed')),
    quantity        BIGINT NOT NULL,
    cost            BIGINT NOT NULL,
    fees            BIGINT NOT NULL,
    expected_payout BIGINT NOT NULL,
    realized_pnl    BIGINT NOT NULL,
    opened_at       BIGINT NOT NULL,
    closed_at       BIGINT,
    resolves_at     BIGINT NOT NULL,
    note            TEXT   NOT NULL
);
-- open_bundles() and the daily realized PnL.
CREATE INDEX bundles_status ON bundles (status);
CREATE INDEX bundles_closed_at ON bundles (closed_at);

CREATE TABLE opportunities (
    id             BIGSERIAL PRIMARY KEY,
    ts             BIGINT NOT NULL,
    strategy       TEXT   NOT NULL,
    link_id        BIGINT NOT NULL REFERENCES links (id),
    quantity       BIGINT NOT NULL,
    cost           BIGINT NOT NULL,
    fees           BIGINT NOT NULL,
    payout         BIGINT NOT NULL,
    profit         BIGINT NOT NULL,
    return_ppm     BIGINT NOT NULL,
    annualized_ppm BIGINT NOT NULL,
    result         TEXT   NOT NULL,
    reason         TEXT   NOT NULL,
    bundle_id      BIGINT REFERENCES bundles (id),
    detail         TEXT   NOT NULL,
    CHECK ((result = 'taken' AND reason = '') OR (result = 'rejected' AND reason <> ''))
);
CREATE INDEX opportunities_ts ON opportunities (ts);
CREATE INDEX opportunities_strategy ON opportunities (strategy, ts);

CREATE TABLE intents (
    id         BIGSERIAL PRIMARY KEY,
    bundle_id  BIGINT NOT NULL REFERENCES bundles (id),
    kind       TEXT   NOT NULL CHECK (kind IN ('entry', 'exit', 'repair', 'unwind', 'settle')),
    created_at BIGINT NOT NULL,
    state      TEXT   NOT NULL CHECK (state IN ('written', 'done', 'failed'))
);
CREATE INDEX intents_bundle ON intents (bundle_id);

CREATE TABLE orders (
    client_order_id TEXT   NOT NULL PRIMARY KEY,
    intent_id       BIGINT NOT NULL REFERENCES intents (id),
    bundle_id       BIGINT NOT NULL REFERENCES bundles (id),
    venue           TEXT   NOT NULL REFERENCES venues (name),
    market          TEXT   NOT NULL,
    side            TEXT   NOT NULL CHECK (side IN ('yes', 'no')),
    action          TEXT   NOT NULL CHECK (action IN ('buy', 'sell')),
    quantity        BIGINT NOT NULL CHECK (quantity > 0),
    limit_price     BIGINT NOT NULL CHECK (limit_price BETWEEN 0 AND 1000000),
    time_in_force   TEXT   NOT NULL CHECK (time_in_force IN
                        ('fill_or_kill', 'immediate_or_cancel', 'good_till_canceled')),
    amount          BIGINT,
    state           TEXT   NOT NULL CHECK (state IN
                        ('intent', 'acked', 'filled', 'partial', 'cancelled', 'rejected', 'unknown')),
    venue_order_id  TEXT,
    filled          BIGINT NOT NULL,
    notional        BIGINT NOT NULL,
    fee             BIGINT NOT NULL,
    reason          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
-- What a restarted host must reconcile: small, because resolved orders leave it.
CREATE INDEX orders_unresolved ON orders (state) WHERE state IN ('intent', 'unknown');
CREATE INDEX orders_bundle ON orders (bundle_id);
CREATE INDEX orders_intent ON orders (intent_id);

CREATE TABLE fills (
    id              BIGSERIAL PRIMARY KEY,
    venue           TEXT   NOT NULL REFERENCES venues (name),
    trade_id        TEXT   NOT NULL,
    client_order_id TEXT,
    venue_order_id  TEXT   NOT NULL,
    market          TEXT   NOT NULL,
    side            TEXT   NOT NULL CHECK (side IN ('yes', 'no')),
    action          TEXT   NOT NULL CHECK (action IN ('buy', 'sell')),
    quantity        BIGINT NOT NULL,
    price           BIGINT NOT NULL CHECK (price BETWEEN 0 AND 1000000),
    fee             BIGINT NOT NULL,
    state           TEXT   NOT NULL CHECK (state IN ('matched', 'mined', 'confirmed', 'retrying', 'failed')),
    ts              BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (venue, trade_id)
);
CREATE INDEX fills_order ON fills (client_order_id);

CREATE TABLE positions (
    bundle_id  BIGINT NOT NULL REFERENCES bundles (id),
    venue      TEXT   NOT NULL REFERENCES venues (name),
    market     TEXT   NOT NULL,
    side       TEXT   NOT NULL CHECK (side IN ('yes', 'no')),
    quantity   BIGINT NOT NULL,
    cost       BIGINT NOT NULL,
    fees       BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (bundle_id, venue, market, side)
);

CREATE TABLE pnl_snapshots (
    id         BIGSERIAL PRIMARY KEY,
    ts         BIGINT NOT NULL,
    realized   BIGINT NOT NULL,
    unrealized BIGINT NOT NULL,
    exposure   TEXT   NOT NULL
);
CREATE INDEX pnl_snapshots_ts ON pnl_snapshots (ts);
