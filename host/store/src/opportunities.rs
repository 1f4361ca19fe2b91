//! Every opportunity a strategy proposed, taken or rejected with the reason:
//! the record that explains why the host did (or did not) trade.

use sqlx::any::AnyRow;

use crate::Store;
use crate::catalog::invalid;
use crate::codec::{Cols, TextEnum, to_json};
use crate::error::StoreError;
use crate::records::{OpportunityFilter, OpportunityRecord, OpportunityResult, Stored};

impl Store {
    /// Record an opportunity and return its id. A taken one carries an empty
    /// reason and, once [`Store::begin_bundle`] has written it, its bundle id.
    pub async fn record_opportunity(&self, o: &OpportunityRecord) -> Result<i64, StoreError> {
        const OP: &str = "record opportunity";
        let _writer = self.writer().await;
        let id = format!("{}/link {}", o.strategy, o.link_id);
        match (o.result, o.reason.is_empty()) {
            (OpportunityResult::Taken, false) => return Err(invalid(OP, &id, "a taken opportunity has no reason")),
            (OpportunityResult::Rejected, true) => return Err(invalid(OP, &id, "a rejection needs its reason")),
            _ => {}
        }
        let detail = to_json(OP, &id, &o.legs)?;
        let row = sqlx::query(
            "INSERT INTO opportunities (ts, strategy, link_id, quantity, cost, fees, payout, profit, return_ppm, \
                                        annualized_ppm, result, reason, bundle_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(o.ts)
        .bind(o.strategy.as_str())
        .bind(o.link_id)
        .bind(o.quantity.micros())
        .bind(o.cost.micros())
        .bind(o.fees.micros())
        .bind(o.payout.micros())
        .bind(o.profit.micros())
        .bind(o.return_ppm)
        .bind(o.annualized_ppm)
        .bind(o.result.as_text())
        .bind(o.reason.as_str())
        .bind(o.bundle_id)
        .bind(detail)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, &id, e))?;
        Cols::new(&row, OP, "id").i64("id")
    }

    /// Opportunities matching `filter`, newest first.
    pub async fn opportunities(
        &self,
        filter: &OpportunityFilter,
    ) -> Result<Vec<Stored<OpportunityRecord>>, StoreError> {
        const OP: &str = "read opportunities";
        // One static text with optional parameters: one prepared statement per
        // connection whatever the filter.
        let rows = sqlx::query(
            "SELECT id, ts, strategy, link_id, quantity, cost, fees, payout, profit, return_ppm, annualized_ppm, \
                    result, reason, bundle_id, detail \
             FROM opportunities \
             WHERE ($1 IS NULL OR strategy = $1) AND ($2 IS NULL OR result = $2) AND ($3 IS NULL OR link_id = $3) \
               AND ($4 IS NULL OR ts >= $4) AND ($5 IS NULL OR ts < $5) \
             ORDER BY ts DESC, id DESC LIMIT $6",
        )
        .bind(filter.strategy.as_deref())
        .bind(filter.result.map(|r| r.as_text()))
        .bind(filter.link_id)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.limit.map_or(i64::MAX, i64::from))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, "", e))?;
        rows.iter().map(opportunity_from_row).collect()
    }
}

fn opportunity_from_row(row: &AnyRow) -> Result<Stored<OpportunityRecord>, StoreError> {
    let c = Cols::new(row, "read opportunities", "id");
    Ok(Stored {
        id: c.i64("id")?,
        record: OpportunityRecord {
            ts: c.i64("ts")?,
            strategy: c.text("strategy")?,
            link_id: c.i64("link_id")?,
            quantity: c.qty("quantity")?,
            cost: c.money("cost")?,
            fees: c.money("fees")?,
            payout: c.money("payout")?,
            profit: c.money("profit")?,
            return_ppm: c.i64("return_ppm")?,
            annualized_ppm: c.i64("annualized_ppm")?,
            result: c.enum_("result")?,
            reason: c.text("reason")?,
            bundle_id: c.opt_i64("bundle_id")?,
            legs: c.json("detail")?,
        },
    })
}
