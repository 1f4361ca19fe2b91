//! Reconciliation: make the store agree with the venues.
//!
//! After a crash the store may hold orders in `intent` state (written, maybe
//! sent) or `unknown` (sent, answer lost). Each is looked up on its venue by
//! client order id: found, it is recorded as the venue says; not found, it
//! never arrived and nothing happened. Bundles are then rebuilt from their
//! orders (the source of truth, since positions are written after them),
//! repaired if their legs are unequal, and handed back to the engine. Finally
//! the positions we think we hold are compared with the venues' own; any drift
//! is logged, counted, and the market is kept out of new trades until resolved.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use arbytron_engine::Held;
use arbytron_model::MarketKey;
use arbytron_model::venue::{Action, OpenOrder, OrderStatus};
use arbytron_portfolio::{Drift, Leg, reconcile, signed};
use arbytron_sdk::{MarketId, Price, Qty, Venue};
use arbytron_store::{BundleStatus, OrderState};
use arbytron_telemetry::prometheus::IntGaugeVec;

use crate::executor::{BundleBook, Executor, LegBook};

pub static DRIFT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    arbytron_telemetry::gauge_vec(
        "arbytron_position_drift_markets",
        "Markets where our positions differ from the venue's (no new trades there until resolved)",
        &["venue"],
    )
});

pub static ORPHANS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    arbytron_telemetry::gauge_vec(
        "arbytron_orphan_orders",
        "Open orders at a venue that we did not place or think finished (no new trades in their markets)",
        &["venue"],
    )
});

/// What the engine knows about a market that execution needs to rebuild a leg.
#[derive(Clone, Debug)]
pub struct MarketRef {
    pub id: MarketId,
    pub tick: Price,
    pub pool: Option<(String, u32)>,
}

/// What one position check found.
#[derive(Clone, Debug, Default)]
pub struct PositionCheck {
    pub drifts: Vec<Drift>,
    /// Orders resting at a venue that we did not place, or think finished.
    pub orphans: Vec<OpenOrder>,
    /// Venues whose positions were read (drift elsewhere is unknown, not absent).
    pub checked: Vec<Venue>,
}

#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// Unresolved orders the venues answered for.
    pub resolved: usize,
    /// Unresolved orders no venue had: they never went out.
    pub never_sent: usize,
    /// Orders still unknown (venue unreachable): retried next time.
    pub still_unknown: usize,
    /// Bundles rebuilt and still held.
    pub held: Vec<Held>,
    /// Bundles repaired while recovering.
    pub repaired: usize,
}

impl Executor {
    /// Resolve every unresolved order with its venue, then rebuild and (if
    /// needed) repair every bundle that is not finished.
    /// `market` resolves a market for the legs; `link` maps a stored link id to the engine's.
    pub async fn recover(
        &self,
        market: &dyn Fn(&MarketKey) -> Option<MarketRef>,
        link: &dyn Fn(i64) -> Option<u32>,
    ) -> Recovery {
        let mut r = Recovery::default();
        match self.store().unresolved_orders().await {
            Ok(orders) => {
                for u in orders {
                    let Some(venue) = self.venue(u.order.market.venue) else {
                        r.still_unknown += 1;
                        continue;
                    };
                    match venue.find_order(&u.order.request()).await {
                        Ok(Some(report)) => {
                            self.record_result(&report).await;
                            r.resolved += 1;
                            tracing::info!(order = %u.order.client_order_id, status = ?report.status, filled = %report.filled, "reconciled an order with its venue");
                        }
                        Ok(None) => {
                            let report = arbytron_model::venue::OrderReport {
                                client_order_id: u.order.client_order_id.clone(),
                                venue_order_id: String::new(),
                                status: OrderStatus::Rejected { reason: "never reached the venue".into() },
                                filled: Qty::ZERO,
                                notional: arbytron_sdk::Money::ZERO,
                                fee: arbytron_sdk::Money::ZERO,
                            };
                            self.record_result(&report).await;
                            r.never_sent += 1;
                            tracing::info!(order = %u.order.client_order_id, "written but never sent: nothing to undo");
                        }
                        Err(e) => {
                            r.still_unknown += 1;
                            tracing::warn!(order = %u.order.client_order_id, error = %e, "venue unreachable; order stays unresolved");
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read unresolved orders"),
        }

        let bundles = match self.store().open_bundles().await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read open bundles");
                return r;
            }
        };
        for b in bundles {
            let orders = match self.store().orders_for_bundle(b.id).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(bundle = b.id, error = %e, "cannot read a bundle's orders");
                    continue;
                }
            };
            // Legs in the order the entry wrote them, rebuilt from every fill.
            let mut legs: Vec<LegBook> = Vec::new();
            let mut unresolved = false;
            for o in &orders {
                unresolved |= o.state.is_unresolved();
                let i = match legs.iter().position(|l| l.market == o.market && l.side == o.side) {
                    Some(i) => i,
                    None => {
                        let Some(m) = market(&o.market) else {
                            tracing::warn!(bundle = b.id, market = %o.market, "market unknown to the engine; bundle left as is");
                            continue;
                        };
                        legs.push(LegBook {
                            market: o.market.clone(),
                            market_id: m.id,
                            side: o.side,
                            tick: m.tick,
                            pool: m.pool,
                            limit: o.limit_price,
                            leg: Leg::default(),
                        });
                        legs.len() - 1
                    }
                };
                if o.filled.is_positive()
                    && matches!(o.state, OrderState::Filled | OrderState::Partial | OrderState::Cancelled)
                {
                    let leg = &mut legs[i].leg;
                    match o.action {
                        Action::Buy => leg.buy(o.filled, o.notional, o.fee),
                        Action::Sell => {
                            if let Err(e) = leg.sell(o.filled, o.notional, o.fee) {
                                // The store says we sold more than we bought: keep what
                                // the buys show and let the drift check flag the market.
                                tracing::error!(bundle = b.id, order = %o.client_order_id, error = %e, "recorded sell exceeds the recorded position");
                            }
                        }
                    }
                }
            }
            let Some(engine_link) = link(b.link_id) else {
                tracing::warn!(
                    bundle = b.id,
                    link = b.link_id,
                    "bundle's link is no longer configured; held without exit monitoring"
                );
                continue;
            };
            let mut book = BundleBook {
                id: b.id as u64,
                strategy: b.strategy.clone(),
                link: engine_link,
                opened_at: b.opened_at,
                resolves_at: b.resolves_at,
                realized: legs.iter().map(|l| l.leg.realized).sum(),
                legs,
                target: b.quantity,
                payout: b.expected_payout,
            };
            if unresolved {
                tracing::warn!(bundle = b.id, "bundle still has unresolved orders; keeping it out of repair for now");
                self.adopt(book);
                continue;
            }
            let balanced = book.legs.iter().all(|l| l.leg.qty - book.hedged() < crate::executor::DUST);
            if !balanced || b.status == BundleStatus::Repairing || b.status == BundleStatus::Pending {
                self.repair_recovered(&mut book, b.quantity, b.expected_payout).await;
                r.repaired += 1;
            }
            if let Some(h) = book.exposure() {
                r.held.push(h);
                self.adopt(book);
            }
        }
        r
    }

    /// Compare what our open bundles hold with each venue's positions.
    /// Returns the drifts (also logged and counted) and which venues answered:
    /// a venue that could not be read says nothing about its markets.
    pub async fn check_positions(&self) -> PositionCheck {
        let mut drifts = Vec::new();
        let mut orphans = Vec::new();
        let mut checked = Vec::new();
        for venue in self.venue_ids() {
            let Some(v) = self.venue(venue) else { continue };
            let asked = std::time::Instant::now();
            let (positions, open) = match tokio::try_join!(v.positions(), v.open_orders()) {
                Ok(both) => both,
                Err(e) => {
                    tracing::warn!(%venue, error = %e, "cannot read positions or open orders; reconciliation skipped for this venue");
                    continue;
                }
            };
            checked.push(venue);
            let venue_orphans = self.orphans(open, asked).await;
            ORPHANS.with_label_values(&[venue.as_str()]).set(venue_orphans.len() as i64);
            for o in &venue_orphans {
                tracing::error!(
                    market = %o.market, venue_order_id = %o.venue_order_id, client_order_id = ?o.client_order_id,
                    remaining = %o.remaining, price = %o.price,
                    "open order we did not place (or thought finished): no new trades in this market while it rests"
                );
            }
            orphans.extend(venue_orphans);
            // Our side is read after the venue's, and markets with order activity
            // since we asked are left out: either side may be a moment ahead there.
            // Resolved markets settle on their own terms (a venue may keep the
            // tokens until they are redeemed): not drift either.
            let skip = |m: &MarketKey| self.is_resolved(m) || self.busy_since(m, asked);
            let mut ours: BTreeMap<MarketKey, Qty> = BTreeMap::new();
            for b in self.bundles() {
                for l in b.legs.iter().filter(|l| l.market.venue == venue && !skip(&l.market)) {
                    *ours.entry(l.market.clone()).or_default() += signed(l.side, l.leg.qty);
                }
            }
            let positions: Vec<_> = positions.into_iter().filter(|p| !skip(&p.market)).collect();
            let d = reconcile(&ours, &positions);
            DRIFT.with_label_values(&[venue.as_str()]).set(d.len() as i64);
            for x in &d {
                tracing::error!(market = %x.market, ours = %x.ours, venue = %x.venue, "position drift: no new trades in this market until it is resolved");
            }
            drifts.extend(d);
        }
        PositionCheck { drifts, orphans, checked }
    }

    /// Open orders the store does not account for as possibly resting: no
    /// client order id of ours, or one we recorded as finished. Markets with
    /// order activity since `asked` are left out.
    async fn orphans(&self, open: Vec<OpenOrder>, asked: std::time::Instant) -> Vec<OpenOrder> {
        let mut out = Vec::new();
        for o in open {
            if self.busy_since(&o.market, asked) {
                continue;
            }
            let ours = match o.client_order_id.as_deref() {
                Some(id) => match self.store().order(id).await {
                    Ok(rec) => rec.is_some_and(|r| {
                        matches!(
                            r.state,
                            OrderState::Intent | OrderState::Acked | OrderState::Partial | OrderState::Unknown
                        )
                    }),
                    // Cannot tell: do not accuse it.
                    Err(_) => true,
                },
                None => false,
            };
            if !ours {
                out.push(o);
            }
        }
        out
    }
}
