//! What is tradable: markets, the links between them, and the strategy
//! versions that ran.

use arbytron_model::MarketInfo;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use crate::Store;
use crate::codec::{Cols, TextEnum, status_text, to_json};
use crate::error::StoreError;
use crate::records::{LinkRecord, MarketRecord, NewLink, Stored, StrategyVersion};

const MARKET_COLUMNS: &str = "venue, symbol, event, title, outcome, rules, closes_at, mutually_exclusive, status, \
                              fee, tick, min_qty, refs, updated_at";

impl Store {
    /// Insert a market or replace what is known about it (keyed by venue and symbol).
    pub async fn upsert_market(&self, info: &MarketInfo) -> Result<(), StoreError> {
        const OP: &str = "upsert market";
        let _writer = self.writer().await;
        let fee = to_json(OP, &info.key, &info.fee)?;
        let refs = to_json(OP, &info.key, &info.refs)?;
        sqlx::query(
            "INSERT INTO markets (venue, symbol, event, title, outcome, rules, closes_at, mutually_exclusive, status, \
                                  fee, tick, min_qty, refs, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (venue, symbol) DO UPDATE SET \
                event = excluded.event, title = excluded.title, outcome = excluded.outcome, \
                rules = excluded.rules, closes_at = excluded.closes_at, \
                mutually_exclusive = excluded.mutually_exclusive, status = excluded.status, fee = excluded.fee, \
                tick = excluded.tick, min_qty = excluded.min_qty, refs = excluded.refs, \
                updated_at = excluded.updated_at",
        )
        .bind(info.key.venue.as_text())
        .bind(info.key.symbol.as_str())
        .bind(info.event.as_str())
        .bind(info.title.as_str())
        .bind(info.outcome.as_str())
        .bind(info.rules.as_str())
        .bind(info.closes_at)
        .bind(info.mutually_exclusive)
        .bind(status_text(info.status))
        .bind(fee)
        .bind(info.tick.micros())
        .bind(info.min_qty.micros())
        .bind(refs)
        .bind(self.now())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, &info.key, e))?;
        Ok(())
    }

    /// Every known market, by venue and symbol.
    pub async fn markets(&self) -> Result<Vec<MarketRecord>, StoreError> {
        const OP: &str = "read markets";
        let rows = sqlx::query(&format!("SELECT {MARKET_COLUMNS} FROM markets ORDER BY venue, symbol"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, "", e))?;
        rows.iter().map(market_from_row).collect()
    }

    /// Store a link and return its id. The same outcomes from the same source
    /// are one link: inserting it again (every start, for links from the
    /// config) returns the existing id with confidence and reasons refreshed
    /// and its approval kept.
    pub async fn insert_link(&self, link: &NewLink) -> Result<i64, StoreError> {
        const OP: &str = "insert link";
        let _writer = self.writer().await;
        let outcomes = to_json(OP, &link.source, &link.outcomes)?;
        let reasons = to_json(OP, &link.source, &link.reasons)?;
        if link.outcomes.len() < 2 || link.outcomes.iter().any(|o| o.is_empty()) {
            return Err(invalid(OP, &link.source, "a link needs at least two outcomes, each with at least one leg"));
        }
        if link.confidence_ppm > 1_000_000 {
            return Err(invalid(OP, &link.source, &format!("confidence {} ppm is over 1000000", link.confidence_ppm)));
        }
        let fingerprint = hex::encode(Sha256::digest(outcomes.as_bytes()));
        let row = sqlx::query(
            "INSERT INTO links (source, fingerprint, outcomes, confidence_ppm, reasons, approved, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (source, fingerprint) DO UPDATE SET \
                confidence_ppm = excluded.confidence_ppm, reasons = excluded.reasons \
             RETURNING id",
        )
        .bind(link.source.as_str())
        .bind(fingerprint)
        .bind(outcomes)
        .bind(i64::from(link.confidence_ppm))
        .bind(reasons)
        .bind(false)
        .bind(self.now())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, &link.source, e))?;
        Cols::new(&row, OP, "id").i64("id")
    }

    /// Every link, oldest first.
    pub async fn links(&self) -> Result<Vec<LinkRecord>, StoreError> {
        const OP: &str = "read links";
        let rows = sqlx::query(
            "SELECT id, source, outcomes, confidence_ppm, reasons, approved, created_at FROM links ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, "", e))?;
        rows.iter().map(link_from_row).collect()
    }

    /// Mark a link approved by a human: only approved links are traded.
    pub async fn approve_link(&self, id: i64) -> Result<(), StoreError> {
        const OP: &str = "approve link";
        let _writer = self.writer().await;
        let done = sqlx::query("UPDATE links SET approved = $2 WHERE id = $1")
            .bind(id)
            .bind(true)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, id, e))?;
        if done.rows_affected() == 0 {
            return Err(not_found(OP, "link", id));
        }
        Ok(())
    }

    /// Record one attempt to load a strategy module.
    pub async fn record_strategy_version(&self, v: &StrategyVersion) -> Result<i64, StoreError> {
        const OP: &str = "record strategy version";
        let _writer = self.writer().await;
        let id = format!("{}@{}", v.name, v.version);
        if v.result.is_empty() {
            return Err(invalid(OP, &id, "result must be \"live\" or the failure label"));
        }
        let row = sqlx::query(
            "INSERT INTO strategy_versions (name, version, hash, file, loaded_at, result, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(v.name.as_str())
        .bind(v.version.as_str())
        .bind(v.hash.as_str())
        .bind(v.file.as_str())
        .bind(v.loaded_at)
        .bind(v.result.as_str())
        .bind(v.reason.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, &id, e))?;
        Cols::new(&row, OP, "id").i64("id")
    }

    /// The load history of one strategy (or all, with `None`), oldest first.
    pub async fn strategy_versions(&self, name: Option<&str>) -> Result<Vec<Stored<StrategyVersion>>, StoreError> {
        const OP: &str = "read strategy versions";
        let rows = sqlx::query(
            "SELECT id, name, version, hash, file, loaded_at, result, reason FROM strategy_versions \
             WHERE $1 IS NULL OR name = $1 ORDER BY loaded_at, id",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, name.unwrap_or(""), e))?;
        rows.iter()
            .map(|row| {
                let c = Cols::new(row, OP, "id");
                Ok(Stored {
                    id: c.i64("id")?,
                    record: StrategyVersion {
                        name: c.text("name")?,
                        version: c.text("version")?,
                        hash: c.text("hash")?,
                        file: c.text("file")?,
                        loaded_at: c.i64("loaded_at")?,
                        result: c.text("result")?,
                        reason: c.text("reason")?,
                    },
                })
            })
            .collect()
    }
}

fn market_from_row(row: &AnyRow) -> Result<MarketRecord, StoreError> {
    let c = Cols::new(row, "read markets", "symbol");
    Ok(MarketRecord {
        info: MarketInfo {
            key: c.market("venue", "symbol")?,
            event: c.text("event")?,
            title: c.text("title")?,
            outcome: c.text("outcome")?,
            rules: c.text("rules")?,
            closes_at: c.i64("closes_at")?,
            mutually_exclusive: c.bool("mutually_exclusive")?,
            status: c.market_status("status")?,
            fee: c.json("fee")?,
            tick: c.price("tick")?,
            min_qty: c.qty("min_qty")?,
            refs: c.json("refs")?,
        },
        updated_at: c.i64("updated_at")?,
    })
}

fn link_from_row(row: &AnyRow) -> Result<LinkRecord, StoreError> {
    let c = Cols::new(row, "read links", "id");
    Ok(LinkRecord {
        id: c.i64("id")?,
        source: c.text("source")?,
        outcomes: c.json("outcomes")?,
        confidence_ppm: c.u32("confidence_ppm")?,
        reasons: c.json("reasons")?,
        approved: c.bool("approved")?,
        created_at: c.i64("created_at")?,
    })
}

pub(crate) fn invalid(op: &'static str, id: &dyn std::fmt::Display, reason: &str) -> StoreError {
    let err = StoreError::Invalid { op, id: id.to_string(), reason: reason.to_string() };
    err.count();
    err
}

pub(crate) fn not_found(op: &'static str, what: &'static str, id: impl ToString) -> StoreError {
    let err = StoreError::NotFound { op, what, id: id.to_string() };
    err.count();
    err
}
