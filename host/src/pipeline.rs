//! The trading loop: market updates in, through the engine, out to execution;
//! execution's outcomes back into the engine; the store and metrics kept up
//! to date on the side.
//!
//! One task owns the engine (its state is single-threaded by design and the
//! hot path takes microseconds); every order round trip runs in its own task
//! and reports back over a channel, so a slow venue never stalls pricing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbytron_engine::metrics::{PNL_REALIZED, PNL_UNREALIZED, TICK_TO_DECISION};
use arbytron_engine::{Action, Engine, EntryPlan, Rejection};
use arbytron_execution::reconcile::{MarketRef, PositionCheck};
use arbytron_execution::{EntryOutcome, Executor, ExitOutcome};
pub use arbytron_model::now_ms;
use arbytron_model::{MarketKey, MarketUpdate, TimestampMs};
use arbytron_runtime::StrategySet;
use arbytron_sdk::{Money, Venue};
use arbytron_store::{
    BundleStatus, OpportunityLeg, OpportunityRecord, OpportunityResult, PnlSnapshot, Store, StoreError,
};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::control::Control;
use crate::strategies::WasmStrategies;

/// What execution tells the engine.
enum Feedback {
    Entry(Box<EntryPlan>, EntryOutcome),
    Exit(ExitOutcome),
    Settled(ExitOutcome),
    Drift(PositionCheck),
}

/// What `/status` shows about trading.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TradingStatus {
    pub markets: usize,
    pub links: usize,
    pub bundles_open: usize,
    pub exposure: BTreeMap<String, String>,
    pub realized_pnl: String,
    pub unrealized_pnl: String,
    pub entries: u64,
    pub exits: u64,
    pub settlements: u64,
    pub rejections_recorded: u64,
    pub blocked_markets: Vec<String>,
    /// Books that cannot be traded on right now (stale or frozen), per venue.
    pub stale_books: BTreeMap<String, usize>,
    pub updates: u64,
}

pub struct PipelineConfig {
    pub reconcile_every: Duration,
    pub snapshot_every: Duration,
}

/// Map a market to what execution needs to rebuild a leg after a restart.
pub fn market_ref(engine: &Engine, key: &MarketKey) -> Option<MarketRef> {
    let id = engine.markets.id(key)?;
    let s = engine.markets.get(id)?;
    let side = arbytron_sdk::Side::Yes;
    Some(MarketRef { id, tick: s.tick(), pool: s.pool_outcome(side).map(|(a, o)| (a.to_string(), o as u32)) })
}

fn dollars(m: Money) -> f64 {
    // For display only (Prometheus gauges are floats); accounting stays exact.
    m.micros() as f64 / 1e6
}

/// Book what today's trading already realised (from the store) into the
/// risk state, so the daily loss limit holds across restarts.
pub async fn seed_today(engine: &mut Engine, store: &Store, now: TimestampMs) -> Result<Money, StoreError> {
    const DAY_MS: i64 = 86_400_000;
    let today = store.realized_pnl_since(now - now.rem_euclid(DAY_MS)).await?;
    engine.risk.record_realized(today, now);
    if today.is_negative() {
        tracing::info!(realized_today = %today, "today's realised PnL carried over from the store");
    }
    Ok(today)
}

/// Block markets in drift; unblock the others, but only on venues that were
/// read this time (a venue that failed to answer leaves its blocks as they are).
pub fn apply_drift(engine: &mut Engine, check: &PositionCheck) {
    let mut why: HashMap<&MarketKey, String> =
        check.drifts.iter().map(|d| (&d.market, format!("ours {} vs venue {}", d.ours, d.venue))).collect();
    for o in &check.orphans {
        why.entry(&o.market).or_insert_with(|| format!("unknown open order {} at the venue", o.venue_order_id));
    }
    let markets: Vec<(u32, MarketKey)> = engine.markets.iter().map(|(id, s)| (id, s.key.clone())).collect();
    for (id, key) in markets {
        match why.get(&key) {
            Some(reason) => engine.risk.block_market(id, &key.to_string(), reason),
            None if check.checked.contains(&key.venue) => engine.risk.unblock_market(id),
            None => {}
        }
    }
}

/// Hand execution's outcome back to the trading loop. The loop is gone only
/// at shutdown; the outcome is already in the store, and the next start
/// rebuilds its state from there.
fn feed_back(tx: &mpsc::UnboundedSender<Feedback>, fb: Feedback) {
    if tx.send(fb).is_err() {
        tracing::debug!("trading loop stopped; the outcome is in the store for the next start");
    }
}

/// What reaches the trading loop from the bus consumer.
// Updates are the hot variant: boxing them would allocate per update.
#[allow(clippy::large_enum_variant)]
pub enum Inbound {
    Update(MarketUpdate),
    /// Answered once everything sent before it is processed: the consumer
    /// acknowledges bus messages only after that.
    Processed(tokio::sync::oneshot::Sender<()>),
}

/// Run the loop until `shutdown`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    mut engine: Engine,
    strategies: Arc<StrategySet>,
    executor: Arc<Executor>,
    store: Store,
    mut updates: mpsc::Receiver<Inbound>,
    control: Arc<Control>,
    cfg: PipelineConfig,
    shutdown: CancellationToken,
) {
    let scorers = WasmStrategies(strategies);
    let (fb_tx, mut fb_rx) = mpsc::unbounded_channel::<Feedback>();
    let status = Arc::new(Mutex::new(TradingStatus::default()));
    {
        let status = status.clone();
        control.set_status_source(move || serde_json::to_value(&*status.lock()).unwrap_or_default());
    }
    let mut realized = match store.realized_pnl_since(0).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot read realised PnL from the store; the total starts at zero");
            Money::ZERO
        }
    };
    if let Err(e) = seed_today(&mut engine, &store, now_ms()).await {
        // Without today's record the daily loss limit could be exceeded: stop new trades.
        tracing::error!(error = %e, "cannot read today's realised PnL: the daily loss limit counts as reached, so no new trades today (restart once the store answers)");
        let limit = engine.risk.limits.daily_loss_limit;
        engine.risk.record_realized(-limit, now_ms());
    }
    let mut st = TradingStatus::default();
    let mut gauges = tokio::time::interval(Duration::from_secs(1));
    let mut reconcile = tokio::time::interval(cfg.reconcile_every);
    let mut snapshots = tokio::time::interval(cfg.snapshot_every);
    reconcile.tick().await; // the first check runs after one interval, not at once
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(fb) = fb_rx.recv() => {
                handle_feedback(&mut engine, fb, &mut realized, &mut st, &store, &mut |b| {
                    tracing::info!(bundle = b, "bundle closed");
                });
            }
            inbound = updates.recv() => {
                let update = match inbound {
                    Some(Inbound::Update(u)) => u,
                    Some(Inbound::Processed(done)) => {
                        if done.send(()).is_err() {
                            tracing::debug!("bus consumer gone before its batch was confirmed; it will be redelivered");
                        }
                        continue;
                    }
                    None => break,
                };
                st.updates += 1;
                let started = Instant::now();
                let now = now_ms();
                let actions = engine.on_update(&update, now, &scorers);
                if let Some(result) = update.resolution() {
                    executor.mark_resolved(update.market(), result);
                }
                let kind = if actions.iter().any(|a| matches!(a, Action::Enter(_) | Action::Exit(_))) { "decision" } else { "none" };
                TICK_TO_DECISION.with_label_values(&[kind]).observe(started.elapsed().as_secs_f64());
                for action in actions {
                    dispatch(action, &executor, &store, &fb_tx, &mut st);
                }
            }
            _ = gauges.tick() => {
                let now = now_ms();
                st.stale_books = engine.publish_gauges(now).into_iter().map(|(v, n)| (v.to_string(), n)).collect();
                let held_cost: Money = engine.held().map(|h| h.cost).sum();
                let unrealized = engine.mark_to_bids() - held_cost;
                PNL_REALIZED.with_label_values::<&str>(&[]).set(dollars(realized));
                PNL_UNREALIZED.with_label_values::<&str>(&[]).set(dollars(unrealized));
                st.markets = engine.markets.len();
                st.links = engine.links.len();
                st.bundles_open = engine.held().count();
                st.exposure = engine.risk.exposure_by_venue().iter().map(|(v, m)| (v.to_string(), m.to_string())).collect();
                st.realized_pnl = realized.to_string();
                st.unrealized_pnl = unrealized.to_string();
                st.blocked_markets = engine.risk.blocked_markets().map(|(_, (name, _))| name.clone()).collect();
                *status.lock() = st.clone();
            }
            _ = reconcile.tick() => {
                let (ex, tx) = (executor.clone(), fb_tx.clone());
                tokio::spawn(async move {
                    for out in ex.repair_pending().await {
                        feed_back(&tx, Feedback::Exit(out));
                    }
                    let drifts = ex.check_positions().await;
                    feed_back(&tx, Feedback::Drift(drifts));
                });
            }
            _ = snapshots.tick() => {
                let held_cost: Money = engine.held().map(|h| h.cost).sum();
                let snap = PnlSnapshot {
                    ts: now_ms(),
                    realized,
                    unrealized: engine.mark_to_bids() - held_cost,
                    exposure: engine.risk.exposure_by_venue().iter().map(|(v, m)| (*v, *m)).collect(),
                };
                let ledger = executor.ledger().clone();
                tokio::spawn(async move {
                    if let Err(e) = ledger.record_pnl_snapshot(&snap).await {
                        tracing::error!(error = %e, "could not record a PnL snapshot");
                    }
                });
            }
        }
    }
    tracing::info!("trading loop stopped");
}

fn dispatch(
    action: Action,
    executor: &Arc<Executor>,
    store: &Store,
    fb: &mpsc::UnboundedSender<Feedback>,
    st: &mut TradingStatus,
) {
    match action {
        Action::Enter(plan) => {
            tracing::info!(
                strategy = %plan.strategy, link = %plan.link_name, quantity = %plan.quantity, cost = %plan.cost,
                profit = %plan.profit, apy_ppm = plan.annualized_ppm,
                legs = %plan.legs.iter().map(|l| format!("{} {} {} @ {}", l.venue, l.market.symbol, l.side.as_str(), l.limit_price)).collect::<Vec<_>>().join(" + "),
                "opportunity taken: buying every leg"
            );
            let (ex, tx) = (executor.clone(), fb.clone());
            tokio::spawn(async move {
                let out = ex.enter(&plan).await;
                feed_back(&tx, Feedback::Entry(Box::new(plan), out));
            });
        }
        Action::Exit(plan) => {
            tracing::info!(strategy = %plan.strategy, bundle = plan.bundle, "exit: selling the bundle back");
            let (ex, tx) = (executor.clone(), fb.clone());
            tokio::spawn(async move {
                let out = ex.exit(&plan).await;
                feed_back(&tx, Feedback::Exit(out));
            });
        }
        Action::Settle(plan) => {
            let (ex, tx) = (executor.clone(), fb.clone());
            tokio::spawn(async move {
                // Until every venue has paid out (a node down, a redeem that
                // failed), the bundle stays held and we keep asking.
                let mut wait = Duration::from_secs(1);
                loop {
                    let out = ex.settle(&plan).await;
                    if out.status != BundleStatus::Open {
                        feed_back(&tx, Feedback::Settled(out));
                        break;
                    }
                    tracing::warn!(bundle = plan.bundle, venues = ?out.venue_errors, retry_in = ?wait, "settlement waits for a venue to pay out");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
            });
        }
        Action::Rejected(r) => {
            st.rejections_recorded += 1;
            let store = store.clone();
            tokio::spawn(async move { record_rejection(&store, &r).await });
        }
    }
}

/// The record of an opportunity as the strategy proposed it; the caller sets
/// what the host did with it.
fn opportunity_record(
    strategy: &str,
    link: Option<i64>,
    o: &arbytron_sdk::Opportunity,
    at: TimestampMs,
    result: OpportunityResult,
) -> OpportunityRecord {
    OpportunityRecord {
        ts: at,
        strategy: strategy.to_string(),
        link_id: link.unwrap_or(0),
        quantity: o.quantity,
        cost: o.cost,
        fees: o.fees,
        payout: o.payout,
        profit: o.profit,
        return_ppm: o.return_ppm,
        annualized_ppm: o.annualized_ppm,
        result,
        reason: String::new(),
        bundle_id: None,
        legs: Vec::new(),
    }
}

async fn record_rejection(store: &Store, r: &Rejection) {
    if r.link_store_id.is_none() {
        return; // links not in the store (tests, benchmarks) have nowhere to record against
    }
    let rec = OpportunityRecord {
        reason: format!("{}: {}", r.reason.label(), r.reason),
        ..opportunity_record(&r.strategy, r.link_store_id, &r.opportunity, r.at, OpportunityResult::Rejected)
    };
    if let Err(e) = store.record_opportunity(&rec).await {
        tracing::warn!(error = %e, "could not record a rejected opportunity");
    }
}

fn handle_feedback(
    engine: &mut Engine,
    fb: Feedback,
    realized: &mut Money,
    st: &mut TradingStatus,
    store: &Store,
    closed: &mut dyn FnMut(u64),
) {
    let now = now_ms();
    let breaker = |engine: &mut Engine, errors: &[Venue]| {
        for v in errors {
            engine.risk.venue_error(*v, now);
        }
    };
    match fb {
        Feedback::Entry(plan, out) => {
            *realized += out.realized;
            breaker(engine, &out.venue_errors);
            if out.held.is_some() {
                st.entries += 1;
            }
            if let Some(h) = &out.held {
                if out.status == BundleStatus::Open {
                    tracing::info!(
                        bundle = h.bundle, strategy = %plan.strategy, quantity = %h.quantity, cost = %h.cost,
                        "bundle opened: hedged on every leg"
                    );
                } else {
                    tracing::warn!(
                        bundle = h.bundle, strategy = %plan.strategy, status = ?out.status, cost = %h.cost,
                        unhedged = %out.unhedged, "bundle held with legs unequal: the repair retries on the reconcile tick"
                    );
                }
            } else {
                tracing::info!(strategy = %plan.strategy, link = %plan.link_name, status = ?out.status, realized = %out.realized, "entry did not open a bundle");
            }
            engine.entry_finished(out.provisional, out.link, out.held.clone(), out.realized, now);
            let legs = plan
                .legs
                .iter()
                .map(|l| OpportunityLeg {
                    venue: l.venue,
                    symbol: l.market.symbol.clone(),
                    side: l.side,
                    quantity: l.quantity,
                    limit_price: l.limit_price,
                    amount: l.amount,
                    fee: l.fee,
                })
                .collect();
            let rec = OpportunityRecord {
                bundle_id: out.bundle.map(|b| b as i64),
                legs,
                ..opportunity_record(
                    &plan.strategy,
                    plan.link_store_id,
                    &plan.opportunity,
                    plan.decided_at,
                    OpportunityResult::Taken,
                )
            };
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.record_opportunity(&rec).await {
                    tracing::warn!(error = %e, "could not record a taken opportunity");
                }
            });
        }
        Feedback::Exit(out) => {
            *realized += out.realized;
            breaker(engine, &out.venue_errors);
            st.exits += 1;
            tracing::info!(bundle = out.bundle, status = ?out.status, realized = %out.realized, total_realized = %realized, "bundle exited early");
            if out.remaining.is_none() {
                closed(out.bundle);
            }
            engine.exit_finished(out.bundle, out.remaining, out.realized, now);
        }
        Feedback::Settled(out) => {
            *realized += out.realized;
            st.settlements += 1;
            tracing::info!(bundle = out.bundle, realized = %out.realized, total_realized = %realized, "bundle settled");
            engine.exit_finished(out.bundle, None, out.realized, now);
        }
        Feedback::Drift(check) => apply_drift(engine, &check),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use arbytron_engine::{EngineConfig, RiskLimits};
    use arbytron_model::venue::{Action, OrderRequest, TimeInForce};
    use arbytron_portfolio::Drift;
    use arbytron_sdk::{Price, Qty, Side};
    use arbytron_store::{BundleUpdate, LinkLeg, NewBundle, NewLink};

    use super::*;

    #[test]
    fn a_venue_that_could_not_be_read_keeps_its_markets_blocked() {
        let mut engine = Engine::new(EngineConfig::default(), Arc::new(AtomicBool::new(false)));
        engine
            .add_link(arbytron_engine::LinkSpec {
                name: "l".into(),
                strategies: vec![],
                outcomes: vec![
                    vec!["kalshi:K:yes".parse().unwrap(), "polymarket-clob:0xP:yes".parse().unwrap()],
                    vec!["kalshi:K:no".parse().unwrap(), "polymarket-clob:0xP:no".parse().unwrap()],
                ],
                resolves_at: None,
                source: "test".into(),
                store_id: None,
            })
            .unwrap();
        let k = MarketKey::new(Venue::Kalshi, "K");
        let blocked = |e: &Engine| e.risk.blocked_markets().map(|(_, (name, _))| name.clone()).collect::<Vec<_>>();
        let both = vec![Venue::Kalshi, Venue::PolymarketClob];
        let drift = Drift { market: k.clone(), ours: Qty::from_contracts(5), venue: Qty::ZERO };
        apply_drift(&mut engine, &PositionCheck { drifts: vec![drift], checked: both.clone(), ..Default::default() });
        assert_eq!(blocked(&engine), vec![k.to_string()]);
        // Kalshi could not be read this time: its block stays.
        apply_drift(&mut engine, &PositionCheck { checked: vec![Venue::PolymarketClob], ..Default::default() });
        assert_eq!(blocked(&engine), vec![k.to_string()]);
        // Read again and in agreement: unblocked.
        apply_drift(&mut engine, &PositionCheck { checked: both.clone(), ..Default::default() });
        assert!(blocked(&engine).is_empty());
        // An order resting at the venue that is not ours blocks its market too.
        let orphan = arbytron_model::venue::OpenOrder {
            venue_order_id: "v-1".into(),
            client_order_id: None,
            market: MarketKey::new(Venue::PolymarketClob, "0xP"),
            side: Side::Yes,
            action: Action::Buy,
            price: Price::parse("0.40").unwrap(),
            remaining: Qty::from_contracts(3),
            filled: Qty::ZERO,
        };
        apply_drift(&mut engine, &PositionCheck { orphans: vec![orphan], checked: both.clone(), ..Default::default() });
        assert_eq!(blocked(&engine), vec!["polymarket-clob:0xP".to_string()]);
        apply_drift(&mut engine, &PositionCheck { checked: both, ..Default::default() });
        assert!(blocked(&engine).is_empty(), "gone once it no longer rests");
    }

    #[tokio::test]
    async fn the_daily_loss_limit_holds_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display())).await.unwrap();
        let leg = |venue, side| LinkLeg { venue, symbol: "M".into(), side };
        let link = store
            .insert_link(&NewLink {
                source: "test".into(),
                outcomes: vec![vec![leg(Venue::Kalshi, Side::Yes)], vec![leg(Venue::Kalshi, Side::No)]],
                confidence_ppm: 1_000_000,
                reasons: vec![],
            })
            .await
            .unwrap();
        let now = 1_795_000_000_000;
        // Earlier today a bundle failed and lost $30.
        let bundle = NewBundle {
            strategy: "s".into(),
            link_id: link,
            quantity: Qty::from_contracts(10),
            cost: Money::from_dollars(9),
            fees: Money::ZERO,
            expected_payout: Money::from_dollars(10),
            opened_at: now - 60_000,
            resolves_at: now + 86_400_000,
            note: String::new(),
        };
        let order = OrderRequest {
            client_order_id: "o-1".into(),
            market: MarketKey::new(Venue::Kalshi, "M"),
            side: Side::Yes,
            action: Action::Buy,
            quantity: Qty::from_contracts(10),
            limit_price: Price::parse("0.45").unwrap(),
            time_in_force: TimeInForce::FillOrKill,
            amount: None,
        };
        let (id, _) = store.begin_bundle(&bundle, &[order]).await.unwrap();
        let lost = BundleUpdate {
            status: Some(BundleStatus::Failed),
            realized_pnl: Some(-Money::from_dollars(30)),
            closed_at: Some(now - 30_000),
            ..BundleUpdate::default()
        };
        store.update_bundle(id, &lost).await.unwrap();

        // A fresh engine (a restarted host) with a $25 daily loss limit.
        let limits = RiskLimits { daily_loss_limit: Money::from_dollars(25), ..RiskLimits::default() };
        let mut engine =
            Engine::new(EngineConfig { risk: limits, ..EngineConfig::default() }, Arc::new(AtomicBool::new(false)));
        assert!(engine.risk.gate(now).is_ok(), "a new engine knows nothing of today");
        assert_eq!(seed_today(&mut engine, &store, now).await.unwrap(), -Money::from_dollars(30));
        assert!(engine.risk.gate(now).is_err(), "the $30 lost before the restart counts");
        assert!(engine.risk.gate(now + 86_400_000).is_ok(), "and tomorrow is a new day");
    }
}
