//! Every record type comes back exactly as written, down to the micro-unit,
//! including values at the edges of the 64-bit range.

use std::collections::BTreeMap;

use arbytron_model::venue::{Action, FillEvent, FillState, OrderReport, OrderStatus, TimeInForce};
use arbytron_model::{FeeSchedule, MarketInfo, MarketStatus, Money, Price, Qty, Side, Venue, VenueRefs};
use arbytron_store::*;

use crate::common::*;
use crate::on_both_backends;

const NOW: i64 = 1_782_907_200_123;

on_both_backends!(
    markets_round_trip,
    links_round_trip,
    strategy_versions_round_trip,
    opportunities_round_trip_and_filter,
    execution_records_round_trip,
    fills_and_positions_round_trip,
    pnl_snapshots_round_trip,
);

fn market(symbol: &str, fee: FeeSchedule, status: MarketStatus) -> MarketInfo {
    MarketInfo {
        key: kalshi(symbol),
        event: "KXFED-26DEC".into(),
        title: "Fed funds upper bound above 4.00% after Dec 2026 meeting?".into(),
        outcome: "Above 4.00% — “quoted” ünïcode".into(),
        rules: "Resolves YES if ... 'single quotes' and \"double\"".into(),
        closes_at: 1_797_000_000_000,
        mutually_exclusive: true,
        status,
        fee,
        tick: price("0.01"),
        min_qty: Qty::from_hundredths(1),
        refs: VenueRefs::default(),
    }
}

async fn markets_round_trip(db: TestDb) {
    let store = db.store().await.with_clock(|| NOW);
    let a = market(
        "KXFED-26DEC-T4.00",
        FeeSchedule::kalshi("KXFED", "quadratic_with_maker_fees", "1").unwrap(),
        MarketStatus::Open,
    );
    let mut b = market(
        "0xabc",
        FeeSchedule::Polymarket { rate_ppm: 30_000, exponent: 2 },
        MarketStatus::Settled { result: None },
    );
    b.key = poly("0xabc");
    b.mutually_exclusive = false;
    b.tick = Price::from_micros(100).unwrap();
    b.min_qty = Qty::MAX;
    b.refs = VenueRefs {
        yes_token: Some("71321045679252212594626385532706912750332728571942532289631379312455583992563".into()),
        no_token: Some("52114319501245915516055106046884209969926127482827954674443846427813813222426".into()),
        neg_risk: true,
        ..VenueRefs::default()
    };
    let mut c = market(
        "0xpool:1",
        FeeSchedule::Amm { fee_wad: 999_999_999_999_999_999 },
        MarketStatus::Settled { result: Some(Side::No) },
    );
    c.key = arbytron_model::MarketKey::new(Venue::PolymarketAmm, "0xpool:1");
    c.tick = Price::ONE;
    c.refs = VenueRefs {
        pool: Some("0x5FbDB2315678afecb367f032d93F642f64180aa3".into()),
        pool_outcome: 1,
        pool_outcomes: 3,
        ..VenueRefs::default()
    };
    for m in [&a, &b, &c] {
        store.upsert_market(m).await.unwrap();
    }
    let got = store.markets().await.unwrap();
    assert_eq!(got.iter().map(|r| &r.info).collect::<Vec<_>>(), vec![&a, &c, &b], "ordered by venue, symbol");
    assert!(got.iter().all(|r| r.updated_at == NOW));

    // Upsert replaces what is known, keyed by venue and symbol.
    let mut a2 = a.clone();
    a2.status = MarketStatus::Settled { result: Some(Side::Yes) };
    a2.title = "renamed".into();
    store.upsert_market(&a2).await.unwrap();
    let got = store.markets().await.unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].info, a2);
}

async fn links_round_trip(db: TestDb) {
    let store = db.store().await.with_clock(|| NOW);
    let link = binary_link("config", "KXFED-26DEC-T4.00", "0xfed");
    let id = store.insert_link(&link).await.unwrap();
    let other = store.insert_link(&binary_link("matcher", "KXFED-26DEC-T4.00", "0xfed")).await.unwrap();
    assert_ne!(id, other, "the same outcomes from another source are another link");
    store.approve_link(id).await.unwrap();

    // Inserting it again (next start) is the same link, approval kept, reasons refreshed.
    let mut again = link.clone();
    again.confidence_ppm = 1_000_000;
    again.reasons = vec!["rechecked".into()];
    assert_eq!(store.insert_link(&again).await.unwrap(), id);

    let links = store.links().await.unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(
        links[0],
        LinkRecord {
            id,
            source: "config".into(),
            outcomes: link.outcomes.clone(),
            confidence_ppm: 1_000_000,
            reasons: vec!["rechecked".into()],
            approved: true,
            created_at: NOW,
        }
    );
    assert!(!links[1].approved);
    assert!(matches!(store.approve_link(123_456).await, Err(StoreError::NotFound { .. })));
    let one_outcome = NewLink { outcomes: vec![link.outcomes[0].clone()], ..link.clone() };
    assert!(matches!(store.insert_link(&one_outcome).await, Err(StoreError::Invalid { .. })));
}

async fn strategy_versions_round_trip(db: TestDb) {
    let store = db.store().await;
    let live = StrategyVersion {
        name: "cross-venue-binary".into(),
        version: "0.1.0".into(),
        hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        file: "strategies/cross-venue-binary.wasm".into(),
        loaded_at: NOW,
        result: "live".into(),
        reason: String::new(),
    };
    let failed = StrategyVersion {
        version: "0.1.1".into(),
        loaded_at: NOW + 1,
        result: "self-test".into(),
        reason: "score() trapped: unreachable".into(),
        ..live.clone()
    };
    let other = StrategyVersion { name: "multi-outcome-bundle".into(), ..live.clone() };
    let ids = [
        store.record_strategy_version(&live).await.unwrap(),
        store.record_strategy_version(&failed).await.unwrap(),
        store.record_strategy_version(&other).await.unwrap(),
    ];
    let got = store.strategy_versions(Some("cross-venue-binary")).await.unwrap();
    assert_eq!(got, vec![Stored { id: ids[0], record: live.clone() }, Stored { id: ids[1], record: failed }]);
    assert_eq!(store.strategy_versions(None).await.unwrap().len(), 3);
    let no_result = StrategyVersion { result: String::new(), ..live };
    assert!(matches!(store.record_strategy_version(&no_result).await, Err(StoreError::Invalid { .. })));
}

fn opportunity(link_id: i64, ts: i64, result: OpportunityResult, reason: &str) -> OpportunityRecord {
    OpportunityRecord {
        ts,
        strategy: "cross-venue-binary".into(),
        link_id,
        quantity: contracts(25),
        cost: money("23.512346"),
        fees: money("0.000001"),
        payout: money("25"),
        profit: money("1.487653"),
        return_ppm: 63_271,
        annualized_ppm: 1_254_000,
        result,
        reason: reason.into(),
        bundle_id: None,
        legs: vec![
            OpportunityLeg {
                venue: Venue::Kalshi,
                symbol: "KXFED-26DEC-T4.00".into(),
                side: Side::Yes,
                quantity: contracts(25),
                limit_price: price("0.4321"),
                amount: money("10.8025"),
                fee: money("0.44"),
            },
            OpportunityLeg {
                venue: Venue::PolymarketClob,
                symbol: "0xfed".into(),
                side: Side::No,
                quantity: contracts(25),
                limit_price: price("0.5123"),
                amount: money("12.8075"),
                fee: Money::ZERO,
            },
        ],
    }
}

async fn opportunities_round_trip_and_filter(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let (bundle, _) = store
        .begin_bundle(&new_bundle(link), &[order("o-1", kalshi("KXFED-26DEC-T4.00"), Side::Yes, "0.4321")])
        .await
        .unwrap();

    let mut taken = opportunity(link, NOW, OpportunityResult::Taken, "");
    taken.bundle_id = Some(bundle);
    // The extremes of every amount column.
    let mut extreme = opportunity(link, NOW + 10, OpportunityResult::Rejected, "stale book: kalshi 1200 ms");
    extreme.quantity = Qty::MAX;
    extreme.cost = Money::MAX;
    extreme.profit = Money::from_micros(i64::MIN);
    extreme.return_ppm = i64::MIN;
    extreme.annualized_ppm = i64::MAX;
    extreme.legs[0].limit_price = Price::ONE;
    extreme.legs[1].limit_price = Price::ZERO;
    extreme.legs[1].amount = Money::MAX;
    let mut other = opportunity(link, NOW + 20, OpportunityResult::Rejected, "below min profit");
    other.strategy = "multi-outcome-bundle".into();

    let ids = [
        store.record_opportunity(&taken).await.unwrap(),
        store.record_opportunity(&extreme).await.unwrap(),
        store.record_opportunity(&other).await.unwrap(),
    ];

    let all = store.opportunities(&OpportunityFilter::default()).await.unwrap();
    assert_eq!(
        all,
        vec![
            Stored { id: ids[2], record: other.clone() },
            Stored { id: ids[1], record: extreme.clone() },
            Stored { id: ids[0], record: taken.clone() },
        ],
        "newest first, exact"
    );
    let f = |f: OpportunityFilter| {
        let store = store.clone();
        async move { store.opportunities(&f).await.unwrap().into_iter().map(|s| s.id).collect::<Vec<_>>() }
    };
    assert_eq!(
        f(OpportunityFilter { result: Some(OpportunityResult::Taken), ..Default::default() }).await,
        vec![ids[0]]
    );
    assert_eq!(
        f(OpportunityFilter { strategy: Some("cross-venue-binary".into()), ..Default::default() }).await,
        vec![ids[1], ids[0]]
    );
    assert_eq!(
        f(OpportunityFilter { since: Some(NOW + 10), until: Some(NOW + 20), ..Default::default() }).await,
        vec![ids[1]]
    );
    assert_eq!(f(OpportunityFilter { limit: Some(1), ..Default::default() }).await, vec![ids[2]]);
    assert_eq!(f(OpportunityFilter { link_id: Some(link + 1), ..Default::default() }).await, Vec::<i64>::new());

    // A rejection needs its reason; a taken one has none.
    let bad = opportunity(link, NOW, OpportunityResult::Rejected, "");
    assert!(matches!(store.record_opportunity(&bad).await, Err(StoreError::Invalid { .. })));
    let bad = opportunity(link, NOW, OpportunityResult::Taken, "why");
    assert!(matches!(store.record_opportunity(&bad).await, Err(StoreError::Invalid { .. })));
}

async fn execution_records_round_trip(db: TestDb) {
    let store = db.store().await.with_clock(|| NOW);
    let link = with_link(&store).await;
    let mut bundle = new_bundle(link);
    bundle.cost = Money::MAX;
    bundle.fees = Money::from_micros(1);
    bundle.quantity = Qty::MAX;
    bundle.note = "first try".into();
    let mut legs = vec![
        order("b1-k", kalshi("KXFED-26DEC-T4.00"), Side::Yes, "0.999999"),
        order("b1-p", poly("0xfed"), Side::No, "0.000001"),
    ];
    legs[0].quantity = Qty::MAX;
    legs[1].action = Action::Sell;
    legs[1].time_in_force = TimeInForce::GoodTillCanceled;
    legs[1].amount = Some(Money::MAX);
    let (b, i) = store.begin_bundle(&bundle, &legs).await.unwrap();

    let got = store.bundle(b).await.unwrap().expect("bundle written");
    assert_eq!(
        got,
        BundleRecord {
            id: b,
            strategy: bundle.strategy.clone(),
            link_id: link,
            status: BundleStatus::Pending,
            quantity: Qty::MAX,
            cost: Money::MAX,
            fees: Money::from_micros(1),
            expected_payout: bundle.expected_payout,
            realized_pnl: Money::ZERO,
            opened_at: bundle.opened_at,
            closed_at: None,
            resolves_at: bundle.resolves_at,
            note: "first try".into(),
            legs: vec![],
        }
    );
    assert_eq!(
        store.intents(b).await.unwrap(),
        vec![IntentRecord {
            id: i,
            bundle_id: b,
            kind: IntentKind::Entry,
            created_at: NOW,
            state: IntentState::Written
        }]
    );
    let orders = store.orders_for_bundle(b).await.unwrap();
    assert_eq!(orders.iter().map(|o| o.request()).collect::<Vec<_>>(), legs, "orders exactly as they will be sent");
    for o in &orders {
        assert_eq!((o.intent_id, o.bundle_id, o.state), (i, b, OrderState::Intent));
        assert_eq!(
            (o.filled, o.notional, o.fee, o.venue_order_id.as_deref()),
            (Qty::ZERO, Money::ZERO, Money::ZERO, None)
        );
        assert_eq!((o.created_at, o.updated_at, o.reason.as_str()), (NOW, NOW, ""));
    }

    let report = OrderReport {
        client_order_id: "b1-k".into(),
        venue_order_id: "ee7f6bd5-39a0-4a37-8cfb-8a2f0e0f5a11".into(),
        status: OrderStatus::Filled,
        filled: Qty::MAX,
        notional: Money::MAX,
        fee: Money::from_micros(i64::MAX - 1),
    };
    assert_eq!(store.record_order_result("b1-k", &report).await.unwrap(), OrderUpdate::Applied);
    let o = store.order("b1-k").await.unwrap().unwrap();
    assert_eq!(
        (o.state, o.venue_order_id.as_deref(), o.filled, o.notional, o.fee),
        (OrderState::Filled, Some(report.venue_order_id.as_str()), Qty::MAX, Money::MAX, report.fee)
    );
    let rejected = OrderReport {
        client_order_id: "b1-p".into(),
        venue_order_id: String::new(),
        status: OrderStatus::Rejected { reason: "INVALID_ORDER_MIN_TICK_SIZE".into() },
        filled: Qty::ZERO,
        notional: Money::ZERO,
        fee: Money::ZERO,
    };
    store.record_order_result("b1-p", &rejected).await.unwrap();
    let o = store.order("b1-p").await.unwrap().unwrap();
    assert_eq!(
        (o.state, o.reason.as_str(), o.venue_order_id),
        (OrderState::Rejected, "INVALID_ORDER_MIN_TICK_SIZE", None)
    );

    store
        .update_bundle(
            b,
            &BundleUpdate {
                status: Some(BundleStatus::Open),
                cost: Some(money("9.400001")),
                realized_pnl: Some(Money::from_micros(i64::MIN)),
                note: Some("repaired".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got = store.bundle(b).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.cost, got.realized_pnl, got.note.as_str(), got.quantity, got.closed_at),
        (BundleStatus::Open, money("9.400001"), Money::from_micros(i64::MIN), "repaired", Qty::MAX, None)
    );
    assert_eq!(store.open_bundles().await.unwrap().iter().map(|b| b.id).collect::<Vec<_>>(), vec![b]);
}

async fn fills_and_positions_round_trip(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let (b, _) = store.begin_bundle(&new_bundle(link), &[order("f-1", poly("0xfed"), Side::No, "0.5")]).await.unwrap();
    let fill = FillEvent {
        venue: Venue::PolymarketClob,
        trade_id: "28c4d2eb-bbea-40e7-a9f0-b2fdb56b2c2e".into(),
        venue_order_id: "0xb3b7f1e25fa4d6d5b0e2cbdc7d4a5a8c1f2e3d4c5b6a79881726354433221100".into(),
        client_order_id: Some("f-1".into()),
        market: poly("0xfed"),
        side: Side::No,
        action: Action::Buy,
        quantity: Qty::MAX,
        price: Price::ONE,
        fee: Money::MAX,
        state: FillState::Matched,
        ts: NOW,
    };
    assert_eq!(store.record_fill(&fill).await.unwrap(), FillChange::New);
    let got = store.fill(Venue::PolymarketClob, &fill.trade_id).await.unwrap().unwrap();
    assert_eq!((got.fill.clone(), got.updated_at), (fill.clone(), NOW));
    assert_eq!(store.fills_for_order("f-1").await.unwrap(), vec![got]);
    // A venue-side fill of an order that is not ours (no client order id).
    let foreign = FillEvent {
        trade_id: "t-2".into(),
        client_order_id: None,
        venue: Venue::Kalshi,
        market: kalshi("K"),
        ..fill.clone()
    };
    assert_eq!(store.record_fill(&foreign).await.unwrap(), FillChange::New);
    assert_eq!(store.fill(Venue::Kalshi, "t-2").await.unwrap().unwrap().fill, foreign);

    let legs = [
        PositionRecord {
            bundle_id: b,
            market: poly("0xfed"),
            side: Side::No,
            quantity: Qty::MAX,
            cost: Money::MAX,
            fees: Money::from_micros(i64::MAX),
        },
        PositionRecord {
            bundle_id: b,
            market: kalshi("KXFED-26DEC-T4.00"),
            side: Side::Yes,
            quantity: contracts(10),
            cost: money("4.32"),
            fees: money("0.07"),
        },
    ];
    for p in &legs {
        store.set_position(p).await.unwrap();
    }
    // Setting again replaces (absolute, idempotent).
    store.set_position(&legs[1]).await.unwrap();
    let got = store.positions(b).await.unwrap();
    assert_eq!(got, vec![legs[1].clone(), legs[0].clone()], "ordered by venue, market, side");
    assert_eq!(store.bundle(b).await.unwrap().unwrap().legs, got);
}

async fn pnl_snapshots_round_trip(db: TestDb) {
    let store = db.store().await;
    let snap = |ts, realized| PnlSnapshot {
        ts,
        realized,
        unrealized: Money::from_micros(i64::MIN),
        exposure: BTreeMap::from([
            (Venue::Kalshi, money("1234.567891")),
            (Venue::PolymarketClob, Money::MAX),
            (Venue::PolymarketAmm, Money::ZERO),
        ]),
    };
    let a = snap(NOW, Money::MAX);
    let b = snap(NOW + 60_000, money("-12.34"));
    let ids = [store.record_pnl_snapshot(&a).await.unwrap(), store.record_pnl_snapshot(&b).await.unwrap()];
    assert_eq!(
        store.pnl_snapshots(NOW).await.unwrap(),
        vec![Stored { id: ids[0], record: a }, Stored { id: ids[1], record: b.clone() }]
    );
    assert_eq!(store.pnl_snapshots(NOW + 1).await.unwrap(), vec![Stored { id: ids[1], record: b }]);
}
