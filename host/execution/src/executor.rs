//! Carrying out the engine's decisions.
//!
//! Every order is written to the store (as part of an intent) before it is
//! sent, so a crash never leaves an order nobody knows about. All legs of a
//! bundle go out at once. When legs come back unequal (a partial fill, a
//! rejection), the repair policy first retries the missing quantity within a
//! price bound, then sells back the excess within a loss cap, so the bundle
//! ends hedged; whatever that costs is booked as realised PnL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbytron_engine::metrics::{FILLS, LEG_SECONDS, ORDERS};
use arbytron_engine::{EntryPlan, ExitPlan, Held, SettlePlan};
use arbytron_model::venue::{Action, ExecutionVenue, OrderReport, OrderRequest, OrderStatus, TimeInForce};
use arbytron_model::{MarketKey, TimestampMs};
use arbytron_portfolio::Leg;
use arbytron_sdk::money::{Rounding, div_round};
use arbytron_sdk::{MarketId, Money, Price, Qty, Side, Venue};
use arbytron_store::{
    BundleStatus, BundleUpdate, IntentKind, IntentState, Ledger, LedgerError, NewBundle, PositionRecord, Store,
    intent_key,
};
use futures::future::join_all;
use parking_lot::Mutex;

use crate::ids::{OrderIds, Purpose};

/// Identical resends of orders whose answer was lost, by venue.
static RESENDS: std::sync::LazyLock<arbytron_telemetry::prometheus::IntCounterVec> = std::sync::LazyLock::new(|| {
    arbytron_telemetry::counter_vec(
        "arbytron_order_resends_total",
        "Orders sent again, identically, after the venue showed no trace of a send whose answer was lost",
        &["venue"],
    )
});

/// Less than this much of one leg beyond the others is not a position: a
/// pool leg buys "at least" its quantity and may receive a base unit more.
/// Such dust stays with the bundle (in its cost) and pays out with it.
pub const DUST: Qty = Qty::from_hundredths(1);

/// The venues execution can reach.
pub type Venues = HashMap<Venue, Arc<dyn ExecutionVenue>>;

/// How orders are sent and how unequal legs are repaired (`[execution]`).
#[derive(Clone, Debug, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// Book legs: `fill_or_kill` or `immediate_or_cancel`. Pool legs are always all-or-nothing.
    pub time_in_force: TimeInForce,
    /// How long to wait for a venue's answer to one order.
    pub leg_timeout_ms: u64,
    /// Rounds of re-buying a short leg before selling back the excess.
    pub retry_attempts: u32,
    /// A repair order may pay this much more per contract than the original limit.
    pub retry_allowance: Price,
    /// The most a repair or unwind may lose on one bundle (versus its $1
    /// payout): `loss_cap_ppm` of the bundle's cost, but never more than
    /// `loss_cap`. It bounds the prices accepted; the repair orders' own fees
    /// come on top.
    pub loss_cap: Money,
    pub loss_cap_ppm: u32,
    /// How long to keep asking the venue about an order whose answer was lost
    /// (and resending it, identically, while the venue shows it never arrived)
    /// before leaving it to reconciliation as unknown.
    pub unknown_window_ms: u64,
}

impl Default for ExecConfig {
    fn default() -> ExecConfig {
        ExecConfig {
            time_in_force: TimeInForce::ImmediateOrCancel,
            leg_timeout_ms: 10_000,
            retry_attempts: 2,
            retry_allowance: Price::from_micros_const(20_000),
            loss_cap: Money::from_dollars(50),
            loss_cap_ppm: 100_000,
            unknown_window_ms: default_unknown_window_ms(),
        }
    }
}

const fn default_unknown_window_ms() -> u64 {
    30_000
}

/// One leg of a held bundle.
#[derive(Clone, Debug)]
pub struct LegBook {
    pub market: MarketKey,
    pub market_id: MarketId,
    pub side: Side,
    pub tick: Price,
    pub pool: Option<(String, u32)>,
    /// The entry order's limit price: repairs may pay a bounded allowance above it.
    pub limit: Price,
    pub leg: Leg,
}

/// A bundle as execution keeps it.
#[derive(Clone, Debug)]
pub struct BundleBook {
    /// The store's id.
    pub id: u64,
    pub strategy: String,
    pub link: u32,
    pub opened_at: TimestampMs,
    pub resolves_at: TimestampMs,
    pub legs: Vec<LegBook>,
    pub realized: Money,
    /// The size the entry aimed for and what it pays: what repairs work towards.
    pub target: Qty,
    pub payout: Money,
}

impl BundleBook {
    /// Contracts every leg holds (what the bundle pays at settlement).
    pub fn hedged(&self) -> Qty {
        self.legs.iter().map(|l| l.leg.qty).min().unwrap_or(Qty::ZERO)
    }

    pub fn cost(&self) -> Money {
        self.legs.iter().map(|l| l.leg.cost).sum()
    }

    pub fn fees(&self) -> Money {
        self.legs.iter().map(|l| l.leg.fees).sum()
    }

    fn balanced(&self) -> bool {
        let q = self.hedged();
        self.legs.iter().all(|l| l.leg.qty - q < DUST)
    }

    /// The engine's view: everything held (legs may differ while a repair is
    /// pending), or `None` if nothing is.
    pub fn exposure(&self) -> Option<Held> {
        if self.legs.iter().all(|l| l.leg.qty < DUST) {
            return None;
        }
        self.view()
    }

    /// The engine's view of a hedged bundle, if any of it is hedged.
    pub fn held(&self) -> Option<Held> {
        if !self.hedged().is_positive() {
            return None;
        }
        self.view()
    }

    fn view(&self) -> Option<Held> {
        let q = self.hedged();
        Some(Held {
            bundle: self.id,
            strategy: self.strategy.clone(),
            link: self.link,
            quantity: q,
            legs: self.legs.iter().map(|l| (l.market_id, l.side, l.leg.qty, l.leg.cost)).collect(),
            cost: self.cost(),
            opened_at: self.opened_at,
            resolves_at: self.resolves_at,
        })
    }
}

/// What an entry came to.
#[derive(Clone, Debug)]
pub struct EntryOutcome {
    pub provisional: u64,
    pub link: u32,
    /// The store's id, once the intent was written.
    pub bundle: Option<u64>,
    pub held: Option<Held>,
    pub realized: Money,
    pub status: BundleStatus,
    /// Venues that failed (for the circuit breaker).
    pub venue_errors: Vec<Venue>,
    /// Contracts left unhedged after every repair (should be zero; logged loudly otherwise).
    pub unhedged: Qty,
}

/// What an exit or settlement came to.
#[derive(Clone, Debug)]
pub struct ExitOutcome {
    pub bundle: u64,
    pub remaining: Option<Held>,
    pub realized: Money,
    pub status: BundleStatus,
    pub venue_errors: Vec<Venue>,
}

/// The answer to one order, or why there is none.
struct Sent {
    report: Option<OrderReport>,
    error: Option<(Venue, String)>,
}

pub struct Executor {
    venues: Venues,
    /// Money records go through the ledger (the store, or its outbox while
    /// the store is away); reads go to the store behind it.
    ledger: Arc<Ledger>,
    cfg: ExecConfig,
    ids: OrderIds,
    bundles: Mutex<HashMap<u64, BundleBook>>,
    /// Markets known to have resolved: what a venue still shows there awaits
    /// payout or redemption, and is not drift.
    resolved: Mutex<HashMap<MarketKey, Option<Side>>>,
    /// Markets with orders being sent or booked right now: a venue may show
    /// their fills before our books do, so reconciliation leaves them alone.
    in_flight: Arc<Mutex<HashMap<MarketKey, Activity>>>,
    clock: fn() -> TimestampMs,
}

/// Order activity on one market.
#[derive(Default)]
struct Activity {
    running: u32,
    last_end: Option<Instant>,
}

/// Marks markets as in flight until dropped.
struct Busy {
    markets: Vec<MarketKey>,
    in_flight: Arc<Mutex<HashMap<MarketKey, Activity>>>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut m = self.in_flight.lock();
        let now = Instant::now();
        for k in &self.markets {
            if let Some(a) = m.get_mut(k) {
                a.running = a.running.saturating_sub(1);
                a.last_end = Some(now);
            }
        }
    }
}

pub fn system_now() -> TimestampMs {
    arbytron_integration::now_ms()
}

fn status_label(r: &OrderReport) -> &'static str {
    match r.status {
        OrderStatus::Filled => "filled",
        OrderStatus::PartiallyFilled { .. } => "partial",
        OrderStatus::Resting => "resting",
        OrderStatus::Cancelled => "unfilled",
        OrderStatus::Rejected { .. } => "rejected",
    }
}

impl Executor {
    pub fn new(venues: Venues, ledger: Arc<Ledger>, cfg: ExecConfig) -> Executor {
        let now = system_now();
        Executor {
            venues,
            ledger,
            cfg,
            ids: OrderIds::new(now, std::process::id()),
            bundles: Mutex::new(HashMap::new()),
            resolved: Mutex::default(),
            in_flight: Arc::default(),
            clock: system_now,
        }
    }

    fn busy(&self, markets: impl IntoIterator<Item = MarketKey>) -> Busy {
        let markets: Vec<MarketKey> = markets.into_iter().collect();
        let mut m = self.in_flight.lock();
        for k in &markets {
            m.entry(k.clone()).or_default().running += 1;
        }
        Busy { markets, in_flight: self.in_flight.clone() }
    }

    /// Whether orders on `market` were being sent or booked at any time since
    /// `since`: our books and the venue's may disagree for a moment then.
    pub fn busy_since(&self, market: &MarketKey, since: Instant) -> bool {
        self.in_flight.lock().get(market).is_some_and(|a| a.running > 0 || a.last_end.is_some_and(|t| t >= since))
    }

    /// `market` has resolved (a feed said so): `result` is the winning side,
    /// or `None` for a void market.
    pub fn mark_resolved(&self, market: &MarketKey, result: Option<Side>) {
        self.resolved.lock().insert(market.clone(), result);
    }

    pub fn is_resolved(&self, market: &MarketKey) -> bool {
        self.resolved.lock().contains_key(market)
    }

    /// Legs of a bundle being repaired whose markets have resolved can be
    /// neither completed nor sold: book what resolution pays them (collecting
    /// it from the venue) and close them. Another bundle's redemption may
    /// already have swept their tokens; collecting again is harmless.
    async fn settle_resolved_legs(&self, book: &mut BundleBook) -> Vec<Venue> {
        let mut errors = Vec::new();
        for i in 0..book.legs.len() {
            let l = &book.legs[i];
            if l.leg.qty.is_zero() {
                continue;
            }
            let Some(result) = self.resolved.lock().get(&l.market).copied() else { continue };
            if let Some(venue) = self.venue(l.market.venue) {
                match venue.redeem(&l.market).await {
                    Ok(Some(r)) => {
                        let leg = &mut book.legs[i].leg;
                        leg.cost += r.cost;
                        leg.fees += r.cost;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(bundle = book.id, market = %l.market, error = %e, "cannot collect a resolved leg yet");
                        errors.push(l.market.venue);
                        continue;
                    }
                }
            }
            let l = &mut book.legs[i];
            let paid = match result {
                Some(winner) if winner == l.side => l.leg.qty.payout(),
                Some(_) => Money::ZERO,
                None => l.leg.cost, // void: returned at cost
            };
            let realized = paid - l.leg.cost;
            book.realized += realized;
            l.leg = Leg { realized: l.leg.realized + realized, fees: l.leg.fees, ..Leg::default() };
            tracing::info!(bundle = book.id, market = %l.market, paid = %paid, realized = %realized, "resolved leg settled during repair");
        }
        errors
    }

    /// The store, for reads (writes go through [`Executor::ledger`]).
    pub fn store(&self) -> &Store {
        self.ledger.store()
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub fn bundle(&self, id: u64) -> Option<BundleBook> {
        self.bundles.lock().get(&id).cloned()
    }

    pub fn bundles(&self) -> Vec<BundleBook> {
        self.bundles.lock().values().cloned().collect()
    }

    pub fn venue(&self, v: Venue) -> Option<&Arc<dyn ExecutionVenue>> {
        self.venues.get(&v)
    }

    pub fn venue_ids(&self) -> Vec<Venue> {
        self.venues.keys().copied().collect()
    }

    /// Rebalance a bundle rebuilt after a restart and record the result.
    pub(crate) async fn repair_recovered(&self, book: &mut BundleBook, target: Qty, payout: Money) {
        self.rebalance(book, target, payout).await;
        let status = if book.hedged().is_positive() { BundleStatus::Open } else { BundleStatus::Failed };
        self.persist(book, status, "recovered after a restart").await;
    }

    /// Take over bundles restored from the store after a restart.
    pub fn adopt(&self, book: BundleBook) {
        self.bundles.lock().insert(book.id, book);
    }

    fn now(&self) -> TimestampMs {
        (self.clock)()
    }

    /// What a repair of a bundle costing `cost` may lose.
    fn loss_cap(&self, cost: Money) -> Money {
        let share = Money::from_micros(
            (cost.micros().max(0) as i128 * self.cfg.loss_cap_ppm as i128 / 1_000_000).min(i64::MAX as i128) as i64,
        );
        share.min(self.cfg.loss_cap)
    }

    /// Send one order and learn its outcome; a lost answer is looked up by
    /// client order id before the order is declared unknown.
    async fn send(&self, order: &OrderRequest) -> Sent {
        let venue_id = order.market.venue;
        let Some(venue) = self.venues.get(&venue_id) else {
            let report = rejected(order, format!("no connector for {venue_id}"));
            self.record_result(&report).await;
            return Sent { report: Some(report), error: None };
        };
        let started = Instant::now();
        let timeout = Duration::from_millis(self.cfg.leg_timeout_ms);
        let outcome = tokio::time::timeout(timeout, venue.place_order(order)).await;
        let report = match outcome {
            Ok(Ok(r)) => Ok(r),
            // Lost, garbled, or "already have it": only the venue can say what happened.
            Ok(Err(e)) if e.is_ambiguous() => Err(e.to_string()),
            // Anything else (refused, rate limited, busy) means nothing happened.
            Ok(Err(e)) => Ok(rejected(order, e.to_string())),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        let report = match report {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(order = %order.client_order_id, venue = %venue_id, reason = %why, "order outcome unknown; asking the venue");
                match self.lookup(venue.as_ref(), order).await {
                    Some(r) => r,
                    None => {
                        if let Err(e) = self.ledger.mark_order_unknown(&order.client_order_id, &why).await {
                            tracing::error!(order = %order.client_order_id, error = %e, "could not record an order as unknown");
                        }
                        ORDERS.with_label_values(&[venue_id.as_str(), "unknown"]).inc();
                        return Sent { report: None, error: Some((venue_id, why)) };
                    }
                }
            }
        };
        LEG_SECONDS.with_label_values(&[venue_id.as_str()]).observe(started.elapsed().as_secs_f64());
        ORDERS.with_label_values(&[venue_id.as_str(), status_label(&report)]).inc();
        if report.filled.is_positive() {
            FILLS.with_label_values(&[venue_id.as_str()]).inc();
        }
        self.record_result(&report).await;
        let error = matches!(report.status, OrderStatus::Rejected { .. }).then(|| (venue_id, "rejected".to_string()));
        Sent { report: Some(report), error }
    }

    /// The answer to `order` was lost: find out what happened without ever
    /// letting it execute twice. Ask the venue (by client order id; the
    /// connector also looks at open orders and fills where it must). Found:
    /// that is the answer. Not there: the venue never saw it, or it is still
    /// on its way; send the identical request again, which the venue
    /// deduplicates, so at most one of the two can execute. A duplicate
    /// refusal means the first arrived meanwhile: ask again. `None` when the
    /// venue could not tell within [`ExecConfig::unknown_window_ms`]; the
    /// order then stays unknown for reconciliation, and no repair guesses.
    async fn lookup(&self, venue: &dyn ExecutionVenue, order: &OrderRequest) -> Option<OrderReport> {
        let deadline = Instant::now() + Duration::from_millis(self.cfg.unknown_window_ms);
        let timeout = Duration::from_millis(self.cfg.leg_timeout_ms);
        let mut pause = Duration::from_millis(100);
        for attempt in 0u32.. {
            if attempt > 0 {
                if Instant::now() >= deadline {
                    return None;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            match venue.find_order(order).await {
                Ok(Some(r)) => return Some(r),
                Ok(None) => {}
                // The venue cannot be asked right now: ask again.
                Err(e) => {
                    tracing::debug!(order = %order.client_order_id, error = %e, "cannot ask the venue about an order yet");
                    continue;
                }
            }
            RESENDS.with_label_values(&[order.market.venue.as_str()]).inc();
            tracing::warn!(order = %order.client_order_id, attempt, "the venue has no such order; sending the identical request again");
            match tokio::time::timeout(timeout, venue.place_order(order)).await {
                Ok(Ok(r)) => return Some(r),
                // Lost again, or the first send reached the venue after all: ask again.
                Ok(Err(e)) if e.is_ambiguous() => {}
                // The venue took neither: nothing happened.
                Ok(Err(e)) => return Some(rejected(order, e.to_string())),
                Err(_) => {}
            }
        }
        None
    }

    /// Send `orders` together; book fills into `book`.
    /// Write the orders' intent, then send them, then close the intent; the
    /// venues that failed, or `None` (nothing sent) when the intent cannot be
    /// written, since an order the store does not know of could not be
    /// reconciled after a crash.
    async fn dispatch_under_intent(
        &self,
        book: &mut BundleBook,
        kind: IntentKind,
        orders: &[(usize, OrderRequest)],
    ) -> Option<Vec<Venue>> {
        let requests: Vec<OrderRequest> = orders.iter().map(|(_, o)| o.clone()).collect();
        let intent = match self.ledger.add_intent(book.id as i64, kind, &requests).await {
            Ok(_) => intent_key(&requests),
            Err(e) => {
                tracing::error!(bundle = book.id, ?kind, error = %e, "cannot write the intent; not sending its orders");
                return None;
            }
        };
        let (errors, _) = self.dispatch(book, orders).await;
        self.close_intent(&intent).await;
        Some(errors)
    }

    async fn dispatch(&self, book: &mut BundleBook, orders: &[(usize, OrderRequest)]) -> (Vec<Venue>, bool) {
        let sent = join_all(orders.iter().map(|(_, o)| self.send(o))).await;
        let mut errors = Vec::new();
        let mut unknown = false;
        for ((leg, order), s) in orders.iter().zip(sent) {
            if let Some((v, _)) = s.error {
                errors.push(v);
            }
            match s.report {
                Some(r) if r.filled.is_positive() => {
                    let l = &mut book.legs[*leg].leg;
                    match order.action {
                        Action::Buy => l.buy(r.filled, r.notional, r.fee),
                        Action::Sell => match l.sell(r.filled, r.notional, r.fee) {
                            Ok(pnl) => book.realized += pnl,
                            Err(e) => {
                                tracing::error!(order = %order.client_order_id, error = %e, "venue reports selling more than held")
                            }
                        },
                    }
                }
                Some(_) => {}
                None => unknown = true,
            }
        }
        (errors, unknown)
    }

    /// Buy a bundle.
    pub async fn enter(&self, plan: &EntryPlan) -> EntryOutcome {
        let _busy = self.busy(plan.legs.iter().map(|l| l.market.clone()));
        let now = self.now();
        let mut outcome = EntryOutcome {
            provisional: plan.bundle,
            link: plan.link,
            bundle: None,
            held: None,
            realized: Money::ZERO,
            status: BundleStatus::Failed,
            venue_errors: Vec::new(),
            unhedged: Qty::ZERO,
        };
        let orders: Vec<(usize, OrderRequest)> = plan
            .legs
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let pool = l.pool.is_some();
                (
                    i,
                    OrderRequest {
                        client_order_id: self.ids.next(plan.bundle, Purpose::Entry, i, now),
                        market: l.market.clone(),
                        side: l.side,
                        action: Action::Buy,
                        quantity: l.quantity,
                        limit_price: l.limit_price,
                        time_in_force: if pool { TimeInForce::FillOrKill } else { self.cfg.time_in_force },
                        amount: pool.then_some(l.amount),
                    },
                )
            })
            .collect();
        let Some(link_id) = plan.link_store_id else {
            tracing::error!(link = %plan.link_name, "link not in the store; not trading");
            return outcome;
        };
        let new = NewBundle {
            strategy: plan.strategy.clone(),
            link_id,
            quantity: plan.quantity,
            cost: plan.cost,
            fees: plan.fees,
            expected_payout: plan.payout,
            opened_at: now,
            resolves_at: plan.resolves_at,
            note: format!("{} ({})", plan.link_name, self.ids.run()),
        };
        let requests: Vec<OrderRequest> = orders.iter().map(|(_, o)| o.clone()).collect();
        // Intent before action: if this fails, nothing is sent.
        let intent = intent_key(&requests);
        let bundle_id = match self.ledger.begin_bundle(&new, &requests).await {
            Ok((bundle_id, _)) => bundle_id,
            Err(e) => {
                tracing::error!(link = %plan.link_name, error = %e, "could not write the intent; not trading");
                return outcome;
            }
        };
        outcome.bundle = Some(bundle_id as u64);
        let mut book = BundleBook {
            id: bundle_id as u64,
            strategy: plan.strategy.clone(),
            link: plan.link,
            opened_at: now,
            resolves_at: plan.resolves_at,
            legs: plan
                .legs
                .iter()
                .map(|l| LegBook {
                    market: l.market.clone(),
                    market_id: l.market_id,
                    side: l.side,
                    tick: l.tick,
                    pool: l.pool.clone(),
                    limit: l.limit_price,
                    leg: Leg::default(),
                })
                .collect(),
            realized: Money::ZERO,
            target: plan.quantity,
            payout: plan.payout,
        };
        let (errors, unknown) = self.dispatch(&mut book, &orders).await;
        outcome.venue_errors.extend(errors);
        self.close_intent(&intent).await;
        if unknown {
            // Repairing on a guess could double a leg: leave it to reconciliation.
            self.persist(&book, BundleStatus::Repairing, "an order's outcome is unknown; awaiting reconciliation")
                .await;
            outcome.status = BundleStatus::Repairing;
            outcome.held = book.held();
            self.bundles.lock().insert(book.id, book);
            return outcome;
        }
        let errors = self.rebalance(&mut book, plan.quantity, plan.payout).await;
        outcome.venue_errors.extend(errors);
        outcome.unhedged = unhedged(&book);
        outcome.realized = book.realized;
        let hedged = book.hedged();
        outcome.status = if outcome.unhedged.is_positive() {
            // Still exposed: keep it, keep trying (see `repair_pending`), shout.
            BundleStatus::Repairing
        } else if hedged.is_positive() {
            BundleStatus::Open
        } else {
            BundleStatus::Failed
        };
        let note = if outcome.unhedged.is_positive() {
            tracing::error!(bundle = book.id, unhedged = %outcome.unhedged, "bundle left unhedged after every repair: needs a human");
            format!("UNHEDGED {} contracts after repair", outcome.unhedged)
        } else if hedged < plan.quantity {
            format!("filled {hedged} of {}", plan.quantity)
        } else {
            String::new()
        };
        self.persist(&book, outcome.status, &note).await;
        outcome.held = book.exposure();
        if outcome.held.is_some() {
            self.bundles.lock().insert(book.id, book);
        }
        tracing::info!(
            bundle = bundle_id, link = %plan.link_name, strategy = %plan.strategy, status = ?outcome.status,
            quantity = %hedged, realized = %outcome.realized, "entry finished"
        );
        outcome
    }

    /// Make every leg hold the same quantity: re-buy short legs within a price
    /// bound, then sell back what still sticks out, within the loss cap.
    async fn rebalance(&self, book: &mut BundleBook, target: Qty, payout: Money) -> Vec<Venue> {
        let mut errors = Vec::new();
        // A resolved market can no longer be traded: settle its legs, and sell
        // back what the others hold instead of completing the bundle.
        if book.legs.iter().any(|l| self.is_resolved(&l.market)) {
            errors.extend(self.settle_resolved_legs(book).await);
            if !book.balanced() {
                errors.extend(self.unwind(book).await);
            }
            return errors;
        }
        for _ in 0..self.cfg.retry_attempts {
            if book.legs.iter().all(|l| l.leg.qty >= target || target - l.leg.qty < DUST) {
                break;
            }
            // Nothing filled anywhere: no exposure, nothing to repair.
            if book.legs.iter().all(|l| l.leg.qty.is_zero()) {
                return errors;
            }
            let now = self.now();
            let spent = book.cost();
            let missing: Vec<(usize, Qty)> = book
                .legs
                .iter()
                .enumerate()
                .filter(|(_, l)| target - l.leg.qty >= DUST)
                .map(|(i, l)| (i, target - l.leg.qty))
                .collect();
            let mut orders = Vec::new();
            for &(i, m) in &missing {
                let l = &book.legs[i];
                // Worst case after this order: we pay `spent` plus the missing
                // contracts and still get `payout`; keep the loss within the cap.
                let budget = payout + self.loss_cap(spent) - spent;
                let others: i64 = missing.iter().filter(|(j, _)| *j != i).map(|(_, q)| q.micros()).sum();
                let share = Money::from_micros(budget.micros() * m.micros() / (m.micros() + others).max(1));
                // Per contract, capped at $1 (a budget beyond that does not bind).
                let bound = if share.is_positive() {
                    share.per_contract(m, Rounding::Down).unwrap_or(Price::ONE)
                } else {
                    Price::ZERO
                };
                let wanted =
                    Price::from_micros((l.limit.micros() + self.cfg.retry_allowance.micros()).min(Price::ONE.micros()))
                        .unwrap_or(Price::ONE);
                let limit = round_to_tick(wanted.min(bound), l.tick, Rounding::Down);
                if limit.micros() <= 0 || limit >= Price::ONE {
                    continue;
                }
                let pool = l.pool.is_some();
                orders.push((
                    i,
                    OrderRequest {
                        client_order_id: self.ids.next(book.id, Purpose::Repair, i, now),
                        market: l.market.clone(),
                        side: l.side,
                        action: Action::Buy,
                        quantity: m,
                        limit_price: limit,
                        time_in_force: if pool { TimeInForce::FillOrKill } else { TimeInForce::ImmediateOrCancel },
                        amount: pool.then(|| m.value_at(limit, Rounding::Down)),
                    },
                ));
            }
            if orders.is_empty() {
                break;
            }
            let Some(e) = self.dispatch_under_intent(book, IntentKind::Repair, &orders).await else { break };
            errors.extend(e);
        }
        if !book.balanced() {
            errors.extend(self.unwind(book).await);
        }
        errors
    }

    /// Sell back what exceeds the smallest leg, no lower than the loss cap allows.
    async fn unwind(&self, book: &mut BundleBook) -> Vec<Venue> {
        let mut errors = Vec::new();
        for _ in 0..self.cfg.retry_attempts.max(1) {
            let common = book.hedged();
            let loss_left = self.loss_cap(book.cost()) + book.realized.min(Money::ZERO);
            let now = self.now();
            let mut orders = Vec::new();
            let excess_legs = book.legs.iter().filter(|l| l.leg.qty - common >= DUST).count().max(1);
            // The cap is for the whole bundle: legs selling back share it.
            let budget = Money::from_micros(loss_left.max(Money::ZERO).micros() / excess_legs as i64);
            for (i, l) in book.legs.iter().enumerate() {
                let excess = l.leg.qty - common;
                if excess < DUST {
                    continue;
                }
                let basis = l.leg.cost_of(excess);
                let floor = (basis - budget).per_contract(excess, Rounding::Up).unwrap_or(Price::ZERO);
                let limit = round_to_tick(floor, l.tick, Rounding::Up).max(l.tick.max(Price::from_micros_const(1)));
                orders.push((i, self.sell_request(book.id, l, i, excess, limit, Purpose::Unwind, now)));
            }
            if orders.is_empty() {
                break;
            }
            let Some(e) = self.dispatch_under_intent(book, IntentKind::Unwind, &orders).await else { break };
            errors.extend(e);
            if book.balanced() {
                break;
            }
        }
        errors
    }

    /// Retry the repair of every bundle still holding unequal legs (a leg
    /// that could not be bought or sold back at an acceptable price earlier).
    pub async fn repair_pending(&self) -> Vec<ExitOutcome> {
        let pending: Vec<BundleBook> =
            self.bundles.lock().values().filter(|b| unhedged(b).is_positive()).cloned().collect();
        let mut out = Vec::new();
        for mut book in pending {
            let _busy = self.busy(book.legs.iter().map(|l| l.market.clone()));
            let before = book.realized;
            let (target, payout) = (book.target, book.payout);
            let errors = self.rebalance(&mut book, target, payout).await;
            let left = unhedged(&book);
            let status = if left.is_positive() {
                BundleStatus::Repairing
            } else if book.hedged().is_positive() {
                BundleStatus::Open
            } else {
                BundleStatus::Failed
            };
            let note =
                if left.is_positive() { format!("UNHEDGED {left} contracts: repair pending") } else { String::new() };
            self.persist(&book, status, &note).await;
            let remaining = book.exposure();
            let realized = book.realized - before;
            tracing::info!(bundle = book.id, status = ?status, unhedged = %left, realized = %realized, "repair retried");
            if remaining.is_some() {
                self.bundles.lock().insert(book.id, book.clone());
            } else {
                self.bundles.lock().remove(&book.id);
            }
            out.push(ExitOutcome { bundle: book.id, remaining, realized, status, venue_errors: errors });
        }
        out
    }

    /// An immediate sale of `qty` of a leg at no less than `limit`.
    #[allow(clippy::too_many_arguments)]
    fn sell_request(
        &self,
        bundle: u64,
        l: &LegBook,
        leg: usize,
        qty: Qty,
        limit: Price,
        purpose: Purpose,
        now: TimestampMs,
    ) -> OrderRequest {
        OrderRequest {
            client_order_id: self.ids.next(bundle, purpose, leg, now),
            market: l.market.clone(),
            side: l.side,
            action: Action::Sell,
            quantity: qty,
            limit_price: limit,
            // A pool swap is all or nothing; a book sale takes what it can.
            time_in_force: if l.pool.is_some() { TimeInForce::FillOrKill } else { TimeInForce::ImmediateOrCancel },
            amount: None,
        }
    }

    /// Sell a held bundle back.
    pub async fn exit(&self, plan: &ExitPlan) -> ExitOutcome {
        let _busy = self.busy(plan.legs.iter().map(|l| l.market.clone()));
        let Some(mut book) = self.bundle(plan.bundle) else {
            return ExitOutcome {
                bundle: plan.bundle,
                remaining: None,
                realized: Money::ZERO,
                status: BundleStatus::Failed,
                venue_errors: Vec::new(),
            };
        };
        let now = self.now();
        let realized_before = book.realized;
        let orders: Vec<(usize, OrderRequest)> = plan
            .legs
            .iter()
            .filter_map(|x| {
                let i = book.legs.iter().position(|l| l.market == x.market && l.side == x.side)?;
                let l = &book.legs[i];
                let limit = round_to_tick(x.limit_price, l.tick, Rounding::Up);
                Some((i, self.sell_request(book.id, l, i, x.quantity.min(l.leg.qty), limit, Purpose::Exit, now)))
            })
            .collect();
        let requests: Vec<OrderRequest> = orders.iter().map(|(_, o)| o.clone()).collect();
        let mut errors = Vec::new();
        let written = self.ledger.add_intent(book.id as i64, IntentKind::Exit, &requests).await;
        if let Err(e) = &written {
            tracing::error!(bundle = book.id, error = %e, "cannot write the exit intent; not selling");
        }
        if written.is_ok() {
            let intent = intent_key(&requests);
            self.persist(&book, BundleStatus::Closing, "").await;
            let (e, _) = self.dispatch(&mut book, &orders).await;
            errors.extend(e);
            self.close_intent(&intent).await;
            if !book.balanced() {
                errors.extend(self.unwind(&mut book).await);
            }
        }
        let remaining = book.exposure();
        let left = unhedged(&book);
        let status = if left.is_positive() {
            BundleStatus::Repairing
        } else if remaining.is_some() {
            BundleStatus::Open
        } else {
            BundleStatus::Closed
        };
        let note = if left.is_positive() {
            format!("UNHEDGED {left} contracts after the exit: repair pending")
        } else if remaining.is_some() {
            format!("exit left {} held", book.hedged())
        } else {
            String::new()
        };
        self.persist(&book, status, &note).await;
        let realized = book.realized - realized_before;
        tracing::info!(bundle = book.id, status = ?status, realized = %realized, total_realized = %book.realized, "exit finished");
        if remaining.is_some() {
            self.bundles.lock().insert(book.id, book);
        } else {
            self.bundles.lock().remove(&plan.bundle);
        }
        ExitOutcome { bundle: plan.bundle, remaining, realized, status, venue_errors: errors }
    }

    /// A held bundle's markets resolved: collect the payout where a venue must
    /// be asked for it (outcome tokens redeemed on chain), then book it. If a
    /// venue cannot pay out yet, the bundle stays held and the outcome's status
    /// is `Open`: the caller tries again later (collecting twice is harmless).
    pub async fn settle(&self, plan: &SettlePlan) -> ExitOutcome {
        let venue_errors = self.collect(plan.bundle).await;
        if !venue_errors.is_empty() {
            return ExitOutcome {
                bundle: plan.bundle,
                remaining: self.bundle(plan.bundle).and_then(|b| b.held()),
                realized: Money::ZERO,
                status: BundleStatus::Open,
                venue_errors,
            };
        }
        let Some(mut book) = self.bundles.lock().remove(&plan.bundle) else {
            return ExitOutcome {
                bundle: plan.bundle,
                remaining: None,
                realized: Money::ZERO,
                status: BundleStatus::Failed,
                venue_errors: Vec::new(),
            };
        };
        self.resolved.lock().extend(plan.results.iter().cloned());
        let cost = book.cost();
        let realized = plan.payout - cost;
        book.realized += realized;
        for l in &mut book.legs {
            l.leg = Leg { realized: l.leg.realized, fees: l.leg.fees, ..Leg::default() };
        }
        self.persist(&book, BundleStatus::Settled, &format!("paid {}", plan.payout)).await;
        tracing::info!(bundle = book.id, payout = %plan.payout, realized = %realized, "bundle settled");
        ExitOutcome {
            bundle: plan.bundle,
            remaining: None,
            realized,
            status: BundleStatus::Settled,
            venue_errors: Vec::new(),
        }
    }

    /// Ask each venue of a settling bundle to pay out its markets, once per
    /// market. What collecting costs (gas) becomes a fee of the leg. Returns
    /// the venues that could not pay out.
    async fn collect(&self, bundle: u64) -> Vec<Venue> {
        let Some(book) = self.bundle(bundle) else { return Vec::new() };
        let mut asked = std::collections::HashSet::new();
        let mut errors = Vec::new();
        for (i, l) in book.legs.iter().enumerate() {
            if !asked.insert(&l.market) {
                continue;
            }
            let Some(venue) = self.venue(l.market.venue) else {
                tracing::error!(bundle, market = %l.market, "no connection to the venue to collect the payout from");
                errors.push(l.market.venue);
                continue;
            };
            match venue.redeem(&l.market).await {
                Ok(Some(r)) if r.cost.is_positive() => {
                    if let Some(b) = self.bundles.lock().get_mut(&bundle) {
                        b.legs[i].leg.cost += r.cost;
                        b.legs[i].leg.fees += r.cost;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(bundle, market = %l.market, error = %e, "cannot collect the payout yet");
                    errors.push(l.market.venue);
                }
            }
        }
        errors
    }

    async fn persist(&self, book: &BundleBook, status: BundleStatus, note: &str) {
        for l in &book.legs {
            let p = PositionRecord {
                bundle_id: book.id as i64,
                market: l.market.clone(),
                side: l.side,
                quantity: l.leg.qty,
                cost: l.leg.cost,
                fees: l.leg.fees,
            };
            if let Err(e) = self.ledger.set_position(&p).await {
                tracing::error!(bundle = book.id, error = %e, "could not record a position");
            }
        }
        let update = BundleUpdate {
            status: Some(status),
            quantity: Some(book.hedged()),
            cost: Some(book.cost()),
            fees: Some(book.fees()),
            realized_pnl: Some(book.realized),
            closed_at: None,
            note: (!note.is_empty()).then(|| note.to_string()),
        };
        if let Err(e) = self.ledger.update_bundle(book.id as i64, &update).await {
            log_store(book.id, &e);
        }
    }
}

impl Executor {
    /// Write an order's outcome; a failure is logged loudly (the order's
    /// effect is also in the bundle's positions, written separately).
    pub(crate) async fn record_result(&self, report: &OrderReport) {
        if let Err(e) = self.ledger.record_order_result(&report.client_order_id, report).await {
            tracing::error!(order = %report.client_order_id, error = %e, "could not record an order's outcome");
        }
    }

    /// Mark an intent done. Left open, it is re-checked against the venues at
    /// the next start, which is safe: only the bookkeeping is late.
    async fn close_intent(&self, intent: &str) {
        if let Err(e) = self.ledger.close_intent(intent, IntentState::Done).await {
            tracing::error!(intent, error = %e, "could not close an intent; it will be reconciled at the next start");
        }
    }
}

fn log_store(bundle: u64, e: &LedgerError) {
    tracing::error!(bundle, error = %e, "could not record the bundle's state");
}

/// Contracts held beyond the hedged quantity, over all legs (dust excluded).
fn unhedged(book: &BundleBook) -> Qty {
    let q = book.hedged();
    book.legs.iter().map(|l| l.leg.qty - q).filter(|x| *x >= DUST).sum()
}

fn rejected(order: &OrderRequest, reason: String) -> OrderReport {
    OrderReport {
        client_order_id: order.client_order_id.clone(),
        venue_order_id: String::new(),
        status: OrderStatus::Rejected { reason },
        filled: Qty::ZERO,
        notional: Money::ZERO,
        fee: Money::ZERO,
    }
}

/// Snap a price onto a grid of `tick` (zero: any price).
pub fn round_to_tick(p: Price, tick: Price, rounding: Rounding) -> Price {
    if tick.micros() <= 0 {
        return p;
    }
    let t = tick.micros() as i128;
    let v = div_round(p.micros() as i128, t, rounding) * t;
    Price::from_micros(v.clamp(0, Price::ONE.micros() as i128) as i64).unwrap_or(p)
}
