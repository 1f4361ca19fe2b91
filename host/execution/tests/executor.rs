//! Execution against scripted venues and a real (SQLite) store: every way a
//! bundle can go wrong ends hedged, with the loss accounted.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arbytron_engine::{EntryPlan, ExitLeg, ExitPlan, PlannedLeg, SettlePlan};
use arbytron_execution::reconcile::MarketRef;
use arbytron_execution::{ExecConfig, Executor, Venues};
use arbytron_model::MarketKey;
use arbytron_model::venue::{
    Action, ExecutionVenue, FillEvent, OpenOrder, OrderReport, OrderRequest, OrderStatus, Redemption, VenueError,
    VenuePosition,
};
use arbytron_sdk::{Money, Opportunity, Price, Qty, Rounding, Side, Venue};
use arbytron_store::{BundleStatus, Store};
use parking_lot::Mutex;
use tokio::sync::mpsc;

type Script = Box<dyn Fn(&OrderRequest, usize) -> Result<OrderReport, VenueError> + Send + Sync>;

/// A venue that answers orders by script and remembers what it filled.
struct Mock {
    venue: Venue,
    script: Script,
    calls: Mutex<Vec<OrderRequest>>,
    orders: Mutex<HashMap<String, OrderReport>>,
    /// Net YES position per market, as the venue sees it.
    positions: Mutex<HashMap<MarketKey, Qty>>,
    /// Answers to `redeem`, in order; once empty, the venue pays out by itself.
    redeems: Mutex<VecDeque<Result<Option<Redemption>, VenueError>>>,
    redeemed: Mutex<Vec<MarketKey>>,
    /// When set, an order fills at the venue at once but its answer waits for this.
    answer_gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    open: Mutex<Vec<OpenOrder>>,
}

impl Mock {
    fn new(venue: Venue, script: Script) -> Arc<Mock> {
        Arc::new(Mock {
            venue,
            script,
            calls: Mutex::default(),
            orders: Mutex::default(),
            positions: Mutex::default(),
            redeems: Mutex::default(),
            redeemed: Mutex::default(),
            answer_gate: Mutex::default(),
            open: Mutex::default(),
        })
    }

    /// The venue fills an order as if it had received it (for crash tests).
    fn remember(&self, o: &OrderRequest, r: OrderReport) {
        let sign = |q: Qty| if (o.side == Side::Yes) == (o.action == Action::Buy) { q } else { -q };
        *self.positions.lock().entry(o.market.clone()).or_default() += sign(r.filled);
        self.orders.lock().insert(o.client_order_id.clone(), r);
    }
}

#[async_trait::async_trait]
impl ExecutionVenue for Mock {
    fn venue(&self) -> Venue {
        self.venue
    }
    async fn place_order(&self, o: &OrderRequest) -> Result<OrderReport, VenueError> {
        let n = {
            let mut c = self.calls.lock();
            c.push(o.clone());
            c.len() - 1
        };
        let r = (self.script)(o, n)?;
        self.remember(o, r.clone());
        let gate = self.answer_gate.lock().clone();
        if let Some(g) = gate {
            let _ = g.acquire().await.map(|p| p.forget());
        }
        Ok(r)
    }
    async fn cancel_order(&self, _: &MarketKey, _: &str) -> Result<(), VenueError> {
        Ok(())
    }
    async fn find_order(&self, o: &OrderRequest) -> Result<Option<OrderReport>, VenueError> {
        Ok(self.orders.lock().get(&o.client_order_id).cloned())
    }
    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        Ok(self.open.lock().clone())
    }
    async fn positions(&self) -> Result<Vec<VenuePosition>, VenueError> {
        Ok(self.positions.lock().iter().map(|(m, q)| VenuePosition { market: m.clone(), yes_position: *q }).collect())
    }
    async fn balance(&self) -> Result<Money, VenueError> {
        Ok(Money::from_dollars(1000))
    }
    async fn fills(&self) -> Result<mpsc::Receiver<FillEvent>, VenueError> {
        Ok(mpsc::channel(1).1)
    }
    async fn redeem(&self, market: &MarketKey) -> Result<Option<Redemption>, VenueError> {
        self.redeemed.lock().push(market.clone());
        self.redeems.lock().pop_front().unwrap_or(Ok(None))
    }
}

/// Fill `fraction` (ppm) of the order at its limit price, fee 1 cent per contract.
fn fill(o: &OrderRequest, ppm: i64) -> OrderReport {
    let q = Qty::from_micros(o.quantity.micros() * ppm / 1_000_000).floor_to(10_000);
    let status = if q == o.quantity {
        OrderStatus::Filled
    } else if q.is_positive() {
        OrderStatus::PartiallyFilled { resting: false }
    } else {
        OrderStatus::Cancelled
    };
    OrderReport {
        client_order_id: o.client_order_id.clone(),
        venue_order_id: format!("v-{}", o.client_order_id),
        status,
        filled: q,
        notional: q.value_at(o.limit_price, if o.action == Action::Buy { Rounding::Up } else { Rounding::Down }),
        fee: Money::from_micros(q.micros() / 100),
    }
}

fn reject(o: &OrderRequest) -> Result<OrderReport, VenueError> {
    Err(VenueError::Rejected {
        venue: Venue::PolymarketClob,
        code: "no_liquidity".into(),
        message: format!("{}", o.quantity),
    })
}

fn k(v: Venue, s: &str) -> MarketKey {
    MarketKey::new(v, s)
}

fn plan(q: i64) -> EntryPlan {
    let leg = |venue, sym: &str, side, price: &str, id| PlannedLeg {
        market: k(venue, sym),
        market_id: id,
        venue,
        side,
        event: "e".into(),
        quantity: Qty::from_contracts(q),
        limit_price: Price::parse(price).unwrap(),
        amount: Money::ZERO,
        fee: Money::ZERO,
        fixed_cost: Money::ZERO,
        pool: None,
        tick: Price::parse("0.01").unwrap(),
    };
    EntryPlan {
        bundle: (1 << 62) + 1,
        strategy: "test".into(),
        link: 1,
        link_name: "fed".into(),
        link_store_id: Some(1),
        opportunity: Opportunity {
            link: 1,
            quantity: Qty::from_contracts(q),
            orders: vec![],
            cost: Money::ZERO,
            fees: Money::ZERO,
            payout: Money::ZERO,
            profit: Money::ZERO,
            return_ppm: 0,
            annualized_ppm: 0,
        },
        quantity: Qty::from_contracts(q),
        cost: Money::from_dollars(9 * q / 10),
        fees: Money::ZERO,
        payout: Money::from_dollars(q),
        profit: Money::from_dollars(q / 10),
        annualized_ppm: 0,
        legs: vec![
            leg(Venue::Kalshi, "K", Side::Yes, "0.40", 0),
            leg(Venue::PolymarketClob, "0xP", Side::No, "0.50", 1),
        ],
        resolves_at: 2_000_000_000_000,
        decided_at: 0,
    }
}

/// The ledger the executor writes through, its outbox beside the test database.
fn ledger(store: &Store, dir: &tempfile::TempDir) -> std::sync::Arc<arbytron_store::Ledger> {
    std::sync::Arc::new(arbytron_store::Ledger::open(store.clone(), &dir.path().join("outbox")).unwrap())
}

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.unwrap();
    let leg = |venue, symbol: &str, side| arbytron_store::LinkLeg { venue, symbol: symbol.into(), side };
    let id = store
        .insert_link(&arbytron_store::NewLink {
            source: "config".into(),
            outcomes: vec![
                vec![leg(Venue::Kalshi, "K", Side::Yes), leg(Venue::PolymarketClob, "0xP", Side::Yes)],
                vec![leg(Venue::Kalshi, "K", Side::No), leg(Venue::PolymarketClob, "0xP", Side::No)],
            ],
            confidence_ppm: 1_000_000,
            reasons: vec![],
        })
        .await
        .unwrap();
    assert_eq!(id, 1);
    (store, dir)
}

fn venues(a: Arc<Mock>, b: Arc<Mock>) -> Venues {
    let mut v: Venues = HashMap::new();
    v.insert(Venue::Kalshi, a);
    v.insert(Venue::PolymarketClob, b);
    v
}

fn cfg() -> ExecConfig {
    ExecConfig { unknown_window_ms: 1_000, leg_timeout_ms: 2_000, ..ExecConfig::default() }
}

#[tokio::test]
async fn both_legs_fill_and_the_bundle_is_open() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    let out = ex.enter(&plan(10)).await;
    assert_eq!(out.status, BundleStatus::Open);
    let held = out.held.unwrap();
    assert_eq!(held.quantity, Qty::from_contracts(10));
    // 10 x 0.40 + 0.10 fee and 10 x 0.50 + 0.10 fee
    assert_eq!(held.cost, Money::parse("9.20").unwrap());
    let rec = store.bundle(out.bundle.unwrap() as i64).await.unwrap().unwrap();
    assert_eq!(rec.status, BundleStatus::Open);
    assert_eq!(rec.cost, held.cost);
    assert_eq!(rec.legs.len(), 2);
    // Intent before action: both orders were written, and are now resolved.
    assert!(store.unresolved_orders().await.unwrap().is_empty());
    assert_eq!(store.orders_for_bundle(rec.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_rejected_leg_is_unwound_and_the_loss_booked() {
    let (store, _d) = store().await;
    // Kalshi fills the buy at 0.40 and later buys our unwind at the floor the loss cap allows.
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| reject(o)));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    let out = ex.enter(&plan(10)).await;
    assert_eq!(out.status, BundleStatus::Failed);
    assert!(out.held.is_none());
    assert_eq!(out.unhedged, Qty::ZERO, "no unhedged exposure is left");
    let calls = a.calls.lock().clone();
    assert_eq!(calls.len(), 2, "one buy, one sell back: {calls:?}");
    assert_eq!(calls[1].action, Action::Sell);
    assert_eq!(calls[1].quantity, Qty::from_contracts(10));
    // Cash: paid 4.00 + 0.10; got back 10 x floor - 0.10 fee. Realised = the difference, exactly.
    let back = Qty::from_contracts(10).value_at(calls[1].limit_price, Rounding::Down) - Money::parse("0.10").unwrap();
    assert_eq!(out.realized, back - Money::parse("4.10").unwrap());
    // The cap (10% of 4.10) bounds the price given up; the sale's own fee comes on top.
    assert!(out.realized >= -Money::parse("0.51").unwrap(), "within the loss cap: {}", out.realized);
    assert_eq!(b.calls.lock().len(), 1 + cfg().retry_attempts as usize, "the rejected leg was retried");
    let rec = store.bundle(out.bundle.unwrap() as i64).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.realized_pnl), (BundleStatus::Failed, out.realized));
    assert!(*a.positions.lock().get(&k(Venue::Kalshi, "K")).unwrap() == Qty::ZERO);
}

#[tokio::test]
async fn a_partial_fill_is_completed_by_a_bounded_retry() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    // First order fills 60%; the retry fills the rest.
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, n| Ok(fill(o, if n == 0 { 600_000 } else { 1_000_000 }))));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    let out = ex.enter(&plan(10)).await;
    assert_eq!(out.status, BundleStatus::Open);
    assert_eq!(out.held.as_ref().unwrap().quantity, Qty::from_contracts(10));
    let calls = b.calls.lock().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].quantity, Qty::from_contracts(4));
    assert!(calls[1].limit_price > calls[0].limit_price, "the retry may pay a little more");
    assert!(calls[1].limit_price <= Price::parse("0.52").unwrap(), "but no more than the allowance");
    assert_eq!(out.realized, Money::ZERO);
}

#[tokio::test]
async fn a_partial_fill_that_cannot_be_completed_is_trimmed() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, n| if n == 0 { Ok(fill(o, 600_000)) } else { reject(o) }));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    let out = ex.enter(&plan(10)).await;
    assert_eq!(out.status, BundleStatus::Open);
    let held = out.held.unwrap();
    assert_eq!(held.quantity, Qty::from_contracts(6));
    assert!(held.legs.iter().all(|l| l.2 == Qty::from_contracts(6)), "both legs hold 6: {held:?}");
    assert_eq!(out.unhedged, Qty::ZERO);
    assert!(out.realized < Money::ZERO, "selling the extra 4 back cost something");
}

#[tokio::test]
async fn exits_sell_every_leg_and_realise_the_difference() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    let held = ex.enter(&plan(10)).await.held.unwrap();
    let exit = ExitPlan {
        bundle: held.bundle,
        strategy: "test".into(),
        legs: vec![
            ExitLeg {
                market: k(Venue::Kalshi, "K"),
                market_id: 0,
                venue: Venue::Kalshi,
                side: Side::Yes,
                quantity: Qty::from_contracts(10),
                limit_price: Price::parse("0.46").unwrap(),
                pool: None,
                tick: Price::parse("0.01").unwrap(),
            },
            ExitLeg {
                market: k(Venue::PolymarketClob, "0xP"),
                market_id: 1,
                venue: Venue::PolymarketClob,
                side: Side::No,
                quantity: Qty::from_contracts(10),
                limit_price: Price::parse("0.55").unwrap(),
                pool: None,
                tick: Price::parse("0.01").unwrap(),
            },
        ],
        decided_at: 0,
    };
    let out = ex.exit(&exit).await;
    assert_eq!(out.status, BundleStatus::Closed);
    assert!(out.remaining.is_none());
    // In: 4.60 - 0.10 + 5.50 - 0.10 = 9.90; out: 9.20. Realised 0.70, exactly.
    assert_eq!(out.realized, Money::parse("0.70").unwrap());
    let rec = store.bundle(held.bundle as i64).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.realized_pnl), (BundleStatus::Closed, Money::parse("0.70").unwrap()));
}

#[tokio::test]
async fn a_crash_after_the_intent_is_recovered_without_duplicates() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    // The first host wrote its intent, sent the Kalshi leg (which filled), then died.
    let p = plan(10);
    let orders: Vec<OrderRequest> = p
        .legs
        .iter()
        .enumerate()
        .map(|(i, l)| OrderRequest {
            client_order_id: format!("crashed-{i}"),
            market: l.market.clone(),
            side: l.side,
            action: Action::Buy,
            quantity: l.quantity,
            limit_price: l.limit_price,
            time_in_force: arbytron_model::venue::TimeInForce::ImmediateOrCancel,
            amount: None,
        })
        .collect();
    let new = arbytron_store::NewBundle {
        strategy: "test".into(),
        link_id: 1,
        quantity: p.quantity,
        cost: p.cost,
        fees: p.fees,
        expected_payout: p.payout,
        opened_at: 0,
        resolves_at: p.resolves_at,
        note: String::new(),
    };
    let (bundle, _) = store.begin_bundle(&new, &orders).await.unwrap();
    a.remember(&orders[0], fill(&orders[0], 1_000_000));

    // A new host starts: the Kalshi order is found (filled), the Polymarket one never arrived,
    // so the bundle is one-legged and gets repaired by buying the missing leg.
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    let markets = |m: &MarketKey| {
        Some(MarketRef {
            id: if m.venue == Venue::Kalshi { 0 } else { 1 },
            tick: Price::parse("0.01").unwrap(),
            pool: None,
        })
    };
    let r = ex.recover(&markets, &|id| (id == 1).then_some(1)).await;
    assert_eq!((r.resolved, r.never_sent, r.still_unknown), (1, 1, 0));
    assert_eq!(r.held.len(), 1);
    assert_eq!(r.held[0].bundle, bundle as u64);
    assert_eq!(r.held[0].quantity, Qty::from_contracts(10));
    assert_eq!(a.calls.lock().len(), 0, "the Kalshi order was not sent again");
    let b_calls = b.calls.lock().clone();
    assert_eq!(b_calls.len(), 1, "only the missing leg was bought");
    assert_ne!(b_calls[0].client_order_id, "crashed-1", "with a new client order id");
    assert!(store.unresolved_orders().await.unwrap().is_empty());
    // Our positions now agree with the venues'.
    assert!(ex.check_positions().await.drifts.is_empty());
}

#[tokio::test]
async fn drift_between_our_books_and_a_venue_is_reported() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    ex.enter(&plan(10)).await;
    assert!(ex.check_positions().await.drifts.is_empty());
    // Someone trades on the account by hand.
    *a.positions.lock().get_mut(&k(Venue::Kalshi, "K")).unwrap() += Qty::from_contracts(3);
    let d = ex.check_positions().await.drifts;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].market, k(Venue::Kalshi, "K"));
    assert_eq!((d[0].ours, d[0].venue), (Qty::from_contracts(10), Qty::from_contracts(13)));
}

#[tokio::test]
async fn settlement_waits_until_every_venue_pays_out_and_books_the_redeem_gas() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    // The second venue's tokens must be redeemed: its node is down at first.
    b.redeems.lock().extend([
        Err(VenueError::Unavailable { venue: Venue::PolymarketClob, message: "node down".into() }),
        Ok(Some(Redemption { collected: Money::from_dollars(10), cost: Money::parse("0.03").unwrap() })),
    ]);
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    let held = ex.enter(&plan(10)).await.held.unwrap();
    let settle = SettlePlan {
        bundle: held.bundle,
        payout: Money::from_dollars(10),
        results: vec![(k(Venue::Kalshi, "K"), Some(Side::No)), (k(Venue::PolymarketClob, "0xP"), Some(Side::No))],
    };

    let first = ex.settle(&settle).await;
    assert_eq!(first.status, BundleStatus::Open, "not settled while a venue cannot pay");
    assert_eq!(first.venue_errors, vec![Venue::PolymarketClob]);
    assert_eq!(first.realized, Money::ZERO);
    assert!(first.remaining.is_some() && ex.bundle(held.bundle).is_some(), "the bundle is still held");
    assert_eq!(store.bundle(held.bundle as i64).await.unwrap().unwrap().status, BundleStatus::Open);

    let second = ex.settle(&settle).await;
    assert_eq!(second.status, BundleStatus::Settled);
    assert!(second.remaining.is_none() && ex.bundle(held.bundle).is_none());
    // Paid 9.20 with fees; collected 10.00; the redeem's gas 0.03 is a fee too.
    assert_eq!(second.realized, Money::parse("0.77").unwrap());
    let rec = store.bundle(held.bundle as i64).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.realized_pnl), (BundleStatus::Settled, Money::parse("0.77").unwrap()));
    // Each venue was asked once per attempt for its one market.
    assert_eq!(a.redeemed.lock().len(), 2);
    assert_eq!(*b.redeemed.lock(), vec![k(Venue::PolymarketClob, "0xP"); 2]);
    // The venues still list the tokens (until redeemed or paid): not drift.
    assert!(!b.positions.lock().is_empty());
    assert!(ex.check_positions().await.drifts.is_empty(), "positions in resolved markets are not drift");
}

#[tokio::test]
async fn legs_unwound_together_share_one_loss_cap() {
    let (store, _d) = store().await;
    // Two Kalshi legs fill; the Polymarket leg is rejected: both must be sold back.
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| reject(o)));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    let mut p = plan(10);
    let mut second = p.legs[0].clone();
    second.market = k(Venue::Kalshi, "K2");
    second.market_id = 2;
    p.legs.push(second);
    let out = ex.enter(&p).await;
    assert_eq!(out.status, BundleStatus::Failed);
    assert_eq!(out.unhedged, Qty::ZERO);
    let sells: Vec<_> = a.calls.lock().iter().filter(|o| o.action == Action::Sell).cloned().collect();
    assert_eq!(sells.len(), 2, "both filled legs sold back: {sells:?}");
    // Paid 2 x (4.00 + 0.10) = 8.20; the cap is 10% of that for the bundle, not per
    // leg. The sales' own fees (0.10 each) come on top.
    assert!(out.realized >= -Money::parse("1.02").unwrap(), "one cap for the bundle: {}", out.realized);
    assert!(out.realized < Money::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_in_flight_is_not_drift() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    // The venue fills at once, but the answer is held back: the venue is ahead of us.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    *a.answer_gate.lock() = Some(gate.clone());
    let ex = Arc::new(Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg()));
    let entry = tokio::spawn({
        let ex = ex.clone();
        async move { ex.enter(&plan(10)).await }
    });
    while a.positions.lock().is_empty() {
        tokio::task::yield_now().await;
    }
    assert!(ex.bundles().is_empty(), "our books do not have it yet");
    assert!(ex.check_positions().await.drifts.is_empty(), "a fill we have not booked yet is not drift");
    gate.add_permits(10);
    assert_eq!(entry.await.unwrap().status, BundleStatus::Open);
    assert!(ex.check_positions().await.drifts.is_empty(), "booked: both sides agree");
    // A real difference is still found.
    *a.positions.lock().get_mut(&k(Venue::Kalshi, "K")).unwrap() += Qty::from_contracts(1);
    assert_eq!(ex.check_positions().await.drifts.len(), 1);
}

#[tokio::test]
async fn open_orders_we_did_not_place_or_think_finished_are_reported() {
    let (store, _d) = store().await;
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    ex.enter(&plan(10)).await;
    let ours = a.calls.lock()[0].client_order_id.clone();
    assert!(ex.check_positions().await.orphans.is_empty(), "nothing rests");
    let resting = |id: Option<&str>, v: &str| OpenOrder {
        venue_order_id: v.into(),
        client_order_id: id.map(str::to_string),
        market: k(Venue::Kalshi, "K"),
        side: Side::Yes,
        action: Action::Buy,
        price: Price::parse("0.30").unwrap(),
        remaining: Qty::from_contracts(5),
        filled: Qty::ZERO,
    };
    // Our entry order (filled, as far as we know) resting anyway, and one placed by hand.
    *a.open.lock() = vec![resting(Some(&ours), "v-ours"), resting(None, "v-manual")];
    let check = ex.check_positions().await;
    let ids: Vec<_> = check.orphans.iter().map(|o| o.venue_order_id.as_str()).collect();
    assert_eq!(ids, vec!["v-ours", "v-manual"]);
    assert!(check.checked.contains(&Venue::Kalshi));
}

#[tokio::test]
async fn a_leg_left_over_in_a_resolved_market_is_settled_not_sold() {
    let (store, _d) = store().await;
    // The Kalshi leg fills; the Polymarket leg is refused because that market just resolved.
    let a = Mock::new(Venue::Kalshi, Box::new(|o, _| Ok(fill(o, 1_000_000))));
    let b = Mock::new(Venue::PolymarketClob, Box::new(|o, _| reject(o)));
    let ex = Executor::new(venues(a.clone(), b.clone()), ledger(&store, &_d), cfg());
    ex.mark_resolved(&k(Venue::Kalshi, "K"), Some(Side::Yes));
    ex.mark_resolved(&k(Venue::PolymarketClob, "0xP"), Some(Side::Yes));
    let out = ex.enter(&plan(10)).await;
    // Nothing to sell in a resolved market: the Kalshi YES leg is paid $1 a contract.
    assert_eq!(a.calls.lock().len(), 1, "no sell-back order: {:?}", a.calls.lock());
    assert_eq!(b.calls.lock().len(), 1, "no retry on a resolved market");
    assert_eq!(out.unhedged, Qty::ZERO);
    assert_eq!(out.realized, Money::parse("5.90").unwrap(), "10 x $1 less 4.00 + 0.10");
    assert_eq!(*a.redeemed.lock(), vec![k(Venue::Kalshi, "K")], "the venue was asked to pay out");
}
