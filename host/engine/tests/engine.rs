//! The engine end to end on hand-built books, with native strategies.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arbytron_engine::{Action, Engine, EngineConfig, Held, LinkSpec, Reject, RiskLimits, Scorer, Strategies};
use arbytron_model::{Book, FeedState, MarketInfo, MarketKey, MarketStatus, MarketUpdate, VenueRefs};
use arbytron_sdk::sizing::{Limits, best_opportunity};
use arbytron_sdk::wire::{LegsBuf, MarketView};
use arbytron_sdk::{
    Candidate, ExitDecision, FeeSchedule, Level, Money, Opportunity, Order, Position, Price, Qty, Side, Venue,
};

const NOW: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

/// Buys the cheapest bundle; sells back whenever the bids pay more than cost.
/// `tamper` can corrupt what it returns, to exercise the host's re-check.
type Tamper = Box<dyn Fn(&mut Opportunity)>;

struct Greedy {
    tamper: RefCell<Option<Tamper>>,
    scored: Cell<u32>,
}

impl Greedy {
    fn new() -> Greedy {
        Greedy { tamper: RefCell::new(None), scored: Cell::new(0) }
    }
}

impl Scorer for Greedy {
    fn name(&self) -> Arc<str> {
        Arc::from("greedy")
    }
    fn score(&self, link: u32, now: i64, resolves: i64, legs: &mut LegsBuf) -> Result<Option<Opportunity>, String> {
        self.scored.set(self.scored.get() + 1);
        let c = Candidate::new(link, now, resolves, &legs.legs, &legs.data).map_err(|e| e.to_string())?;
        let mut o = best_opportunity(&c, &Limits::default());
        if let (Some(o), Some(t)) = (o.as_mut(), self.tamper.borrow().as_ref()) {
            t(o);
        }
        Ok(o)
    }
    fn decide_exit(&self, p: &Position, now: i64, view: &LegsBuf) -> Result<ExitDecision, String> {
        let v = MarketView::new(now, &view.legs, &view.data).map_err(|e| e.to_string())?;
        let mut orders = Vec::new();
        let mut proceeds = Money::ZERO;
        for leg in &p.legs {
            let l = v.find(leg.market, leg.side).ok_or("leg missing")?;
            let arbytron_sdk::Source::Book(bids) = l.source else { return Ok(ExitDecision::Hold) };
            let walk = arbytron_sdk::book::sell(bids, leg.quantity, &l.fee).map_err(|e| e.to_string())?;
            proceeds += walk.total;
            orders.push(Order {
                market: leg.market,
                side: leg.side,
                quantity: leg.quantity,
                limit_price: walk.worst_price,
                amount: walk.total,
                fee: walk.fee,
            });
        }
        Ok(if proceeds > p.cost { ExitDecision::Exit(orders) } else { ExitDecision::Hold })
    }
}

struct One<'a>(&'a Greedy);

impl Strategies for One<'_> {
    fn each(&self, f: &mut dyn FnMut(&dyn Scorer)) {
        f(self.0)
    }
    fn with(&self, name: &str, f: &mut dyn FnMut(&dyn Scorer)) {
        if name == "greedy" {
            f(self.0)
        }
    }
}

fn key(venue: Venue, s: &str) -> MarketKey {
    MarketKey::new(venue, s)
}

fn listing(k: &MarketKey, event: &str, fee: FeeSchedule) -> MarketUpdate {
    MarketUpdate::Listing(MarketInfo {
        key: k.clone(),
        event: event.into(),
        title: format!("{} market", k.symbol),
        outcome: String::new(),
        rules: String::new(),
        closes_at: NOW + 30 * DAY,
        mutually_exclusive: false,
        status: MarketStatus::Open,
        fee,
        tick: Price::from_micros_const(10_000),
        min_qty: Qty::from_hundredths(1),
        refs: VenueRefs::default(),
    })
}

fn lvl(p: &str, q: i64) -> Level {
    Level::new(Price::parse(p).unwrap(), Qty::from_contracts(q))
}

fn book(k: &MarketKey, bids: Vec<Level>, asks: Vec<Level>) -> MarketUpdate {
    MarketUpdate::Book { market: k.clone(), book: Book { yes_bids: bids, yes_asks: asks }, venue_ts: NOW }
}

const KALSHI_FEE: FeeSchedule = FeeSchedule::Kalshi { taker_ppm: 70_000, maker_ppm: 0, multiplier_ppm: 1_000_000 };
const POLY_FEE: FeeSchedule = FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 };

/// Kalshi K and Polymarket P on the same question, linked.
fn setup(limits: RiskLimits) -> (Engine, Arc<AtomicBool>, MarketKey, MarketKey) {
    let kill = Arc::new(AtomicBool::new(false));
    let mut e = Engine::new(EngineConfig { risk: limits, ..EngineConfig::default() }, kill.clone());
    let k = key(Venue::Kalshi, "KXFED-26DEC-H0");
    let p = key(Venue::PolymarketClob, "0xfed");
    e.add_link(LinkSpec {
        name: "fed-hold".into(),
        strategies: vec![],
        outcomes: vec![
            vec![format!("kalshi:{}:yes", k.symbol).parse().unwrap(), "polymarket-clob:0xfed:yes".parse().unwrap()],
            vec![format!("kalshi:{}:no", k.symbol).parse().unwrap(), "polymarket-clob:0xfed:no".parse().unwrap()],
        ],
        resolves_at: Some(NOW + 30 * DAY),
        source: "test".into(),
        store_id: None,
    })
    .unwrap();
    let g = Greedy::new();
    assert!(e.on_update(&listing(&k, "KXFED-26DEC", KALSHI_FEE), NOW, &One(&g)).is_empty());
    assert!(e.on_update(&listing(&p, "fed-december", POLY_FEE), NOW, &One(&g)).is_empty());
    (e, kill, k, p)
}

fn entries(actions: &[Action]) -> Vec<&arbytron_engine::EntryPlan> {
    actions.iter().filter_map(|a| if let Action::Enter(p) = a { Some(p) } else { None }).collect()
}

fn rejections(actions: &[Action]) -> Vec<&Reject> {
    actions.iter().filter_map(|a| if let Action::Rejected(r) = a { Some(&r.reason) } else { None }).collect()
}

#[test]
fn takes_a_cross_venue_dislocation_once() {
    let (mut e, _, k, p) = setup(RiskLimits::default());
    let g = Greedy::new();
    // Kalshi YES asks 0.40; Polymarket YES bids 0.55 => Polymarket NO asks 0.45. 0.40 + 0.45 < 1.
    assert!(entries(&e.on_update(&book(&k, vec![lvl("0.38", 100)], vec![lvl("0.40", 20)]), NOW, &One(&g))).is_empty());
    let actions = e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![lvl("0.58", 30)]), NOW + 1, &One(&g));
    let plan = entries(&actions);
    assert_eq!(plan.len(), 1, "{actions:?}");
    let plan = plan[0];
    assert_eq!(plan.quantity, Qty::from_contracts(20), "limited by the Kalshi depth");
    let legs: Vec<(Venue, Side, Price)> = plan.legs.iter().map(|l| (l.venue, l.side, l.limit_price)).collect();
    assert!(legs.contains(&(Venue::Kalshi, Side::Yes, Price::parse("0.40").unwrap())));
    assert!(legs.contains(&(Venue::PolymarketClob, Side::No, Price::parse("0.45").unwrap())));
    // cost 20*0.40 + fee ceil_cent(0.07*20*.24)=0.34 + 20*0.45 + 0.04*20*.2475=0.198
    assert_eq!(plan.cost, Money::parse("17.538").unwrap());
    assert_eq!(plan.profit, Money::from_dollars(20) - plan.cost);
    assert!(e.risk.link_busy(plan.link));
    assert_eq!(e.risk.total_exposure(), plan.cost);
    // The link is busy: the same books do not trade twice.
    let again = e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![lvl("0.58", 30)]), NOW + 2, &One(&g));
    assert!(entries(&again).is_empty());
}

#[test]
fn links_whose_cheapest_asks_cost_a_dollar_are_not_scored() {
    let (mut e, _, k, p) = setup(RiskLimits::default());
    let g = Greedy::new();
    e.on_update(&book(&k, vec![lvl("0.38", 100)], vec![lvl("0.60", 20)]), NOW, &One(&g));
    assert_eq!(g.scored.get(), 0, "one venue alone leaves an outcome without a leg");
    // Cheapest YES 0.58 (Polymarket), cheapest NO 1 - 0.42 = 0.58 (Polymarket): $1.16.
    e.on_update(&book(&p, vec![lvl("0.42", 30)], vec![lvl("0.58", 30)]), NOW, &One(&g));
    assert_eq!(g.scored.get(), 0);
    // Exactly $1: YES 0.58 + NO 0.42 still cannot pay.
    e.on_update(&book(&p, vec![lvl("0.58", 30)], vec![lvl("0.58", 30)]), NOW, &One(&g));
    assert_eq!(g.scored.get(), 0);
    // 0.58 + 0.41 = $0.99 before fees: worth asking (fees make it a loss, so no entry).
    let actions = e.on_update(&book(&p, vec![lvl("0.59", 30)], vec![lvl("0.58", 30)]), NOW, &One(&g));
    assert_eq!(g.scored.get(), 1);
    assert!(entries(&actions).is_empty(), "{actions:?}");
}

#[test]
fn stale_books_frozen_feeds_and_the_kill_switch_stop_trading() {
    let g = Greedy::new();
    // A feed the connector marked stale.
    let (mut e, _, k, p) = setup(RiskLimits::default());
    e.on_update(&book(&k, vec![], vec![lvl("0.40", 20)]), NOW, &One(&g));
    e.on_update(&MarketUpdate::Feed { market: k.clone(), state: FeedState::Stale, venue_ts: NOW }, NOW, &One(&g));
    assert!(
        entries(&e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![]), NOW + 1, &One(&g))).is_empty(),
        "stale feed"
    );
    // The next snapshot makes it fresh again, and it trades.
    assert_eq!(entries(&e.on_update(&book(&k, vec![], vec![lvl("0.40", 20)]), NOW + 2, &One(&g))).len(), 1);

    // A frozen feed that never said so: its last book is too old.
    let (mut e, _, k, p) = setup(RiskLimits::default());
    e.on_update(&book(&k, vec![], vec![lvl("0.40", 20)]), NOW, &One(&g));
    let late = NOW + e.risk.limits.max_book_age_ms + 1;
    assert!(entries(&e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![]), late, &One(&g))).is_empty(), "old book");

    // The kill switch stops new trades within one update, and releasing it resumes.
    let (mut e, kill, k, p) = setup(RiskLimits::default());
    e.on_update(&book(&k, vec![], vec![lvl("0.40", 20)]), NOW, &One(&g));
    kill.store(true, Ordering::Relaxed);
    assert!(entries(&e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![]), NOW, &One(&g))).is_empty(), "killed");
    kill.store(false, Ordering::Relaxed);
    assert_eq!(entries(&e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![]), NOW, &One(&g))).len(), 1);
}

#[test]
fn the_host_recheck_catches_lying_strategies() {
    let (mut e, _, k, p) = setup(RiskLimits::default());
    let g = Greedy::new();
    e.on_update(&book(&k, vec![], vec![lvl("0.40", 20)]), NOW, &One(&g));
    let cases: Vec<(Tamper, &str)> = vec![
        (Box::new(|o| o.quantity = Qty::from_contracts(500)), "invalid"),
        (Box::new(|o| o.orders[0].quantity = Qty::from_contracts(1)), "invalid"),
        (Box::new(|o| o.orders.truncate(1)), "invalid"),
        (Box::new(|o| o.orders[0].limit_price = Price::parse("0.01").unwrap()), "cannot_fill"),
        (
            Box::new(|o| {
                for ord in &mut o.orders {
                    ord.quantity = Qty::from_contracts(25);
                }
                o.quantity = Qty::from_contracts(25);
            }),
            "cannot_fill",
        ),
    ];
    for (i, (tamper, label)) in cases.into_iter().enumerate() {
        *g.tamper.borrow_mut() = Some(tamper);
        // Far enough apart that each rejection is recorded (they are rate-limited per reason).
        let t = NOW + 10_001 * (i as i64 + 1);
        e.on_update(&book(&k, vec![], vec![lvl("0.40", 20)]), t, &One(&g));
        let actions = e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![]), t, &One(&g));
        assert!(entries(&actions).is_empty(), "case {i}");
        let r = rejections(&actions);
        assert_eq!(r.first().map(|r| r.label()), Some(label), "case {i}: {r:?}");
    }
}

#[test]
fn limits_reject_with_reasons() {
    let cases = [
        (RiskLimits { min_profit: Money::from_dollars(5), ..RiskLimits::default() }, "min_profit"),
        (RiskLimits { max_trade_capital: Money::from_dollars(5), ..RiskLimits::default() }, "trade_capital"),
        (RiskLimits { min_spread: Price::parse("0.20").unwrap(), ..RiskLimits::default() }, "min_spread"),
        (RiskLimits { min_apy: Money::from_dollars(100), ..RiskLimits::default() }, "min_apy"),
        (RiskLimits { max_venue_exposure: Money::from_dollars(5), ..RiskLimits::default() }, "venue_exposure"),
    ];
    for (limits, label) in cases {
        let (mut e, _, k, p) = setup(limits);
        let g = Greedy::new();
        e.on_update(&book(&k, vec![], vec![lvl("0.40", 20)]), NOW, &One(&g));
        let actions = e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![]), NOW + 1, &One(&g));
        assert!(entries(&actions).is_empty(), "{label}");
        assert_eq!(rejections(&actions).first().map(|r| r.label()), Some(label));
    }
    // Slippage: two levels far apart on Kalshi; a 1% cap forbids walking to the second.
    let (mut e, _, k, p) = setup(RiskLimits { max_slippage: Money::parse("0.01").unwrap(), ..RiskLimits::default() });
    let g = Greedy::new();
    e.on_update(&book(&k, vec![], vec![lvl("0.30", 1), lvl("0.40", 20)]), NOW, &One(&g));
    let actions = e.on_update(&book(&p, vec![lvl("0.55", 30)], vec![]), NOW + 1, &One(&g));
    assert_eq!(rejections(&actions).first().map(|r| r.label()), Some("slippage"));
}

#[test]
fn held_bundles_exit_when_bids_pay_and_settle_when_resolved() {
    let (mut e, _, k, p) = setup(RiskLimits::default());
    let g = Greedy::new();
    let kid = e.markets.id(&k).unwrap();
    let pid = e.markets.id(&p).unwrap();
    e.hold(Held {
        bundle: 7,
        strategy: "greedy".into(),
        link: 1,
        quantity: Qty::from_contracts(10),
        legs: vec![
            (kid, Side::Yes, Qty::from_contracts(10), Money::parse("4.40").unwrap()),
            (pid, Side::No, Qty::from_contracts(10), Money::parse("4.60").unwrap()),
        ],
        cost: Money::from_dollars(9),
        opened_at: NOW - DAY,
        resolves_at: NOW + 30 * DAY,
    });
    // Bids worth less than cost: hold.
    let mut a = e.on_update(&book(&k, vec![lvl("0.41", 50)], vec![lvl("0.60", 50)]), NOW, &One(&g));
    a.extend(e.on_update(&book(&p, vec![lvl("0.40", 50)], vec![lvl("0.55", 50)]), NOW, &One(&g)));
    assert!(!a.iter().any(|a| matches!(a, Action::Exit(_))), "{a:?}");
    // Converged: Kalshi YES bid 0.46 (4.60 - 0.18 fee), Polymarket NO bid = 1 - YES ask 0.45 = 0.55
    // (5.50 - 0.10 fee): 9.82 > 9.00. The first of the two updates is not enough on its own.
    let a = e.on_update(&book(&k, vec![lvl("0.46", 50)], vec![lvl("0.52", 50)]), NOW, &One(&g));
    assert!(!a.iter().any(|a| matches!(a, Action::Exit(_))), "{a:?}");
    let a = e.on_update(&book(&p, vec![lvl("0.40", 50)], vec![lvl("0.45", 50)]), NOW, &One(&g));
    let exit = a.iter().find_map(|a| if let Action::Exit(x) = a { Some(x) } else { None }).expect("exit");
    assert_eq!(exit.bundle, 7);
    assert_eq!(exit.legs.len(), 2);
    let again = e.on_update(&book(&p, vec![lvl("0.40", 50)], vec![lvl("0.45", 50)]), NOW, &One(&g));
    assert!(!again.iter().any(|a| matches!(a, Action::Exit(_))), "no second exit while one is in flight");

    e.exit_abandoned(7);
    let settle = |e: &mut Engine, m: &MarketKey, r: Option<Side>| {
        e.on_update(
            &MarketUpdate::Status { market: m.clone(), status: MarketStatus::Settled { result: r }, venue_ts: NOW },
            NOW,
            &One(&g),
        )
    };
    assert!(settle(&mut e, &k, Some(Side::No)).is_empty(), "one leg settled is not the bundle");
    // The other resolution arrives in a listing: a host that was down when the
    // market resolved learns it at discovery.
    let MarketUpdate::Listing(mut info) = listing(&p, "P", POLY_FEE) else { unreachable!() };
    info.status = MarketStatus::Settled { result: Some(Side::No) };
    let a = e.on_update(&MarketUpdate::Listing(info), NOW, &One(&g));
    let s = a.iter().find_map(|a| if let Action::Settle(s) = a { Some(s) } else { None }).expect("settle");
    assert_eq!(s.payout, Money::from_dollars(10), "the NO leg wins: 10 x $1");
}

#[test]
fn multi_outcome_bundle_across_two_venues() {
    let kill = Arc::new(AtomicBool::new(false));
    let mut e = Engine::new(EngineConfig::default(), kill);
    let g = Greedy::new();
    let names = ["A", "B", "C"];
    let mut outcomes = Vec::new();
    for n in names {
        let km = key(Venue::Kalshi, &format!("K-{n}"));
        let pm = key(Venue::PolymarketClob, &format!("0x{n}"));
        e.on_update(&listing(&km, "K", KALSHI_FEE), NOW, &One(&g));
        e.on_update(&listing(&pm, "P", POLY_FEE), NOW, &One(&g));
        outcomes.push(vec![
            format!("kalshi:K-{n}:yes").parse().unwrap(),
            format!("polymarket-clob:0x{n}:yes").parse().unwrap(),
        ]);
    }
    e.add_link(LinkSpec {
        name: "three".into(),
        strategies: vec![],
        outcomes,
        resolves_at: Some(NOW + 10 * DAY),
        source: "t".into(),
        store_id: None,
    })
    .unwrap();
    // Cheapest: A on Kalshi 0.20, B on Polymarket 0.30, C on Kalshi 0.35 => 0.85.
    let asks = [("K-A", "0.20"), ("0xA", "0.25"), ("K-B", "0.36"), ("0xB", "0.30"), ("K-C", "0.35"), ("0xC", "0.40")];
    let mut last = Vec::new();
    for (i, (s, a)) in asks.iter().enumerate() {
        let venue = if s.starts_with("K-") { Venue::Kalshi } else { Venue::PolymarketClob };
        last.extend(e.on_update(&book(&key(venue, s), vec![], vec![lvl(a, 10)]), NOW + i as i64, &One(&g)));
    }
    let plan = entries(&last);
    assert_eq!(plan.len(), 1, "{last:?}");
    let mut chosen: Vec<String> = plan[0].legs.iter().map(|l| l.market.symbol.clone()).collect();
    chosen.sort();
    assert_eq!(chosen, vec!["0xB", "K-A", "K-C"]);
    assert_eq!(plan[0].payout, Money::from_dollars(10));
}

/// A Kalshi market linked with outcome 0 of a binary pool holding `dollars`
/// (YES spot 0.30, 1% fee).
fn pool_setup(limits: RiskLimits, dollars: u128) -> (Engine, MarketKey, MarketKey) {
    let kill = Arc::new(AtomicBool::new(false));
    let mut e = Engine::new(EngineConfig { risk: limits, ..EngineConfig::default() }, kill);
    let k = key(Venue::Kalshi, "KXETH");
    let pool = "0x00000000000000000000000000000000000000aa";
    let a = key(Venue::PolymarketAmm, &format!("{pool}:0"));
    e.add_link(LinkSpec {
        name: "eth".into(),
        strategies: vec![],
        outcomes: vec![
            vec![
                format!("kalshi:{}:yes", k.symbol).parse().unwrap(),
                format!("polymarket-amm:{}:yes", a.symbol).parse().unwrap(),
            ],
            vec![
                format!("kalshi:{}:no", k.symbol).parse().unwrap(),
                format!("polymarket-amm:{}:no", a.symbol).parse().unwrap(),
            ],
        ],
        resolves_at: Some(NOW + 30 * DAY),
        source: "test".into(),
        store_id: None,
    })
    .unwrap();
    let g = Greedy::new();
    e.on_update(&listing(&k, "KXETH", KALSHI_FEE), NOW, &One(&g));
    let MarketUpdate::Listing(mut info) = listing(&a, pool, FeeSchedule::Amm { fee_wad: 10_000_000_000_000_000 })
    else {
        unreachable!()
    };
    info.refs = VenueRefs { pool: Some(pool.into()), pool_outcome: 0, pool_outcomes: 2, ..VenueRefs::default() };
    e.on_update(&MarketUpdate::Listing(info), NOW, &One(&g));
    // Spot of outcome 0 = 300 / (700 + 300) = $0.30.
    let state = arbytron_model::PoolState {
        address: pool.into(),
        fee_wad: 10_000_000_000_000_000,
        balances: vec![dollars * 700_000, dollars * 300_000],
        total_shares: dollars * 1_000_000,
        block: 1,
    };
    e.on_update(&MarketUpdate::Pool { market: a.clone(), pool: state, venue_ts: NOW }, NOW, &One(&g));
    (e, k, a)
}

#[test]
fn pool_legs_are_held_to_the_slippage_limit_too() {
    // Kalshi NO asks 0.50 (YES bid 0.50); the pool's YES costs 0.30 and more as we buy.
    let update = |k: &MarketKey| book(k, vec![lvl("0.50", 100)], vec![lvl("0.52", 100)]);
    let g = Greedy::new();

    let (mut e, k, a) = pool_setup(RiskLimits::default(), 100_000);
    let actions = e.on_update(&update(&k), NOW + 1, &One(&g));
    let plan = entries(&actions);
    assert_eq!(plan.len(), 1, "a deep pool stays within the default 5%: {actions:?}");
    let pool_leg = plan[0].legs.iter().find(|l| l.market == a).expect("a pool leg");
    assert!(pool_leg.pool.is_some());

    // A thin pool: the same size walks its price well past 5%.
    let (mut e, k, _) = pool_setup(RiskLimits::default(), 1_000);
    let actions = e.on_update(&update(&k), NOW + 1, &One(&g));
    assert!(entries(&actions).is_empty(), "{actions:?}");
    assert_eq!(rejections(&actions).first().map(|r| r.label()), Some("slippage"));

    // 0.5%: less than the pool's own 1% fee, so no pool leg can pass.
    let tight = RiskLimits { max_slippage: Money::parse("0.005").unwrap(), ..RiskLimits::default() };
    let (mut e, k, _) = pool_setup(tight, 100_000);
    let actions = e.on_update(&update(&k), NOW + 1, &One(&g));
    assert!(entries(&actions).is_empty(), "{actions:?}");
    assert_eq!(rejections(&actions).first().map(|r| r.label()), Some("slippage"));
}
