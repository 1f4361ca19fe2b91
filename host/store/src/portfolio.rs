//! What is held and what it earned: positions per bundle leg, PnL snapshots,
//! and the realized PnL the daily loss limit checks.

use std::collections::HashMap;

use arbytron_model::{Money, TimestampMs};
use sqlx::any::AnyRow;

use crate::Store;
use crate::codec::{Cols, TextEnum, to_json};
use crate::error::StoreError;
use crate::records::{PnlSnapshot, PositionRecord, PositionTotal, Stored};

const POSITION_COLUMNS: &str = "p.bundle_id, p.venue, p.market, p.side, p.quantity, p.cost, p.fees";

impl Store {
    /// Set one bundle leg's holding (absolute, not a delta: replaying it is harmless).
    /// The portfolio sets a leg to zero when it is sold or paid out.
    pub async fn set_position(&self, p: &PositionRecord) -> Result<(), StoreError> {
        const OP: &str = "set position";
        let _writer = self.writer().await;
        let id = format!("bundle {} {} {}", p.bundle_id, p.market, p.side.as_text());
        sqlx::query(
            "INSERT INTO positions (bundle_id, venue, market, side, quantity, cost, fees, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (bundle_id, venue, market, side) DO UPDATE SET \
                quantity = excluded.quantity, cost = excluded.cost, fees = excluded.fees, \
                updated_at = excluded.updated_at",
        )
        .bind(p.bundle_id)
        .bind(p.market.venue.as_text())
        .bind(p.market.symbol.as_str())
        .bind(p.side.as_text())
        .bind(p.quantity.micros())
        .bind(p.cost.micros())
        .bind(p.fees.micros())
        .bind(self.now())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, id, e))?;
        Ok(())
    }

    /// The legs of one bundle.
    pub async fn positions(&self, bundle_id: i64) -> Result<Vec<PositionRecord>, StoreError> {
        const OP: &str = "read positions";
        let rows = sqlx::query(&format!(
            "SELECT {POSITION_COLUMNS} FROM positions p WHERE p.bundle_id = $1 ORDER BY p.venue, p.market, p.side"
        ))
        .bind(bundle_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, bundle_id, e))?;
        rows.iter().map(|r| position_from_row(r, OP)).collect()
    }

    /// The legs of every live bundle, by bundle id.
    pub(crate) async fn open_bundle_positions(&self) -> Result<HashMap<i64, Vec<PositionRecord>>, StoreError> {
        const OP: &str = "read open positions";
        let rows = sqlx::query(&format!(
            "SELECT {POSITION_COLUMNS} FROM positions p JOIN bundles b ON b.id = p.bundle_id \
             WHERE b.status IN ('pending', 'open', 'repairing', 'closing') \
             ORDER BY p.bundle_id, p.venue, p.market, p.side"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, "", e))?;
        let mut out: HashMap<i64, Vec<PositionRecord>> = HashMap::new();
        for row in &rows {
            let p = position_from_row(row, OP)?;
            out.entry(p.bundle_id).or_default().push(p);
        }
        Ok(out)
    }

    /// Holdings summed over all bundles by venue, market and side (non-zero
    /// only): what each venue should report, for reconciliation. A sum beyond
    /// the 64-bit range is an error, not a wrapped number.
    pub async fn all_positions(&self) -> Result<Vec<PositionTotal>, StoreError> {
        const OP: &str = "sum positions";
        // SUM of BIGINT is NUMERIC in PostgreSQL, which the Any driver does
        // not carry: cast back (the cast fails rather than truncates).
        let rows = sqlx::query(
            "SELECT venue, market, side, CAST(SUM(quantity) AS BIGINT) AS quantity, \
                    CAST(SUM(cost) AS BIGINT) AS cost, CAST(SUM(fees) AS BIGINT) AS fees \
             FROM positions GROUP BY venue, market, side HAVING SUM(quantity) <> 0 \
             ORDER BY venue, market, side",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, "", e))?;
        rows.iter()
            .map(|row| {
                let c = Cols::new(row, OP, "market");
                Ok(PositionTotal {
                    market: c.market("venue", "market")?,
                    side: c.enum_("side")?,
                    quantity: c.qty("quantity")?,
                    cost: c.money("cost")?,
                    fees: c.money("fees")?,
                })
            })
            .collect()
    }

    /// One snapshot per instant: writing the same instant again (an outbox
    /// replay) keeps the first and returns its id.
    pub async fn record_pnl_snapshot(&self, s: &PnlSnapshot) -> Result<i64, StoreError> {
        const OP: &str = "record pnl snapshot";
        let _writer = self.writer().await;
        let exposure = to_json(OP, &s.ts, &s.exposure)?;
        sqlx::query(
            "INSERT INTO pnl_snapshots (ts, realized, unrealized, exposure) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (ts) DO NOTHING",
        )
        .bind(s.ts)
        .bind(s.realized.micros())
        .bind(s.unrealized.micros())
        .bind(exposure)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, s.ts, e))?;
        let row = sqlx::query("SELECT id FROM pnl_snapshots WHERE ts = $1")
            .bind(s.ts)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, s.ts, e))?;
        Cols::new(&row, OP, "id").i64("id")
    }

    /// Snapshots with `ts >= since`, oldest first.
    pub async fn pnl_snapshots(&self, since: TimestampMs) -> Result<Vec<Stored<PnlSnapshot>>, StoreError> {
        const OP: &str = "read pnl snapshots";
        let rows = sqlx::query(
            "SELECT id, ts, realized, unrealized, exposure FROM pnl_snapshots WHERE ts >= $1 ORDER BY ts, id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, since, e))?;
        rows.iter()
            .map(|row| {
                let c = Cols::new(row, OP, "id");
                Ok(Stored {
                    id: c.i64("id")?,
                    record: PnlSnapshot {
                        ts: c.i64("ts")?,
                        realized: c.money("realized")?,
                        unrealized: c.money("unrealized")?,
                        exposure: c.json("exposure")?,
                    },
                })
            })
            .collect()
    }

    /// Realized PnL booked since `ts`, for the daily loss limit: every bundle
    /// that closed, settled or failed at or after `ts`, plus whatever a live
    /// bundle has already realized (a repair's or an unwind's loss). The live
    /// part cannot be dated more finely than "not yet closed", so it counts in
    /// full on every day the bundle stays open: a loss is never missed, at
    /// worst counted again the next day, which errs on the side of stopping.
    pub async fn realized_pnl_since(&self, ts: TimestampMs) -> Result<Money, StoreError> {
        const OP: &str = "realized pnl since";
        let row = sqlx::query(
            "SELECT COALESCE(CAST(SUM(realized_pnl) AS BIGINT), 0) AS pnl FROM bundles \
             WHERE closed_at >= $1 OR (closed_at IS NULL AND realized_pnl <> 0)",
        )
        .bind(ts)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, ts, e))?;
        Cols::new(&row, OP, "pnl").money("pnl")
    }
}

fn position_from_row(row: &AnyRow, op: &'static str) -> Result<PositionRecord, StoreError> {
    let c = Cols::new(row, op, "bundle_id");
    Ok(PositionRecord {
        bundle_id: c.i64("bundle_id")?,
        market: c.market("venue", "market")?,
        side: c.enum_("side")?,
        quantity: c.qty("quantity")?,
        cost: c.money("cost")?,
        fees: c.money("fees")?,
    })
}
