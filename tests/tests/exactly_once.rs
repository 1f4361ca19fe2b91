//! Exactly-once legs, per venue, over the simulators: a send whose answer is
//! lost is looked up before anything else; an order the venue never saw is
//! sent again identically (the venue deduplicates it); an order stuck on its
//! way that lands after the client gave up still executes once. Each case
//! ends with the bundle hedged and the venue holding exactly what the books say.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::time::Duration;

use arbytron::world::{KALSHI_DEMO_KEY_ID, cpi_markets};
use arbytron_sdk::{Qty, Side, Venue};
use arbytron_sim::polymarket::demo_account;
use arbytron_sim::scenario::Fault;
use arbytron_store::{BundleRecord, BundleStatus, OrderState};
use arbytron_tests::harness::{Harness, p};

/// Answers come back within 500 ms or count as lost.
const FAST: &str = "[execution]\nleg_timeout_ms = 500\nunknown_window_ms = 20000\n";

/// Order requests each simulator received (each test has its own simulators).
fn order_posts(h: &Harness, venue: Venue) -> usize {
    match venue {
        Venue::Kalshi => h
            .kalshi()
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/portfolio/events/orders"))
            .count(),
        _ => usize::try_from(h.poly().order_posts()).unwrap(),
    }
}

async fn open_cpi_bundle(h: &Harness) -> BundleRecord {
    let (_, cpi_poly) = cpi_markets();
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    h.wait_bundle("CPI bundle open", |b| b.status == BundleStatus::Open && b.legs.len() == 2).await
}

/// The bundle's orders are all answered, and each venue holds exactly the
/// bundle's legs (nothing bought twice).
async fn assert_held_once(h: &Harness, b: &BundleRecord) {
    assert!(b.legs.iter().all(|l| l.quantity == b.quantity), "hedged: {b:?}");
    let orders = h.store.orders_for_bundle(b.id).await.unwrap();
    assert!(orders.iter().all(|o| o.state != OrderState::Unknown && o.state != OrderState::Intent), "{orders:?}");
    assert_eq!(orders.len(), 2, "one order per leg, no repair: {orders:?}");
    let k = b.legs.iter().find(|l| l.market.venue == Venue::Kalshi).unwrap();
    let signed = if k.side == Side::Yes { k.quantity } else { -k.quantity };
    let kalshi: Qty =
        h.kalshi().positions(KALSHI_DEMO_KEY_ID).iter().filter(|(t, _)| *t == k.market.symbol).map(|(_, q)| *q).sum();
    assert_eq!(kalshi, signed, "Kalshi holds the leg once");
    let pm = b.legs.iter().find(|l| l.market.venue == Venue::PolymarketClob).unwrap();
    let held: Qty = h.poly().positions(&demo_account().api_key).values().copied().filter(|q| q.is_positive()).sum();
    assert_eq!(held, pm.quantity, "Polymarket holds the leg once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_kalshi_answer_is_looked_up_not_sent_again() {
    let h = Harness::start(FAST).await;
    h.kalshi().fault(Fault::DropOrderResponses { count: 1 });
    let b = open_cpi_bundle(&h).await;
    assert_held_once(&h, &b).await;
    assert_eq!(order_posts(&h, Venue::Kalshi), 1, "the venue had the order: nothing sent again");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_kalshi_request_is_sent_again_identically_and_fills_once() {
    let h = Harness::start(FAST).await;
    h.kalshi().fault(Fault::DropOrderRequests { count: 1 });
    let b = open_cpi_bundle(&h).await;
    assert_held_once(&h, &b).await;
    assert_eq!(order_posts(&h, Venue::Kalshi), 2, "the venue never saw it: sent again, once");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kalshi_order_that_lands_after_the_client_gave_up_executes_once() {
    let h = Harness::start(FAST).await;
    // Stuck for 3 s: the client times out, looks, finds nothing, sends again;
    // then the first one arrives too. Only one may execute.
    h.kalshi().fault(Fault::DelayOrderRequests { count: 1, ms: 3_000 });
    let b = open_cpi_bundle(&h).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_held_once(&h, &b).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_polymarket_answer_is_looked_up_not_sent_again() {
    let h = Harness::start(FAST).await;
    h.poly().fault(Fault::DropOrderResponses { count: 1 });
    let b = open_cpi_bundle(&h).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_held_once(&h, &b).await;
    assert_eq!(order_posts(&h, Venue::PolymarketClob), 1, "the venue had the order: nothing sent again");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_polymarket_request_is_sent_again_identically_and_fills_once() {
    let h = Harness::start(FAST).await;
    h.poly().fault(Fault::DropOrderRequests { count: 1 });
    let b = open_cpi_bundle(&h).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_held_once(&h, &b).await;
    assert_eq!(order_posts(&h, Venue::PolymarketClob), 2, "the venue never saw it: sent again, once");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polymarket_order_that_lands_after_the_client_gave_up_executes_once() {
    let h = Harness::start(FAST).await;
    h.poly().fault(Fault::DelayOrderRequests { count: 1, ms: 3_000 });
    let b = open_cpi_bundle(&h).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_held_once(&h, &b).await;
    h.stop().await;
}
