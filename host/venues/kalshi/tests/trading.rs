//! Order entry against the simulator: FOK/IOC in every direction with Kalshi's
//! fees, partial fills, rejects, bad signatures, rate limits, fills stream and
//! account state.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arbytron_kalshi::{Kalshi, KalshiConfig, RateLimits, SecretSource};
use arbytron_model::venue::{Action, ExecutionVenue, MarketFeed, OrderRequest, OrderStatus, TimeInForce, VenueError};
use arbytron_model::{FeeSchedule, Money, Price, Qty, Side};
use arbytron_sim::kalshi::MarketSpec;
use arbytron_sim::maker::MakerConfig;
use arbytron_sim::scenario::Fault;
use common::*;

const T: &str = "KXCPI-26NOV-T0.3";

/// One market at fair 0.50; makers quote 0.49/0.51, 0.48/0.52, ... 10 contracts each.
fn market() -> Vec<MarketSpec> {
    vec![MarketSpec::simple("KXCPI", "KXCPI-26NOV", T, p("0.50"))]
}

fn opts() -> arbytron_sim::kalshi::Options {
    let mut o = options(market());
    o.makers = MakerConfig { spread: 20_000, step: 10_000, levels: 3, size: Qty::from_contracts(10) };
    o
}

fn order(id: &str, side: Side, action: Action, price: &str, n: i64, tif: TimeInForce) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        market: key(T),
        side,
        action,
        quantity: Qty::from_contracts(n),
        limit_price: p(price),
        time_in_force: tif,
        amount: None,
    }
}

fn fee(n: i64, yes_price: &str) -> Money {
    FeeSchedule::kalshi("KXCPI", "quadratic", "1").unwrap().taker_fee(Qty::from_contracts(n), p(yes_price))
}

fn cents(s: &str) -> Money {
    Money::parse(s).unwrap()
}

async fn venue(h: &arbytron_sim::kalshi::Handle) -> Kalshi {
    let k = Kalshi::new(config(h)).unwrap();
    k.discover().await.unwrap();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fok_and_ioc_buy_and_sell_yes_and_no_at_expected_prices_and_fees() {
    let h = start(opts()).await;
    let k = venue(&h).await;
    let cash0 = h.balance(KEY_A);

    // Buy YES FOK: lifts the 0.51 ask.
    let r = k.place_order(&order("c1", Side::Yes, Action::Buy, "0.51", 4, TimeInForce::FillOrKill)).await.unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!((r.filled, r.notional, r.fee), (Qty::from_contracts(4), cents("2.04"), fee(4, "0.51")));
    assert_eq!(r.fee, cents("0.07"), "0.07 x 4 x 0.51 x 0.49 = 0.069972, rounded up to the cent");
    assert_eq!(r.average_price(), Some(p("0.51")));

    // Sell YES IOC: hits the 0.49 bid.
    let r =
        k.place_order(&order("c2", Side::Yes, Action::Sell, "0.49", 4, TimeInForce::ImmediateOrCancel)).await.unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!((r.notional, r.fee), (cents("1.96"), fee(4, "0.49")));

    // Buy NO FOK at 0.51: an ask at YES 0.49, it hits the remaining 6 at the 0.49 bid.
    let r = k.place_order(&order("c3", Side::No, Action::Buy, "0.51", 6, TimeInForce::FillOrKill)).await.unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!((r.filled, r.notional, r.fee), (Qty::from_contracts(6), cents("3.06"), fee(6, "0.49")));

    // Sell NO IOC at 0.49: a bid at YES 0.51, it lifts the 6 left at the 0.51 ask.
    let r =
        k.place_order(&order("c4", Side::No, Action::Sell, "0.49", 6, TimeInForce::ImmediateOrCancel)).await.unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!((r.notional, r.fee), (cents("2.94"), fee(6, "0.51")));

    // Net: +4 -4 -6 +6 YES = flat. Cash: paid 2.04 + 3.06, received 1.96 + 2.94, minus fees.
    let fees = fee(4, "0.51") + fee(4, "0.49") + fee(6, "0.49") + fee(6, "0.51");
    assert_eq!(h.balance(KEY_A), cash0 - cents("2.04") + cents("1.96") - cents("3.06") + cents("2.94") - fees);
    assert_eq!(h.fees_paid(KEY_A), fees);
    assert_eq!(k.positions().await.unwrap().iter().find(|p| p.market.symbol == T).unwrap().yes_position, Qty::ZERO);
    assert_eq!(k.balance().await.unwrap(), h.balance(KEY_A));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fok_kills_ioc_partially_fills_across_levels() {
    let h = start(opts()).await;
    let k = venue(&h).await;
    // 31 contracts cannot be had at or below 0.53 (30 offered): FOK is killed whole.
    let r = k.place_order(&order("k1", Side::Yes, Action::Buy, "0.53", 31, TimeInForce::FillOrKill)).await.unwrap();
    assert_eq!((r.status, r.filled, r.fee), (OrderStatus::Cancelled, Qty::ZERO, Money::ZERO));
    // IOC for 25 at 0.52 takes 10 @ 0.51 and 10 @ 0.52; the rest is cancelled.
    let r =
        k.place_order(&order("k2", Side::Yes, Action::Buy, "0.52", 25, TimeInForce::ImmediateOrCancel)).await.unwrap();
    assert_eq!(r.status, OrderStatus::PartiallyFilled { resting: false });
    assert_eq!(r.filled, Qty::from_contracts(20));
    assert_eq!(r.notional, cents("10.30"));
    // One fee for the order: ceil_cent(0.07 x (10 x .51 x .49 + 10 x .52 x .48)) = ceil(0.34965) = 0.35.
    assert_eq!(r.fee, cents("0.35"));
    // Buying NO crosses YES bids: 0.49, 0.48, 0.47 -> NO at 0.51, 0.52, 0.53.
    let r =
        k.place_order(&order("k3", Side::No, Action::Buy, "0.52", 15, TimeInForce::ImmediateOrCancel)).await.unwrap();
    assert_eq!((r.status.clone(), r.filled, r.notional), (OrderStatus::Filled, Qty::from_contracts(15), cents("7.70")));
    let pos = k.positions().await.unwrap();
    assert_eq!(pos[0].yes_position, Qty::from_contracts(5), "+20 YES, -15 YES (as 15 NO) nets to +5");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_fill_fault_and_rejects_are_reported_right() {
    let h = start(opts()).await;
    let k = venue(&h).await;
    h.fault(Fault::PartialFills { count: 1, ppm: 300_000 });
    let r =
        k.place_order(&order("p1", Side::Yes, Action::Buy, "0.51", 10, TimeInForce::ImmediateOrCancel)).await.unwrap();
    assert_eq!(r.status, OrderStatus::PartiallyFilled { resting: false });
    assert_eq!((r.filled, r.notional, r.fee), (Qty::from_contracts(3), cents("1.53"), fee(3, "0.51")));
    let found =
        k.find_order(&order("p1", Side::Yes, Action::Buy, "0.50", 1, TimeInForce::FillOrKill)).await.unwrap().unwrap();
    assert_eq!((found.filled, found.notional, found.fee), (r.filled, r.notional, r.fee));

    h.fault(Fault::RejectOrders { count: 1 });
    let r = k.place_order(&order("p2", Side::Yes, Action::Buy, "0.51", 1, TimeInForce::FillOrKill)).await.unwrap();
    assert!(matches!(&r.status, OrderStatus::Rejected { reason } if reason.contains("order_rejected")), "{r:?}");
    assert_eq!(r.filled, Qty::ZERO);
    // The venue refuses a second order with the same client id (idempotent
    // retries), and says so as a duplicate: the first one is there.
    let e = k.place_order(&order("p1", Side::Yes, Action::Buy, "0.51", 1, TimeInForce::FillOrKill)).await.unwrap_err();
    assert!(matches!(&e, VenueError::Duplicate { message, .. } if message.contains("already exists")), "{e:?}");
    // Off-grid prices never leave the process.
    let e = k.place_order(&order("p3", Side::Yes, Action::Buy, "0.515", 1, TimeInForce::FillOrKill)).await.unwrap_err();
    assert!(matches!(e, VenueError::Invalid { .. }));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resting_orders_cancel_find_and_fills_stream() {
    let h = start(opts()).await;
    let k = venue(&h).await;
    let mut fills = k.fills().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the fill subscription land
    // A GTC NO bid at 0.45 rests as a YES ask at 0.55.
    let r = k.place_order(&order("g1", Side::No, Action::Buy, "0.45", 5, TimeInForce::GoodTillCanceled)).await.unwrap();
    assert_eq!(r.status, OrderStatus::Resting);
    let open = k.open_orders().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].side, open[0].action, open[0].price, open[0].remaining),
        (Side::No, Action::Buy, p("0.45"), Qty::from_contracts(5))
    );
    // The fair value moves up; the makers' new bid at 0.59 crosses our resting order: we are the maker.
    h.set_fair(T, p("0.60"));
    let f = tokio::time::timeout(Duration::from_secs(10), fills.recv()).await.unwrap().unwrap();
    assert_eq!((f.side, f.action, f.price, f.quantity), (Side::No, Action::Buy, p("0.45"), Qty::from_contracts(5)));
    assert_eq!(f.client_order_id.as_deref(), Some("g1"));
    assert_eq!(f.fee, Money::ZERO, "makers pay nothing on quadratic series");
    let found =
        k.find_order(&order("g1", Side::Yes, Action::Buy, "0.50", 1, TimeInForce::FillOrKill)).await.unwrap().unwrap();
    assert_eq!(
        (found.status, found.filled, found.notional),
        (OrderStatus::Filled, Qty::from_contracts(5), cents("2.25"))
    );
    assert!(k.open_orders().await.unwrap().is_empty());

    // Place, see it, cancel it.
    let r =
        k.place_order(&order("g2", Side::Yes, Action::Buy, "0.30", 2, TimeInForce::GoodTillCanceled)).await.unwrap();
    k.cancel_order(&key(T), &r.venue_order_id).await.unwrap();
    assert!(k.open_orders().await.unwrap().is_empty());
    let found =
        k.find_order(&order("g2", Side::Yes, Action::Buy, "0.50", 1, TimeInForce::FillOrKill)).await.unwrap().unwrap();
    assert_eq!(found.status, OrderStatus::Cancelled);
    assert!(
        k.find_order(&order("never-sent", Side::Yes, Action::Buy, "0.50", 1, TimeInForce::FillOrKill))
            .await
            .unwrap()
            .is_none()
    );
    // A taker fill shows up on the stream too, with its fee.
    let r = k.place_order(&order("g3", Side::Yes, Action::Buy, "0.61", 2, TimeInForce::FillOrKill)).await.unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    let f = tokio::time::timeout(Duration::from_secs(10), fills.recv()).await.unwrap().unwrap();
    assert_eq!((f.client_order_id.as_deref(), f.price, f.fee), (Some("g3"), p("0.61"), fee(2, "0.61")));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_create_reports_each_order() {
    let h = start(opts()).await;
    let k = venue(&h).await;
    let good = order("b1", Side::Yes, Action::Buy, "0.51", 1, TimeInForce::FillOrKill);
    let unknown =
        OrderRequest { market: key("NOPE"), ..order("b2", Side::Yes, Action::Buy, "0.51", 1, TimeInForce::FillOrKill) };
    let r = k.place_batch(&[good, unknown]).await.unwrap();
    assert_eq!(r[0].as_ref().unwrap().status, OrderStatus::Filled);
    assert!(
        matches!(&r[1].as_ref().unwrap().status, OrderStatus::Rejected { reason } if reason.contains("market_not_found"))
    );
    // Twelve orders cost 120 write tokens, more than Basic's bucket of 100: they
    // go out as two batches, and every order still gets its own answer.
    let many: Vec<OrderRequest> = (0..12)
        .map(|i| order(&format!("m{i}"), Side::Yes, Action::Buy, "0.51", 1, TimeInForce::ImmediateOrCancel))
        .collect();
    let before = h.requests().iter().filter(|r| r.path.ends_with("/orders/batched")).count();
    let r = k.place_batch(&many).await.unwrap();
    assert_eq!(r.len(), 12);
    for (o, r) in many.iter().zip(&r) {
        assert_eq!(r.as_ref().unwrap().client_order_id, o.client_order_id);
    }
    assert_eq!(h.requests().iter().filter(|r| r.path.ends_with("/orders/batched")).count() - before, 2);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_rejected() {
    let h = start(opts()).await;
    // Key B's private key presented as key A: the signature does not verify.
    let mut cfg = config(&h);
    cfg.private_key = SecretSource::File(fixture("test_key_b.pkcs1.pem"));
    let k = Kalshi::new(cfg).unwrap();
    let e = k.balance().await.unwrap_err();
    assert!(matches!(&e, VenueError::Auth { message, .. } if message.contains("authentication_error")), "{e:?}");
    let e = arbytron_kalshi::ws::connect(
        k.config(),
        &arbytron_kalshi::Signer::load("test-key-a", &SecretSource::File(fixture("test_key_b.pkcs1.pem"))).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, VenueError::Auth { .. }), "{e:?}");
    // Key B (PKCS#1) under its own id works.
    let mut cfg: KalshiConfig = config(&h);
    cfg.key_id = KEY_B.into();
    cfg.private_key = SecretSource::Value(arbytron_integration::Secret::new(read_fixture("test_key_b.pkcs1.pem")));
    assert_eq!(Kalshi::new(cfg).unwrap().balance().await.unwrap(), Money::from_dollars(10_000));
    h.shutdown().await;
}

/// Largest token spend in any window of the log, above what a bucket of
/// `cap` refilling at `rate`/s could have allowed in that window.
fn worst_excess(times: &[(tokio::time::Instant, u32)], rate: u32, cap: u32) -> i64 {
    let mut worst = i64::MIN;
    for i in 0..times.len() {
        let mut spent = 0i64;
        for j in i..times.len() {
            spent += times[j].1 as i64;
            let dt = times[j].0.duration_since(times[i].0).as_secs_f64();
            let allowed = cap as i64 + (rate as f64 * dt) as i64;
            worst = worst.max(spent - allowed);
        }
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_loses_no_order_and_the_request_rate_stays_in_budget() {
    let mut o = opts();
    o.makers.size = Qty::from_contracts(1000);
    o.rate_limits = None; // measure the client's own pacing
    let (h, stop) = start_isolated(o);
    let mut cfg = config(&h);
    // A small budget so the pacing shows within a short test: 50 write tokens/s, 50 burst.
    cfg.limits = RateLimits {
        read: arbytron_kalshi::BucketLimit { refill_per_s: 200, capacity: 400 },
        write: arbytron_kalshi::BucketLimit { refill_per_s: 50, capacity: 50 },
    };
    cfg.exact_fill_totals = false;
    let k = Arc::new(Kalshi::new(cfg).unwrap());
    h.fault(Fault::RateLimitBurst { count: 6 });
    let mut tasks = Vec::new();
    for i in 0..20 {
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            k.place_order(&order(&format!("r{i}"), Side::Yes, Action::Buy, "0.51", 1, TimeInForce::ImmediateOrCancel))
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().status, OrderStatus::Filled);
    }
    let orders = h.orders(KEY_A);
    let ids: HashSet<&str> = orders.iter().map(|o| o["client_order_id"].as_str().unwrap()).collect();
    assert_eq!((orders.len(), ids.len()), (20, 20), "every order exactly once");
    let log = h.requests();
    assert_eq!(log.iter().filter(|r| r.injected_429).count(), 6, "the burst was really answered");
    let writes: Vec<_> = log.iter().filter(|r| r.write).map(|r| (r.at, r.cost)).collect();
    assert_eq!(writes.len(), 26, "20 orders + 6 refused attempts");
    // The server timestamps arrivals, which lag our token grants by signing and
    // loopback time that varies per request: allow two requests of jitter.
    let excess = worst_excess(&writes, 50, 50);
    assert!(excess <= 20, "client exceeded its write budget by {excess} tokens");
    // Over the whole run: 26 write requests (260 tokens) need at least (260 - 50) / 50 = 4.2 s.
    let span = writes.last().unwrap().0.duration_since(writes[0].0);
    assert!(span >= Duration::from_millis(4_000), "26 writes went out in {span:?}");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_429s_end_in_a_rate_limit_error_not_a_lost_order() {
    let h = start(opts()).await;
    let mut cfg = config(&h);
    cfg.max_rate_limit_retries = 2;
    let k = Kalshi::new(cfg).unwrap();
    h.fault(Fault::RateLimitBurst { count: 10 });
    let e = k.place_order(&order("x", Side::Yes, Action::Buy, "0.51", 1, TimeInForce::FillOrKill)).await.unwrap_err();
    assert!(matches!(e, VenueError::RateLimited { .. }), "{e:?}");
    assert!(h.orders(KEY_A).is_empty());
    let _ = Price::ONE;
    h.shutdown().await;
}
