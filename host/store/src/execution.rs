//! Bundles, intents and orders: intent before action.
//!
//! Every order is written (state `intent`) in the same transaction as its
//! intent, and for an entry, its bundle, before anything is sent; the venue's
//! answers then move each order forward, never backward.

use std::collections::{BTreeSet, HashMap, HashSet};

use arbytron_model::TimestampMs;
use arbytron_model::venue::{OrderReport, OrderStatus};
use sqlx::any::AnyRow;

use crate::Store;
use crate::catalog::{invalid, not_found};
use crate::codec::{Cols, TextEnum};
use crate::error::StoreError;
use crate::records::{
    BundleRecord, BundleStatus, BundleUpdate, IntentKind, IntentRecord, IntentState, NewBundle, NewOrder, OrderRecord,
    OrderState, OrderUpdate, UnresolvedOrder,
};

const BUNDLE_COLUMNS: &str = "id, strategy, link_id, status, quantity, cost, fees, expected_payout, realized_pnl, \
                              opened_at, closed_at, resolves_at, note";
const ORDER_COLUMNS: &str = "client_order_id, intent_id, bundle_id, venue, market, side, action, quantity, \
                             limit_price, time_in_force, amount, state, venue_order_id, filled, notional, fee, reason, \
                             created_at, updated_at";
/// Parameters per order row in [`insert_orders`].
const ORDER_PARAMS: usize = 9;
/// SQL that ranks a stored order state as [`OrderState::rank`] does.
const STATE_RANK_SQL: &str =
    "CASE state WHEN 'intent' THEN 0 WHEN 'unknown' THEN 0 WHEN 'acked' THEN 1 WHEN 'partial' THEN 2 ELSE 3 END";

impl Store {
    /// Write a new bundle (`pending`), its `entry` intent and every order
    /// (`intent`) in one transaction, before any order is sent. Returns the
    /// bundle and intent ids. If anything fails (say a client order id already
    /// used) nothing is written.
    pub async fn begin_bundle(&self, bundle: &NewBundle, orders: &[NewOrder]) -> Result<(i64, i64), StoreError> {
        const OP: &str = "begin bundle";
        let _writer = self.writer().await;
        let label = format!("{}/link {}", bundle.strategy, bundle.link_id);
        check_orders(OP, &label, orders)?;
        let now = self.now();
        let mut tx = self.begin_write(OP, label.as_str()).await?;
        let row = sqlx::query(
            "INSERT INTO bundles (strategy, link_id, status, quantity, cost, fees, expected_payout, realized_pnl, \
                                  opened_at, closed_at, resolves_at, note) \
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, 0, $7, NULL, $8, $9) RETURNING id",
        )
        .bind(bundle.strategy.as_str())
        .bind(bundle.link_id)
        .bind(bundle.quantity.micros())
        .bind(bundle.cost.micros())
        .bind(bundle.fees.micros())
        .bind(bundle.expected_payout.micros())
        .bind(bundle.opened_at)
        .bind(bundle.resolves_at)
        .bind(bundle.note.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::query(OP, &label, e))?;
        let bundle_id = Cols::new(&row, OP, "id").i64("id")?;
        let intent_id = insert_intent(&mut tx, OP, bundle_id, IntentKind::Entry, &intent_key(orders), now).await?;
        insert_orders(&mut tx, OP, bundle_id, intent_id, orders, now).await?;
        tx.commit().await.map_err(|e| StoreError::query(OP, &label, e))?;
        Ok((bundle_id, intent_id))
    }

    /// Write an intent of `kind` (exit, repair, unwind, settle) on an existing
    /// bundle with its orders, in one transaction, before they are sent.
    /// Idempotent: writing the same intent again (an outbox replay) changes
    /// nothing and returns the id it already has (see [`intent_key`]).
    pub async fn add_intent(&self, bundle_id: i64, kind: IntentKind, orders: &[NewOrder]) -> Result<i64, StoreError> {
        const OP: &str = "add intent";
        let _writer = self.writer().await;
        let label = format!("bundle {bundle_id}");
        check_orders(OP, &label, orders)?;
        let now = self.now();
        let key = intent_key(orders);
        let mut tx = self.begin_write(OP, label.as_str()).await?;
        let existing = sqlx::query("SELECT id FROM intents WHERE intent_key = $1")
            .bind(key.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| StoreError::query(OP, &label, e))?;
        if let Some(row) = existing {
            return Cols::new(&row, OP, "intent").i64("id");
        }
        let intent_id = insert_intent(&mut tx, OP, bundle_id, kind, &key, now).await?;
        insert_orders(&mut tx, OP, bundle_id, intent_id, orders, now).await?;
        tx.commit().await.map_err(|e| StoreError::query(OP, &label, e))?;
        Ok(intent_id)
    }

    /// [`Store::close_intent`] by the intent's key ([`intent_key`] of its orders).
    pub async fn close_intent_by_key(&self, intent_key: &str, state: IntentState) -> Result<(), StoreError> {
        const OP: &str = "close intent";
        let row = sqlx::query("SELECT id FROM intents WHERE intent_key = $1")
            .bind(intent_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, intent_key, e))?;
        match row {
            Some(row) => self.close_intent(Cols::new(&row, OP, "intent").i64("id")?, state).await,
            None => Err(not_found(OP, "intent", intent_key)),
        }
    }

    /// Record a venue's answer to an order. Idempotent, and monotone: a report
    /// is applied only if it fills more, or fills as much and is at least as
    /// final as what is stored (so a late "resting" never overwrites
    /// "cancelled", and reconciliation can replay answers freely).
    pub async fn record_order_result(&self, client_order_id: &str, r: &OrderReport) -> Result<OrderUpdate, StoreError> {
        const OP: &str = "record order result";
        let _writer = self.writer().await;
        if !r.client_order_id.is_empty() && r.client_order_id != client_order_id {
            return Err(invalid(OP, &client_order_id, &format!("report is for {:?}", r.client_order_id)));
        }
        if r.filled.micros() < 0 || r.notional.is_negative() || r.fee.is_negative() {
            return Err(invalid(OP, &client_order_id, "negative filled, notional or fee"));
        }
        let state = OrderState::from_status(&r.status);
        let reason = match &r.status {
            OrderStatus::Rejected { reason } => reason.as_str(),
            _ => "",
        };
        let venue_order_id = Some(r.venue_order_id.as_str()).filter(|s| !s.is_empty());
        let done = sqlx::query(&format!(
            "UPDATE orders SET state = $2, venue_order_id = COALESCE($3, venue_order_id), filled = $4, \
                notional = $5, fee = $6, reason = $7, updated_at = $8 \
             WHERE client_order_id = $1 AND ($4 > filled OR ($4 = filled AND $9 >= {STATE_RANK_SQL}))"
        ))
        .bind(client_order_id)
        .bind(state.as_text())
        .bind(venue_order_id)
        .bind(r.filled.micros())
        .bind(r.notional.micros())
        .bind(r.fee.micros())
        .bind(reason)
        .bind(self.now())
        .bind(state.rank())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, client_order_id, e))?;
        if done.rows_affected() > 0 {
            return Ok(OrderUpdate::Applied);
        }
        match self.order(client_order_id).await? {
            Some(o) => {
                tracing::debug!(
                    client_order_id,
                    stored = o.state.as_text(),
                    report = state.as_text(),
                    "stale order report ignored"
                );
                Ok(OrderUpdate::Stale { state: o.state, filled: o.filled })
            }
            None => Err(not_found(OP, "order", client_order_id)),
        }
    }

    /// The send's answer was lost (timeout, connection reset): the order may or
    /// may not be on the venue. Only an order with no answer yet changes;
    /// returns whether this one did.
    pub async fn mark_order_unknown(&self, client_order_id: &str, reason: &str) -> Result<bool, StoreError> {
        const OP: &str = "mark order unknown";
        let _writer = self.writer().await;
        let done = sqlx::query(
            "UPDATE orders SET state = 'unknown', reason = $2, updated_at = $3 \
             WHERE client_order_id = $1 AND state IN ('intent', 'unknown')",
        )
        .bind(client_order_id)
        .bind(reason)
        .bind(self.now())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, client_order_id, e))?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        match self.order(client_order_id).await? {
            Some(_) => Ok(false),
            None => Err(not_found(OP, "order", client_order_id)),
        }
    }

    /// Finish an intent: `done` when every order is answered, `failed` when it was abandoned.
    pub async fn close_intent(&self, intent_id: i64, state: IntentState) -> Result<(), StoreError> {
        const OP: &str = "close intent";
        let _writer = self.writer().await;
        if state == IntentState::Written {
            return Err(invalid(OP, &intent_id, "an intent is closed as done or failed"));
        }
        let done = sqlx::query("UPDATE intents SET state = $2 WHERE id = $1 AND state IN ('written', $2)")
            .bind(intent_id)
            .bind(state.as_text())
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, intent_id, e))?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let row = sqlx::query("SELECT state FROM intents WHERE id = $1")
            .bind(intent_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, intent_id, e))?;
        match row {
            Some(row) => {
                let from: IntentState = Cols::new(&row, OP, "state").enum_("state")?;
                Err(transition(OP, intent_id, from.as_text(), state.as_text()))
            }
            None => Err(not_found(OP, "intent", intent_id)),
        }
    }

    /// Change a bundle's mutable fields. A bundle that is closed, settled or
    /// failed keeps its status (its figures may still be corrected).
    pub async fn update_bundle(&self, id: i64, u: &BundleUpdate) -> Result<(), StoreError> {
        const OP: &str = "update bundle";
        let _writer = self.writer().await;
        // Leaving the live states dates the bundle: the daily realized PnL counts by `closed_at`.
        let closed_at = match (u.status, u.closed_at) {
            (Some(s), None) if s.is_terminal() => Some(self.now()),
            (_, at) => at,
        };
        let done = sqlx::query(
            "UPDATE bundles SET status = COALESCE($2, status), quantity = COALESCE($3, quantity), \
                cost = COALESCE($4, cost), fees = COALESCE($5, fees), realized_pnl = COALESCE($6, realized_pnl), \
                closed_at = COALESCE($7, closed_at), note = COALESCE($8, note) \
             WHERE id = $1 AND ($2 IS NULL OR status = $2 OR status NOT IN ('closed', 'settled', 'failed'))",
        )
        .bind(id)
        .bind(u.status.map(|s| s.as_text()))
        .bind(u.quantity.map(|q| q.micros()))
        .bind(u.cost.map(|m| m.micros()))
        .bind(u.fees.map(|m| m.micros()))
        .bind(u.realized_pnl.map(|m| m.micros()))
        .bind(closed_at)
        .bind(u.note.as_deref())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, id, e))?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        match self.bundle(id).await? {
            Some(b) => Err(transition(OP, id, b.status.as_text(), u.status.map_or("(unchanged)", |s| s.as_text()))),
            None => Err(not_found(OP, "bundle", id)),
        }
    }

    /// One bundle with its legs.
    pub async fn bundle(&self, id: i64) -> Result<Option<BundleRecord>, StoreError> {
        const OP: &str = "read bundle";
        let row = sqlx::query(&format!("SELECT {BUNDLE_COLUMNS} FROM bundles WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, id, e))?;
        let Some(row) = row else { return Ok(None) };
        let mut bundle = bundle_from_row(&row, OP)?;
        bundle.legs = self.positions(id).await?;
        Ok(Some(bundle))
    }

    /// Every bundle not yet closed, settled or failed, with its legs, oldest first.
    pub async fn open_bundles(&self) -> Result<Vec<BundleRecord>, StoreError> {
        const OP: &str = "read open bundles";
        let rows = sqlx::query(&format!(
            "SELECT {BUNDLE_COLUMNS} FROM bundles WHERE status IN ('pending', 'open', 'repairing', 'closing') ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, "", e))?;
        let mut bundles = rows.iter().map(|r| bundle_from_row(r, OP)).collect::<Result<Vec<_>, _>>()?;
        let mut legs = self.open_bundle_positions().await?;
        for b in &mut bundles {
            b.legs = legs.remove(&b.id).unwrap_or_default();
        }
        Ok(bundles)
    }

    /// The intents of a bundle, oldest first.
    pub async fn intents(&self, bundle_id: i64) -> Result<Vec<IntentRecord>, StoreError> {
        const OP: &str = "read intents";
        let rows =
            sqlx::query("SELECT id, bundle_id, kind, created_at, state FROM intents WHERE bundle_id = $1 ORDER BY id")
                .bind(bundle_id)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| StoreError::query(OP, bundle_id, e))?;
        rows.iter()
            .map(|row| {
                let c = Cols::new(row, OP, "id");
                Ok(IntentRecord {
                    id: c.i64("id")?,
                    bundle_id: c.i64("bundle_id")?,
                    kind: c.enum_("kind")?,
                    created_at: c.i64("created_at")?,
                    state: c.enum_("state")?,
                })
            })
            .collect()
    }

    /// One order by client order id.
    pub async fn order(&self, client_order_id: &str) -> Result<Option<OrderRecord>, StoreError> {
        const OP: &str = "read order";
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = $1"))
            .bind(client_order_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, client_order_id, e))?;
        row.as_ref().map(|r| order_from_row(r, OP)).transpose()
    }

    /// An order by the venue's id for it (Kalshi order id, Polymarket order hash, transaction hash).
    pub async fn order_by_venue_id(&self, venue_order_id: &str) -> Result<Option<OrderRecord>, StoreError> {
        const OP: &str = "read order by venue id";
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE venue_order_id = $1"))
            .bind(venue_order_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::query(OP, venue_order_id, e))?;
        row.as_ref().map(|r| order_from_row(r, OP)).transpose()
    }

    /// Every order of a bundle, in the order they were written.
    pub async fn orders_for_bundle(&self, bundle_id: i64) -> Result<Vec<OrderRecord>, StoreError> {
        const OP: &str = "read bundle orders";
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE bundle_id = $1 ORDER BY intent_id, created_at, client_order_id"
        ))
        .bind(bundle_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, bundle_id, e))?;
        rows.iter().map(|r| order_from_row(r, OP)).collect()
    }

    /// Every order still in `intent` or `unknown`, with its intent and bundle:
    /// what a restarted host must look up on the venues by client order id.
    pub async fn unresolved_orders(&self) -> Result<Vec<UnresolvedOrder>, StoreError> {
        const OP: &str = "read unresolved orders";
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE state IN ('intent', 'unknown') \
             ORDER BY created_at, client_order_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::query(OP, "", e))?;
        let orders = rows.iter().map(|r| order_from_row(r, OP)).collect::<Result<Vec<_>, _>>()?;

        let bundle_ids: BTreeSet<i64> = orders.iter().map(|o| o.bundle_id).collect();
        let mut bundles = HashMap::new();
        let mut intents = HashMap::new();
        for id in bundle_ids {
            let bundle = self.bundle(id).await?.ok_or_else(|| not_found(OP, "bundle", id))?;
            bundles.insert(id, bundle);
            for intent in self.intents(id).await? {
                intents.insert(intent.id, intent);
            }
        }
        orders
            .into_iter()
            .map(|order| {
                let intent =
                    intents.get(&order.intent_id).cloned().ok_or_else(|| not_found(OP, "intent", order.intent_id))?;
                let bundle =
                    bundles.get(&order.bundle_id).cloned().ok_or_else(|| not_found(OP, "bundle", order.bundle_id))?;
                Ok(UnresolvedOrder { order, intent, bundle })
            })
            .collect()
    }
}

/// Refuse what the database would refuse anyway, with a clearer message and
/// before a transaction is opened.
/// An intent's name: its first order's client order id. Client order ids are
/// unique per attempt, so the key is too, and whoever holds the orders can
/// name the intent without asking the database for its row id (an intent
/// written to the outbox has none yet).
pub fn intent_key(orders: &[NewOrder]) -> String {
    orders.first().map(|o| format!("intent:{}", o.client_order_id)).unwrap_or_default()
}

fn check_orders(op: &'static str, label: &str, orders: &[NewOrder]) -> Result<(), StoreError> {
    if orders.is_empty() {
        return Err(invalid(op, &label, "no orders"));
    }
    let mut seen = HashSet::new();
    for o in orders {
        if o.client_order_id.is_empty() {
            return Err(invalid(op, &label, "an order has no client order id"));
        }
        if !seen.insert(o.client_order_id.as_str()) {
            return Err(invalid(op, &label, &format!("client order id {:?} appears twice", o.client_order_id)));
        }
        if !o.quantity.is_positive() {
            return Err(invalid(op, &label, &format!("order {:?} has quantity {}", o.client_order_id, o.quantity)));
        }
    }
    Ok(())
}

async fn insert_intent(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    op: &'static str,
    bundle_id: i64,
    kind: IntentKind,
    intent_key: &str,
    now: TimestampMs,
) -> Result<i64, StoreError> {
    if intent_key.is_empty() {
        return Err(invalid(op, &bundle_id, "an intent needs a key"));
    }
    let row = sqlx::query(
        "INSERT INTO intents (bundle_id, kind, created_at, state, intent_key) \
         VALUES ($1, $2, $3, 'written', $4) RETURNING id",
    )
    .bind(bundle_id)
    .bind(kind.as_text())
    .bind(now)
    .bind(intent_key)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| StoreError::query(op, format!("bundle {bundle_id}"), e))?;
    Cols::new(&row, op, "id").i64("id")
}

/// All orders of an intent in one statement: one round trip whatever the leg count.
async fn insert_orders(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    op: &'static str,
    bundle_id: i64,
    intent_id: i64,
    orders: &[NewOrder],
    now: TimestampMs,
) -> Result<(), StoreError> {
    let mut sql = String::from(
        "INSERT INTO orders (client_order_id, intent_id, bundle_id, venue, market, side, action, quantity, \
                             limit_price, time_in_force, amount, state, venue_order_id, filled, notional, fee, \
                             reason, created_at, updated_at) VALUES ",
    );
    for i in 0..orders.len() {
        let p = |k: usize| 4 + i * ORDER_PARAMS + k;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, $1, $2, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 'intent', NULL, 0, 0, 0, '', $3, $3)",
            p(0),
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            p(7),
            p(8)
        ));
    }
    let mut q = sqlx::query(&sql).bind(intent_id).bind(bundle_id).bind(now);
    for o in orders {
        q = q
            .bind(o.client_order_id.as_str())
            .bind(o.market.venue.as_text())
            .bind(o.market.symbol.as_str())
            .bind(o.side.as_text())
            .bind(o.action.as_text())
            .bind(o.quantity.micros())
            .bind(o.limit_price.micros())
            .bind(o.time_in_force.as_text())
            .bind(o.amount.map(|a| a.micros()));
    }
    let coids = orders.iter().map(|o| o.client_order_id.as_str()).collect::<Vec<_>>().join(",");
    q.execute(&mut **tx).await.map_err(|e| StoreError::query(op, format!("orders {coids}"), e))?;
    Ok(())
}

pub(crate) fn bundle_from_row(row: &AnyRow, op: &'static str) -> Result<BundleRecord, StoreError> {
    let c = Cols::new(row, op, "id");
    Ok(BundleRecord {
        id: c.i64("id")?,
        strategy: c.text("strategy")?,
        link_id: c.i64("link_id")?,
        status: c.enum_::<BundleStatus>("status")?,
        quantity: c.qty("quantity")?,
        cost: c.money("cost")?,
        fees: c.money("fees")?,
        expected_payout: c.money("expected_payout")?,
        realized_pnl: c.money("realized_pnl")?,
        opened_at: c.i64("opened_at")?,
        closed_at: c.opt_i64("closed_at")?,
        resolves_at: c.i64("resolves_at")?,
        note: c.text("note")?,
        legs: Vec::new(),
    })
}

fn order_from_row(row: &AnyRow, op: &'static str) -> Result<OrderRecord, StoreError> {
    let c = Cols::new(row, op, "client_order_id");
    Ok(OrderRecord {
        client_order_id: c.text("client_order_id")?,
        intent_id: c.i64("intent_id")?,
        bundle_id: c.i64("bundle_id")?,
        market: c.market("venue", "market")?,
        side: c.enum_("side")?,
        action: c.enum_("action")?,
        quantity: c.qty("quantity")?,
        limit_price: c.price("limit_price")?,
        time_in_force: c.enum_("time_in_force")?,
        amount: c.opt_money("amount")?,
        state: c.enum_("state")?,
        venue_order_id: c.opt_text("venue_order_id")?,
        filled: c.qty("filled")?,
        notional: c.money("notional")?,
        fee: c.money("fee")?,
        reason: c.text("reason")?,
        created_at: c.i64("created_at")?,
        updated_at: c.i64("updated_at")?,
    })
}

fn transition(op: &'static str, id: impl ToString, from: &str, to: &str) -> StoreError {
    let err = StoreError::InvalidTransition { op, id: id.to_string(), from: from.to_string(), to: to.to_string() };
    err.count();
    err
}
