//! Fills, one row per venue trade, following the trade's state.
//!
//! Venues redeliver fills (reconnects, replays) and Polymarket sends the same
//! trade again on every state change (MATCHED, MINED, CONFIRMED, or RETRYING
//! then FAILED). The row is keyed by venue and trade id; [`Store::record_fill`]
//! says whether an event is new, a redelivery, a real transition, or stale, so
//! the portfolio applies each trade exactly once and backs out a failed one.

use arbytron_model::Venue;
use arbytron_model::venue::{FillEvent, FillState};
use sqlx::any::AnyRow;

use crate::Store;
use crate::catalog::not_found;
use crate::codec::{Cols, TextEnum};
use crate::error::StoreError;
use crate::records::{FillChange, FillRecord};

const FILL_COLUMNS: &str = "id, venue, trade_id, client_order_id, venue_order_id, market, side, action, quantity, \
                            price, fee, state, ts, updated_at";

/// How far along a trade is. Final states never change; a non-final state
/// moves to a further (or, between MINED and RETRYING, a sibling) state.
const fn fill_rank(s: FillState) -> u8 {
    match s {
        FillState::Matched => 0,
        FillState::Mined | FillState::Retrying => 1,
        FillState::Confirmed | FillState::Failed => 2,
    }
}

fn advances(from: FillState, to: FillState) -> bool {
    !from.is_final() && from != to && fill_rank(to) >= fill_rank(from)
}

impl Store {
    /// Record a fill event. Idempotent: a repeated event is
    /// [`FillChange::Unchanged`]; a state change updates the row and comes back
    /// as [`FillChange::Transition`], reported to exactly one caller even when
    /// several deliver it at once.
    pub async fn record_fill(&self, f: &FillEvent) -> Result<FillChange, StoreError> {
        const OP: &str = "record fill";
        let _writer = self.writer().await;
        let id = format!("{}:{}", f.venue, f.trade_id);
        let inserted = sqlx::query(
            "INSERT INTO fills (venue, trade_id, client_order_id, venue_order_id, market, side, action, quantity, \
                                price, fee, state, ts, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (venue, trade_id) DO NOTHING RETURNING id",
        )
        .bind(f.venue.as_text())
        .bind(f.trade_id.as_str())
        .bind(f.client_order_id.as_deref())
        .bind(f.venue_order_id.as_str())
        .bind(f.market.symbol.as_str())
        .bind(f.side.as_text())
        .bind(f.action.as_text())
        .bind(f.quantity.micros())
        .bind(f.price.micros())
        .bind(f.fee.micros())
        .bind(f.state.as_text())
        .bind(f.ts)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, &id, e))?;
        if inserted.is_some() {
            return Ok(FillChange::New);
        }

        // Compare and set: if another writer moves the row between the read
        // and the update, the update matches nothing and we look again.
        for _ in 0..8 {
            let current = self.fill(f.venue, &f.trade_id).await?.ok_or_else(|| not_found(OP, "fill", &id))?.fill.state;
            if current == f.state {
                return Ok(FillChange::Unchanged);
            }
            if !advances(current, f.state) {
                return Ok(FillChange::Stale { current });
            }
            let done = sqlx::query(
                "UPDATE fills SET state = $3, fee = $4, updated_at = $5, \
                    client_order_id = COALESCE(client_order_id, $6) \
                 WHERE venue = $1 AND trade_id = $2 AND state = $7",
            )
            .bind(f.venue.as_text())
            .bind(f.trade_id.as_str())
            .bind(f.state.as_text())
            .bind(f.fee.micros())
            .bind(f.ts)
            .bind(f.client_order_id.as_deref())
            .bind(current.as_text())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, &id, e))?;
            if done.rows_affected() == 1 {
                return Ok(FillChange::Transition { from: current, to: f.state });
            }
        }
        // Eight lost races on one trade means something is writing it in a loop.
        let err = StoreError::Invalid { op: OP, id, reason: "the fill kept changing under concurrent writers".into() };
        err.count();
        Err(err)
    }

    /// One fill by venue and trade id.
    pub async fn fill(&self, venue: Venue, trade_id: &str) -> Result<Option<FillRecord>, StoreError> {
        const OP: &str = "read fill";
        let row = sqlx::query(&format!("SELECT {FILL_COLUMNS} FROM fills WHERE venue = $1 AND trade_id = $2"))
            .bind(venue.as_text())
            .bind(trade_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, format!("{venue}:{trade_id}"), e))?;
        row.as_ref().map(|r| fill_from_row(r, OP)).transpose()
    }

    /// The fills of one of our orders, oldest first.
    pub async fn fills_for_order(&self, client_order_id: &str) -> Result<Vec<FillRecord>, StoreError> {
        const OP: &str = "read order fills";
        let rows = sqlx::query(&format!("SELECT {FILL_COLUMNS} FROM fills WHERE client_order_id = $1 ORDER BY ts, id"))
            .bind(client_order_id)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, client_order_id, e))?;
        rows.iter().map(|r| fill_from_row(r, OP)).collect()
    }
}

fn fill_from_row(row: &AnyRow, op: &'static str) -> Result<FillRecord, StoreError> {
    let c = Cols::new(row, op, "trade_id");
    Ok(FillRecord {
        id: c.i64("id")?,
        fill: FillEvent {
            venue: c.enum_("venue")?,
            trade_id: c.text("trade_id")?,
            venue_order_id: c.text("venue_order_id")?,
            client_order_id: c.opt_text("client_order_id")?,
            market: c.market("venue", "market")?,
            side: c.enum_("side")?,
            action: c.enum_("action")?,
            quantity: c.qty("quantity")?,
            price: c.price("price")?,
            fee: c.money("fee")?,
            state: c.enum_("state")?,
            ts: c.i64("ts")?,
        },
        updated_at: c.i64("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use FillState::*;

    #[test]
    fn trades_only_move_forward() {
        assert!(advances(Matched, Confirmed));
        assert!(advances(Matched, Failed));
        assert!(advances(Matched, Mined));
        assert!(advances(Mined, Retrying));
        assert!(advances(Retrying, Failed));
        assert!(!advances(Confirmed, Failed));
        assert!(!advances(Failed, Confirmed));
        assert!(!advances(Mined, Matched));
        assert!(!advances(Matched, Matched));
    }
}
