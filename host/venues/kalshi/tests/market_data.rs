//! Connector <-> simulator over real HTTP and WebSocket on loopback: discovery,
//! books, gaps, disconnects, staleness.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use arbytron_kalshi::Kalshi;
use arbytron_model::venue::MarketFeed;
use arbytron_model::{FeeSchedule, FeedState, MarketStatus, MarketUpdate, Qty};
use arbytron_sim::kalshi::{MarketSpec, Options};
use arbytron_sim::scenario::{Fault, SettleResult};
use common::*;

fn nine_markets() -> Vec<MarketSpec> {
    let mut v = Vec::new();
    for (series, ev, me) in
        [("KXFED", "KXFED-26DEC", true), ("KXCPI", "KXCPI-26NOV", false), ("KXMLB", "KXMLB-26SEP", true)]
    {
        for (i, fair) in ["0.20", "0.45", "0.70"].iter().enumerate() {
            let mut m = MarketSpec::simple(series, ev, &format!("{ev}-M{i}"), p(fair));
            m.mutually_exclusive = me;
            if series == "KXMLB" {
                m.fee_multiplier = "0.5".into();
                m.fee_type = "quadratic_with_maker_fees".into();
                m.price_level_structure = "tapered_deci_cent".into();
                m.fractional = true;
            }
            v.push(m);
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_events_and_markets_across_pages() {
    let h = start(options(nine_markets())).await;
    let mut cfg = config(&h);
    cfg.discovery.page_limit = 2;
    let k = Kalshi::new(cfg).unwrap();
    let markets = k.discover().await.unwrap();
    assert_eq!(markets.len(), 9, "every market of every event, across pages");
    let req = h.requests();
    let events_pages = req.iter().filter(|r| r.path.ends_with("/trade-api/v2/events")).count();
    let market_pages = req.iter().filter(|r| r.path.ends_with("/trade-api/v2/markets")).count();
    assert_eq!(events_pages, 2, "3 events at 2 per page");
    assert_eq!(market_pages, 5, "9 markets at 2 per page");

    let fed = markets.iter().find(|m| m.key.symbol == "KXFED-26DEC-M1").unwrap();
    assert_eq!(fed.event, "KXFED-26DEC");
    assert!(fed.mutually_exclusive);
    assert_eq!(fed.outcome, "M1");
    assert_eq!(fed.status, MarketStatus::Open);
    assert_eq!(fed.fee, FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap());
    assert_eq!((fed.tick, fed.min_qty), (p("0.01"), Qty::ONE));
    assert_eq!(fed.closes_at, 1_893_456_000_000);
    let mlb = markets.iter().find(|m| m.key.symbol == "KXMLB-26SEP-M0").unwrap();
    assert_eq!(mlb.fee, FeeSchedule::Kalshi { taker_ppm: 70_000, maker_ppm: 17_500, multiplier_ppm: 500_000 });
    assert_eq!((mlb.tick, mlb.min_qty), (p("0.001"), Qty::from_hundredths(1)));
    let cpi = markets.iter().find(|m| m.key.symbol == "KXCPI-26NOV-M2").unwrap();
    assert!(!cpi.mutually_exclusive);
    h.shutdown().await;
}

/// Drive random orders and cancels through the simulator's matching engine
/// until it has streamed `n` deltas, then check the streamed book against REST.
async fn books_match_rest_after(n: u64, use_yes_price: bool) {
    let ticker = "KXFED-26DEC-M1";
    let h = start(options(nine_markets())).await;
    let mut cfg = config(&h);
    cfg.use_yes_price = use_yes_price;
    let k = Arc::new(Kalshi::new(cfg).unwrap());
    let (rec, _t) = stream(k.clone(), &[ticker]);
    wait_for(20, "first snapshot", async || rec.state(&key(ticker)) == Some(FeedState::Fresh)).await;
    let mut sent = 0;
    while sent < n {
        sent += h.random_activity(ticker, 100);
        tokio::task::yield_now().await;
    }
    assert!(sent >= n);
    let want = k.orderbook(ticker, 0).await.unwrap();
    assert!(!want.yes_bids.is_empty() && !want.yes_asks.is_empty());
    wait_for(60, "streamed book to equal the REST book", async || {
        rec.latest_book(&key(ticker)).as_ref() == Some(&want)
    })
    .await;
    // No resync was needed: the stream never went stale after the first snapshot.
    let stale = rec
        .since(0, &key(ticker))
        .iter()
        .filter(|u| matches!(u, MarketUpdate::Feed { state: FeedState::Stale, .. }))
        .count();
    assert_eq!(stale, 1, "only the initial not-yet-synced marker");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_book_equals_rest_book_after_10000_random_deltas() {
    books_match_rest_after(10_000, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_book_equals_rest_book_with_yes_pricing_of_the_no_side() {
    books_match_rest_after(2_000, true).await;
}

/// Between a `Stale` and the next `Fresh`, the only book published is the
/// resync snapshot itself, immediately before `Fresh`.
fn assert_no_fresh_book_between(updates: &[MarketUpdate]) -> usize {
    let mut resyncs = 0;
    let mut stale = false;
    for (i, u) in updates.iter().enumerate() {
        match u {
            MarketUpdate::Feed { state: FeedState::Stale, .. } => stale = true,
            MarketUpdate::Feed { state: FeedState::Fresh, .. } => {
                assert!(stale, "Fresh without a preceding Stale at {i}");
                assert!(
                    matches!(updates.get(i.wrapping_sub(1)), Some(MarketUpdate::Book { .. })),
                    "Fresh follows its snapshot"
                );
                stale = false;
                resyncs += 1;
            }
            MarketUpdate::Book { .. } if stale => {
                assert!(
                    matches!(updates.get(i + 1), Some(MarketUpdate::Feed { state: FeedState::Fresh, .. })),
                    "a book was published while stale (update {i})"
                );
            }
            _ => {}
        }
    }
    resyncs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seq_gap_and_disconnect_each_resync_without_serving_stale_books() {
    let tickers = ["KXFED-26DEC-M0", "KXFED-26DEC-M1"];
    let h = start(options(nine_markets())).await;
    let k = Arc::new(Kalshi::new(config(&h)).unwrap());
    let (rec, _t) = stream(k.clone(), &tickers);
    for t in tickers {
        wait_for(20, "first snapshot", async || rec.state(&key(t)) == Some(FeedState::Fresh)).await;
    }
    let gaps = arbytron_kalshi::metrics::FEED_GAPS.with_label_values(&["kalshi"]).get();

    // A seq gap is noticed on the next message of the book subscription.
    let mark = rec.len();
    h.fault(Fault::SeqGap);
    h.set_fair(tickers[0], p("0.25"));
    for t in tickers {
        wait_for(20, "stale after the gap", async || {
            rec.since(mark, &key(t)).iter().any(|u| matches!(u, MarketUpdate::Feed { state: FeedState::Stale, .. }))
        })
        .await;
        wait_for(20, "fresh after the resync", async || rec.state(&key(t)) == Some(FeedState::Fresh)).await;
    }
    assert_eq!(arbytron_kalshi::metrics::FEED_GAPS.with_label_values(&["kalshi"]).get(), gaps + 1);
    for t in tickers {
        assert_eq!(assert_no_fresh_book_between(&rec.since(mark, &key(t))), 1);
        let want = k.orderbook(t, 0).await.unwrap();
        wait_for(20, "book equals REST after the gap", async || rec.latest_book(&key(t)) == Some(want.clone())).await;
    }

    // A disconnect: everything goes stale, the feed reconnects and resubscribes.
    let mark = rec.len();
    h.fault(Fault::Disconnect);
    for t in tickers {
        wait_for(20, "stale after the disconnect", async || {
            rec.since(mark, &key(t)).iter().any(|u| matches!(u, MarketUpdate::Feed { state: FeedState::Stale, .. }))
        })
        .await;
        wait_for(20, "fresh after reconnecting", async || rec.state(&key(t)) == Some(FeedState::Fresh)).await;
    }
    // Changes after the reconnect still arrive.
    h.set_fair(tickers[1], p("0.55"));
    for t in tickers {
        let want = k.orderbook(t, 0).await.unwrap();
        wait_for(20, "book equals REST after the reconnect", async || rec.latest_book(&key(t)) == Some(want.clone()))
            .await;
        assert_eq!(assert_no_fresh_book_between(&rec.since(mark, &key(t))), 1);
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_and_quiet_books_are_detected() {
    let t = "KXCPI-26NOV-M1";
    let mut o = options(nine_markets());
    // Pings keep a healthy but quiet connection alive (Kalshi: every 10 s).
    o.ping_interval = Duration::from_millis(100);
    let h = start(o).await;
    let mut cfg = config(&h);
    cfg.silence_timeout = Duration::from_millis(300);
    cfg.stale_after = Duration::from_millis(400);
    let k = Arc::new(Kalshi::new(cfg).unwrap());
    let (rec, _t) = stream(k.clone(), &[t]);
    wait_for(20, "first snapshot", async || rec.state(&key(t)) == Some(FeedState::Fresh)).await;
    let reconnects = |r: &str| arbytron_integration::ws::RECONNECTS.with_label_values(&["kalshi", "market", r]).get();
    let resyncs = || arbytron_kalshi::metrics::FEED_RESYNCS.with_label_values(&["kalshi", "quiet"]).get();
    let quiet_before = resyncs();
    // A quiet book is re-verified with a fresh snapshot rather than trusted forever.
    wait_for(20, "a quiet-book resync", async || resyncs() > quiet_before).await;
    wait_for(20, "fresh again", async || rec.state(&key(t)) == Some(FeedState::Fresh)).await;
    // A frozen connection (no frames, no pings) is declared dead and replaced.
    let silent_before = reconnects("silence");
    let mark = rec.len();
    h.fault(Fault::Freeze { ms: 2_000 });
    wait_for(20, "silence detected", async || reconnects("silence") > silent_before).await;
    wait_for(20, "stale while silent", async || {
        rec.since(mark, &key(t)).iter().any(|u| matches!(u, MarketUpdate::Feed { state: FeedState::Stale, .. }))
    })
    .await;
    wait_for(20, "fresh after reconnecting", async || rec.state(&key(t)) == Some(FeedState::Fresh)).await;
    // Quiet-book resyncs keep cycling (every 400 ms here), so `mark` may fall
    // inside one: check from the first Stale after it.
    let since = rec.since(mark, &key(t));
    let first_stale = since
        .iter()
        .position(|u| matches!(u, MarketUpdate::Feed { state: FeedState::Stale, .. }))
        .expect("a Stale after the freeze");
    assert!(assert_no_fresh_book_between(&since[first_stale..]) >= 1, "resynced at least once");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_arrives_as_a_status_update() {
    use arbytron_model::Side;
    let (t, later) = ("KXCPI-26NOV-M1", "KXCPI-26NOV-M2");
    let h = start(options(nine_markets())).await;
    let k = Arc::new(Kalshi::new(config(&h)).unwrap());
    let (rec, _t) = stream(k.clone(), &[t, later]);
    wait_for(20, "first snapshot", async || rec.state(&key(t)) == Some(FeedState::Fresh)).await;
    // The venue sends `determined` (with the result), then `settled` (without).
    h.settle(t, SettleResult::No);
    // One connection delivers in order: once the later market's result is in,
    // everything about the first one has been processed.
    h.settle(later, SettleResult::Yes);
    wait_for(20, "the later market's status", async || {
        rec.since(0, &key(later))
            .iter()
            .any(|u| matches!(u, MarketUpdate::Status { status: MarketStatus::Settled { .. }, .. }))
    })
    .await;
    let statuses: Vec<MarketStatus> = rec
        .since(0, &key(t))
        .into_iter()
        .filter_map(|u| match u {
            MarketUpdate::Status { status, .. } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        vec![MarketStatus::Settled { result: Some(Side::No) }],
        "the result once, and no void after it from the result-less `settled`"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_is_deterministic_for_a_seed() {
    let ticker = "KXFED-26DEC-M1";
    // The same seed and the same activity give the same books; another seed does not.
    let mut books = Vec::new();
    for seed in [7, 7, 8] {
        let h = start(Options { seed, ..options(nine_markets()) }).await;
        let deltas = h.random_activity(ticker, 500);
        let k = Kalshi::new(config(&h)).unwrap();
        let book = k.orderbook(ticker, 0).await.unwrap();
        books.push((deltas, book));
        h.shutdown().await;
    }
    assert_eq!(books[0], books[1], "seed 7 twice");
    assert_ne!(books[0], books[2], "seed 8");
}
