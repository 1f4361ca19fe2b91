//! The engine's hot path: an update in, decisions out.
//!
//! `on_update` applies a market update, re-prices every link that touches the
//! changed market with every strategy that scores it, re-checks what they
//! propose, and watches held bundles for exits. It is synchronous and
//! allocation-light; the service feeds it from the bus and hands its actions
//! to execution.

use std::collections::{HashMap, HashSet};

use arbytron_model::{MarketKey, MarketUpdate, TimestampMs};
use arbytron_sdk::wire::LegsBuf;
use arbytron_sdk::{ExitDecision, HeldLeg, MarketId, Money, Opportunity, Position, Price, Qty, Side, Venue};

use crate::candidate::{PackConfig, pack_link, push_leg, resolves_at, top_edge};
use crate::links::{Link, LinkSpec, Links};
use crate::markets::{Markets, Touched};
use crate::metrics;
use crate::recheck::{PlannedLeg, recheck};
use crate::risk::{Reject, RiskLimits, RiskState};

/// A strategy as the engine calls it (the WASM runtime's slots implement this;
/// so do native strategies in tests and benchmarks).
pub trait Scorer {
    /// Cheap to call on the hot path (an `Arc` clone, no allocation).
    fn name(&self) -> std::sync::Arc<str>;
    fn score(
        &self,
        link: u32,
        now: TimestampMs,
        resolves_at: TimestampMs,
        legs: &mut LegsBuf,
    ) -> Result<Option<Opportunity>, String>;
    fn decide_exit(&self, position: &Position, now: TimestampMs, view: &LegsBuf) -> Result<ExitDecision, String>;
}

/// The strategies currently loaded.
pub trait Strategies {
    fn each(&self, f: &mut dyn FnMut(&dyn Scorer));
    /// Run `f` on the strategy called `name`, if it is loaded.
    fn with(&self, name: &str, f: &mut dyn FnMut(&dyn Scorer));
}

/// A bundle to buy.
#[derive(Clone, Debug)]
pub struct EntryPlan {
    /// The engine's id for the bundle (execution and the store use it too).
    pub bundle: u64,
    pub strategy: String,
    pub link: u32,
    pub link_name: String,
    /// The link's id in the store.
    pub link_store_id: Option<i64>,
    /// What the strategy proposed.
    pub opportunity: Opportunity,
    /// What the host re-check found on the current books.
    pub quantity: Qty,
    pub cost: Money,
    pub fees: Money,
    pub payout: Money,
    pub profit: Money,
    pub annualized_ppm: i64,
    pub legs: Vec<PlannedLeg>,
    pub resolves_at: TimestampMs,
    pub decided_at: TimestampMs,
}

/// One leg of a bundle to sell back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitLeg {
    pub market: MarketKey,
    pub market_id: MarketId,
    pub venue: Venue,
    pub side: Side,
    pub quantity: Qty,
    /// Lowest acceptable price per contract.
    pub limit_price: Price,
    pub pool: Option<(String, u32)>,
    pub tick: Price,
}

#[derive(Clone, Debug)]
pub struct ExitPlan {
    pub bundle: u64,
    pub strategy: String,
    pub legs: Vec<ExitLeg>,
    pub decided_at: TimestampMs,
}

/// A held bundle whose markets have all resolved.
#[derive(Clone, Debug)]
pub struct SettlePlan {
    pub bundle: u64,
    /// What the venues pay for the held legs.
    pub payout: Money,
    pub results: Vec<(MarketKey, Option<Side>)>,
}

/// A proposal the host turned down, for the record.
#[derive(Clone, Debug)]
pub struct Rejection {
    pub strategy: String,
    pub link: u32,
    pub link_name: String,
    pub link_store_id: Option<i64>,
    pub opportunity: Opportunity,
    pub reason: Reject,
    pub at: TimestampMs,
}

#[derive(Clone, Debug)]
pub enum Action {
    Enter(EntryPlan),
    Exit(ExitPlan),
    Settle(SettlePlan),
    /// Rate-limited per link and reason, so a standing but unacceptable
    /// opportunity is recorded, not re-recorded on every tick.
    Rejected(Rejection),
}

/// A bundle the portfolio holds, as the exit monitor needs it.
#[derive(Clone, Debug)]
pub struct Held {
    pub bundle: u64,
    pub strategy: String,
    pub link: u32,
    pub quantity: Qty,
    /// (market id, side, quantity, cost) per leg.
    pub legs: Vec<(MarketId, Side, Qty, Money)>,
    pub cost: Money,
    pub opened_at: TimestampMs,
    pub resolves_at: TimestampMs,
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub pack: PackConfig,
    pub risk: RiskLimits,
    /// Minimum time between two records of the same rejection (link, reason).
    pub reject_record_interval_ms: i64,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig { pack: PackConfig::default(), risk: RiskLimits::default(), reject_record_interval_ms: 10_000 }
    }
}

/// Bundles get a provisional id when decided; the store assigns the lasting
/// one when the intent is written. Provisional ids live in their own range so
/// the two never collide in the risk book.
pub const PROVISIONAL_BASE: u64 = 1 << 62;

pub struct Engine {
    pub markets: Markets,
    pub links: Links,
    pub risk: RiskState,
    pack: PackConfig,
    reject_interval: i64,
    buf: LegsBuf,
    next_bundle: u64,
    held: HashMap<u64, Held>,
    held_by_market: HashMap<MarketId, Vec<u64>>,
    closing: HashSet<u64>,
    settled: HashMap<MarketId, Option<Side>>,
    last_reject: HashMap<(u32, &'static str), TimestampMs>,
    proposals: Vec<(std::sync::Arc<str>, Opportunity)>,
}

impl Engine {
    pub fn new(config: EngineConfig, kill: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Engine {
        let pack = PackConfig { max_book_age_ms: config.risk.max_book_age_ms, ..config.pack };
        Engine {
            markets: Markets::new(),
            links: Links::new(),
            risk: RiskState::new(config.risk, kill),
            pack,
            reject_interval: config.reject_record_interval_ms,
            buf: LegsBuf::default(),
            next_bundle: PROVISIONAL_BASE,
            held: HashMap::new(),
            held_by_market: HashMap::new(),
            closing: HashSet::new(),
            settled: HashMap::new(),
            last_reject: HashMap::new(),
            proposals: Vec::new(),
        }
    }

    pub fn add_link(&mut self, spec: LinkSpec) -> Result<u32, String> {
        let markets = &mut self.markets;
        self.links.add(spec, |k| markets.intern(k))
    }

    /// Apply an update and decide. `now` is the local receive time.
    pub fn on_update(&mut self, update: &MarketUpdate, now: TimestampMs, strategies: &dyn Strategies) -> Vec<Action> {
        let mut actions = Vec::new();
        let touched = self.markets.apply(update, now);
        let ids = match touched {
            Touched::Prices(ids) => ids,
            Touched::Info(id) => {
                if let Some(result) = update.resolution() {
                    self.settled.insert(id, result);
                    self.settlements(id, &mut actions);
                }
                return actions;
            }
            Touched::Nothing => return actions,
        };
        let gate = self.risk.gate(now);
        for &id in &ids {
            if gate.is_ok() {
                for i in 0..self.links.touching(id).len() {
                    let link_id = self.links.touching(id)[i];
                    self.price_link(link_id, now, strategies, &mut actions);
                }
            }
            self.watch_exits(id, now, strategies, &mut actions);
        }
        actions
    }

    /// Score one link with every strategy that covers it; take the first
    /// proposal that passes the re-check.
    fn price_link(&mut self, link_id: u32, now: TimestampMs, strategies: &dyn Strategies, actions: &mut Vec<Action>) {
        if self.risk.link_busy(link_id) {
            return;
        }
        let Some(link) = self.links.get(link_id) else { return };
        // Most updates leave every link where the cheapest asks already sum to
        // $1 or more; no strategy can find a paying bundle there.
        match top_edge(link, &self.markets, &self.pack, now) {
            Some(edge) if edge > 0 => {}
            Some(_) => {
                metrics::LINKS_SKIPPED.inc();
                return;
            }
            None => return,
        }
        if !pack_link(&mut self.buf, link, &self.markets, &self.pack, now) {
            return;
        }
        let resolves = resolves_at(link, &self.markets);
        self.proposals.clear();
        let buf = &mut self.buf;
        let proposals = &mut self.proposals;
        strategies.each(&mut |s| {
            let name = s.name();
            if !link.scored_by(&name) {
                return;
            }
            match s.score(link.id, now, resolves, buf) {
                Ok(Some(opp)) => proposals.push((name, opp)),
                Ok(None) => {}
                Err(e) => tracing::debug!(strategy = %name, link = link.id, error = %e, "score failed"),
            }
        });
        let link = link.clone();
        for (strategy, opp) in std::mem::take(&mut self.proposals) {
            let strategy = strategy.to_string();
            metrics::opportunity(&strategy, "found", "");
            match recheck(&self.markets, &self.risk, &link, &self.buf, &opp, now, resolves) {
                Ok(checked) => {
                    let bundle = self.next_bundle;
                    self.next_bundle += 1;
                    self.risk.reserve(bundle, link.id, checked.exposure);
                    metrics::opportunity(&strategy, "taken", "");
                    actions.push(Action::Enter(EntryPlan {
                        bundle,
                        strategy,
                        link: link.id,
                        link_name: link.spec.name.clone(),
                        link_store_id: link.spec.store_id,
                        opportunity: opp,
                        quantity: checked.plan.quantity,
                        cost: checked.plan.cost,
                        fees: checked.plan.fees,
                        payout: checked.plan.payout,
                        profit: checked.plan.profit,
                        annualized_ppm: checked.plan.annualized_ppm,
                        legs: checked.legs,
                        resolves_at: resolves,
                        decided_at: now,
                    }));
                    return;
                }
                Err(reason) => {
                    metrics::opportunity(&strategy, "rejected", reason.label());
                    let key = (link.id, reason.label());
                    let due = self.last_reject.get(&key).is_none_or(|&t| now - t >= self.reject_interval);
                    if due {
                        self.last_reject.insert(key, now);
                        tracing::info!(strategy = %strategy, link = %link.spec.name, reason = %reason, "opportunity rejected");
                        actions.push(Action::Rejected(Rejection {
                            strategy,
                            link: link.id,
                            link_name: link.spec.name.clone(),
                            link_store_id: link.spec.store_id,
                            opportunity: opp,
                            reason,
                            at: now,
                        }));
                    }
                }
            }
        }
    }

    /// Ask held bundles' strategies whether to sell back now.
    fn watch_exits(
        &mut self,
        market: MarketId,
        now: TimestampMs,
        strategies: &dyn Strategies,
        actions: &mut Vec<Action>,
    ) {
        let Some(bundles) = self.held_by_market.get(&market) else { return };
        for bundle in bundles.clone() {
            if self.closing.contains(&bundle) {
                continue;
            }
            let Some(held) = self.held.get(&bundle) else { continue };
            // Every leg must be sellable now, or there is no exit to price.
            self.buf.clear();
            let mut complete = true;
            for (o, &(m, side, _, _)) in held.legs.iter().enumerate() {
                complete &= push_leg(&mut self.buf, &self.markets, &self.pack, now, (o, m, side), false);
            }
            if !complete {
                continue;
            }
            let position = Position {
                bundle,
                link: held.link,
                quantity: held.quantity,
                legs: held
                    .legs
                    .iter()
                    .map(|&(market, side, quantity, cost)| HeldLeg { market, side, quantity, cost })
                    .collect(),
                cost: held.cost,
                opened_at: held.opened_at,
                resolves_at: held.resolves_at,
            };
            let mut decision = None;
            let buf = &self.buf;
            strategies.with(&held.strategy, &mut |s| decision = Some(s.decide_exit(&position, now, buf)));
            let orders = match decision {
                Some(Ok(ExitDecision::Exit(orders))) => orders,
                Some(Err(e)) => {
                    tracing::debug!(strategy = %held.strategy, bundle, error = %e, "decide-exit failed");
                    continue;
                }
                _ => continue,
            };
            match self.check_exit(held, &orders) {
                Ok(legs) => {
                    self.closing.insert(bundle);
                    actions.push(Action::Exit(ExitPlan {
                        bundle,
                        strategy: held.strategy.clone(),
                        legs,
                        decided_at: now,
                    }));
                }
                Err(why) => {
                    tracing::info!(strategy = %held.strategy, bundle, reason = %why, "exit refused");
                }
            }
        }
    }

    /// An exit may only sell what the bundle holds, all of it, one order per leg.
    fn check_exit(&self, held: &Held, orders: &[arbytron_sdk::Order]) -> Result<Vec<ExitLeg>, String> {
        if orders.len() != held.legs.len() {
            return Err(format!("{} exit orders for {} held legs", orders.len(), held.legs.len()));
        }
        let mut legs = Vec::with_capacity(orders.len());
        for o in orders {
            let Some(&(m, side, qty, _)) = held.legs.iter().find(|l| l.0 == o.market && l.1 == o.side) else {
                return Err(format!("exit order on market {} {} is not a held leg", o.market, o.side.as_str()));
            };
            if o.quantity != qty {
                return Err(format!("exit sells {} of {} held", o.quantity, qty));
            }
            let s = self.markets.get(m).ok_or("unknown market")?;
            legs.push(ExitLeg {
                market: s.key.clone(),
                market_id: m,
                venue: s.key.venue,
                side,
                quantity: qty,
                limit_price: o.limit_price,
                pool: s.pool_outcome(side).map(|(a, i)| (a.to_string(), i as u32)),
                tick: s.tick(),
            });
        }
        Ok(legs)
    }

    fn settlements(&mut self, market: MarketId, actions: &mut Vec<Action>) {
        let Some(bundles) = self.held_by_market.get(&market).cloned() else { return };
        for bundle in bundles {
            // Already settling (a venue may report a resolution twice).
            if self.closing.contains(&bundle) {
                continue;
            }
            let Some(held) = self.held.get(&bundle) else { continue };
            if !held.legs.iter().all(|(m, ..)| self.settled.contains_key(m)) {
                continue;
            }
            let mut payout = Money::ZERO;
            let mut results = Vec::new();
            for &(m, side, qty, cost) in &held.legs {
                let result = self.settled[&m];
                payout += match result {
                    Some(winner) if winner == side => qty.payout(),
                    Some(_) => Money::ZERO,
                    None => cost, // void: returned at cost
                };
                if let Some(s) = self.markets.get(m) {
                    results.push((s.key.clone(), result));
                }
            }
            self.closing.insert(bundle);
            actions.push(Action::Settle(SettlePlan { bundle, payout, results }));
        }
    }

    /// Capital a held bundle ties up, by venue and event.
    fn exposure_of(&self, held: &Held) -> crate::risk::Exposure {
        let mut e = crate::risk::Exposure::default();
        for &(m, _, _, cost) in &held.legs {
            if let Some(s) = self.markets.get(m) {
                e.add(s.key.venue, s.event(), cost);
            }
        }
        e
    }

    /// Execution of an entry finished. `held` is what the bundle holds now
    /// (keyed by its store id), or `None` if nothing stayed; `realized` is any
    /// loss or gain booked while rebalancing.
    pub fn entry_finished(
        &mut self,
        provisional: u64,
        link: u32,
        held: Option<Held>,
        realized: Money,
        now: TimestampMs,
    ) {
        self.risk.unlock_link(link);
        self.risk.release(provisional);
        if let Some(h) = held {
            let e = self.exposure_of(&h);
            self.risk.adjust(h.bundle, e);
            self.hold(h);
        }
        self.risk.record_realized(realized, now);
    }

    /// An exit (or settlement) finished: `remaining` is what is still held.
    pub fn exit_finished(&mut self, bundle: u64, remaining: Option<Held>, realized: Money, now: TimestampMs) {
        match remaining {
            Some(h) => {
                let e = self.exposure_of(&h);
                self.risk.adjust(bundle, e);
                self.hold(h);
            }
            None => self.forget(bundle),
        }
        self.risk.record_realized(realized, now);
    }

    /// Execution finished buying a bundle: watch it for exits and settlement.
    pub fn hold(&mut self, held: Held) {
        let bundle = held.bundle;
        for &(m, ..) in &held.legs {
            let v = self.held_by_market.entry(m).or_default();
            if !v.contains(&bundle) {
                v.push(bundle);
            }
        }
        self.closing.remove(&bundle);
        self.held.insert(bundle, held);
        metrics::BUNDLES_OPEN.set(self.held.len() as i64);
    }

    /// An exit failed or was abandoned: the bundle is held again.
    pub fn exit_abandoned(&mut self, bundle: u64) {
        self.closing.remove(&bundle);
    }

    /// The bundle is gone (sold back, settled, or never filled).
    pub fn forget(&mut self, bundle: u64) {
        if let Some(h) = self.held.remove(&bundle) {
            for (m, ..) in h.legs {
                if let Some(v) = self.held_by_market.get_mut(&m) {
                    v.retain(|&b| b != bundle);
                }
            }
        }
        self.closing.remove(&bundle);
        self.risk.release(bundle);
        metrics::BUNDLES_OPEN.set(self.held.len() as i64);
    }

    pub fn held(&self) -> impl Iterator<Item = &Held> {
        self.held.values()
    }

    pub fn held_bundle(&self, bundle: u64) -> Option<&Held> {
        self.held.get(&bundle)
    }

    /// Mark-to-market of held bundles at the current best bids (for unrealised PnL).
    pub fn mark_to_bids(&self) -> Money {
        let mut value = Money::ZERO;
        for h in self.held.values() {
            for &(m, side, qty, _) in &h.legs {
                if let Some(s) = self.markets.get(m)
                    && let Some(bid) = s.book.best_bid(side)
                {
                    value += qty.value_at(bid.price, arbytron_sdk::Rounding::Down);
                }
            }
        }
        value
    }

    /// Refresh the per-venue exposure and stale-book gauges.
    /// Set the exposure and stale-book gauges; returns the stale books per venue.
    pub fn publish_gauges(&self, now: TimestampMs) -> Vec<(Venue, usize)> {
        let mut stale_books = Vec::new();
        for v in Venue::ALL {
            let e = self.risk.exposure_by_venue().get(&v).copied().unwrap_or_default();
            metrics::EXPOSURE.with_label_values(&[v.as_str()]).set(e.micros() as f64 / 1e6);
            let stale = self
                .markets
                .iter()
                .filter(|(id, s)| {
                    s.key.venue == v
                        && s.info.is_some()
                        && self.markets.tradable(*id, now, self.pack.max_book_age_ms).is_err()
                        && s.status().is_tradable()
                })
                .count();
            metrics::BOOK_STALE.with_label_values(&[v.as_str()]).set(stale as i64);
            stale_books.push((v, stale));
        }
        stale_books
    }

    pub fn link(&self, id: u32) -> Option<&Link> {
        self.links.get(id)
    }

    /// The engine's id of the link stored under `store_id`.
    pub fn link_by_store_id(&self, store_id: i64) -> Option<u32> {
        self.links.iter().find(|l| l.spec.store_id == Some(store_id)).map(|l| l.id)
    }
}
