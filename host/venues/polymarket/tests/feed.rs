//! The market channel against the simulator: books from the WebSocket equal
//! the REST books after many changes; silence is detected, marked stale and
//! healed; assets are sharded across connections.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::collections::HashMap;

use arbytron_model::venue::MarketFeed;
use arbytron_model::{Book, FeedState, MarketKey, MarketUpdate};
use arbytron_polymarket::ClobClient;
use arbytron_polymarket::book::TokenBook;
use arbytron_sim::scenario::Fault;
use tokio::sync::mpsc;

use common::*;

/// The model book the REST `/book` of a YES token describes.
async fn rest_book(clob: &ClobClient, token: &str, depth: usize) -> Book {
    let wire = clob.book(token).await.expect("GET /book");
    TokenBook::from_wire(&wire).expect("valid book").to_model(depth)
}

/// Follow `rx` until the latest book of every market equals `target` (or time out).
async fn converge(
    rx: &mut mpsc::Receiver<MarketUpdate>,
    latest: &mut HashMap<MarketKey, Book>,
    target: &HashMap<MarketKey, Book>,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while target.iter().any(|(k, b)| latest.get(k) != Some(b)) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(MarketUpdate::Book { market, book, .. })) => {
                latest.insert(market, book);
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("feed closed"),
            Err(_) => {
                let diff: Vec<_> = target.iter().filter(|(k, b)| latest.get(*k) != Some(*b)).map(|(k, _)| k).collect();
                panic!("WS books never matched REST books for {diff:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_books_equal_rest_books_after_10000_random_changes() {
    let w = world(fast_options(7)).await;
    let keys: Vec<MarketKey> = w.markets.iter().map(|m| m.key.clone()).collect();
    let (tx, mut rx) = mpsc::channel(1 << 16);
    let feed = tokio::spawn({
        let feed = arbytron_polymarket::PolymarketFeed::new(w.cfg.clone(), w.registry.clone()).unwrap();
        let keys = keys.clone();
        async move { feed.stream(keys, tx).await }
    });
    // Every market gets its snapshot and turns fresh.
    let mut latest: HashMap<MarketKey, Book> = HashMap::new();
    let mut fresh = 0;
    while fresh < keys.len() {
        match recv_until(&mut rx, "snapshots", |_| true).await {
            MarketUpdate::Book { market, book, .. } => {
                latest.insert(market, book);
            }
            MarketUpdate::Feed { state: FeedState::Fresh, .. } => fresh += 1,
            _ => {}
        }
    }
    // 10,000 random level changes spread over the markets.
    let mut changes = 0;
    for round in 0..20 {
        for m in &w.markets {
            changes += w.sim.churn(&m.key.symbol, 10_000 / (20 * w.markets.len()) + usize::from(round == 0));
        }
    }
    assert!(changes >= 10_000, "only {changes} changes made");
    let clob = ClobClient::new(
        arbytron_integration::http::client(&Default::default()).unwrap(),
        &w.sim.clob_url(),
        None,
        None,
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(1),
    );
    let mut target = HashMap::new();
    for m in &w.markets {
        let token = m.refs.yes_token.clone().unwrap();
        let book = rest_book(&clob, &token, w.cfg.book_depth).await;
        book.validate().expect("REST book is a valid YES book");
        assert!(!book.yes_bids.is_empty() && !book.yes_asks.is_empty());
        target.insert(m.key.clone(), book);
    }
    converge(&mut rx, &mut latest, &target).await;
    for (k, b) in &target {
        assert_eq!(latest.get(k), Some(b), "{k}");
    }
    // The NO token's REST book is the mirror of the YES book.
    let m = &w.markets[0];
    let no = TokenBook::from_wire(&clob.book(m.refs.no_token.as_deref().unwrap()).await.unwrap()).unwrap();
    let yes = TokenBook::from_wire(&clob.book(m.refs.yes_token.as_deref().unwrap()).await.unwrap()).unwrap();
    assert_eq!(no.bids, yes.mirrored().bids);
    assert_eq!(no.asks, yes.mirrored().asks);
    drop(rx);
    let _ = feed.await;
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_detected_marked_stale_and_healed() {
    let w = world(fast_options(8)).await;
    let mut cfg = w.cfg.clone();
    // Two markets per connection: the four markets need two shards.
    cfg.assets_per_connection = 2;
    let keys: Vec<MarketKey> = w.markets.iter().map(|m| m.key.clone()).collect();
    let (tx, mut rx) = mpsc::channel(1 << 14);
    let feed = arbytron_polymarket::PolymarketFeed::new(cfg, w.registry.clone()).unwrap();
    let task = tokio::spawn({
        let keys = keys.clone();
        async move { feed.stream(keys, tx).await }
    });
    let mut fresh = 0;
    while fresh < keys.len() {
        if let MarketUpdate::Feed { state: FeedState::Fresh, .. } = recv_until(&mut rx, "fresh", |_| true).await {
            fresh += 1;
        }
    }
    // Freeze every open connection for far longer than the silence timeout.
    w.sim.fault(Fault::Freeze { ms: 60_000 });
    // Meanwhile the book moves.
    w.sim.set_fair(&w.markets[0].key.symbol, arbytron_sdk::Price::parse("0.30").unwrap());
    let mut stale = std::collections::HashSet::new();
    let mut healed = std::collections::HashSet::new();
    let mut latest: HashMap<MarketKey, Book> = HashMap::new();
    while healed.len() < keys.len() {
        match recv_until(&mut rx, "stale then fresh again", |_| true).await {
            MarketUpdate::Feed { market, state: FeedState::Stale, .. } => {
                stale.insert(market);
            }
            MarketUpdate::Feed { market, state: FeedState::Fresh, .. } => {
                assert!(stale.contains(&market), "{market} turned fresh without having been stale");
                healed.insert(market);
            }
            MarketUpdate::Book { market, book, .. } => {
                latest.insert(market, book);
            }
            _ => {}
        }
    }
    assert_eq!(stale.len(), keys.len(), "every book on a frozen connection was marked stale");
    // After healing, the moved book matches REST.
    let clob = ClobClient::new(
        arbytron_integration::http::client(&Default::default()).unwrap(),
        &w.sim.clob_url(),
        None,
        None,
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(1),
    );
    let mut target = HashMap::new();
    let m = &w.markets[0];
    target.insert(m.key.clone(), rest_book(&clob, m.refs.yes_token.as_deref().unwrap(), w.cfg.book_depth).await);
    converge(&mut rx, &mut latest, &target).await;
    let reconnects = arbytron_integration::ws::RECONNECTS.with_label_values(&["polymarket", "market", "silence"]).get();
    assert!(reconnects >= 2, "both shards reconnected after silence (saw {reconnects})");
    drop(rx);
    let _ = task.await;
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_resubscribed() {
    let w = world(fast_options(9)).await;
    let keys: Vec<MarketKey> = w.markets.iter().map(|m| m.key.clone()).collect();
    let (tx, mut rx) = mpsc::channel(1 << 14);
    let feed = arbytron_polymarket::PolymarketFeed::new(w.cfg.clone(), w.registry.clone()).unwrap();
    let task = tokio::spawn({
        let keys = keys.clone();
        async move { feed.stream(keys, tx).await }
    });
    recv_until(&mut rx, "fresh", |u| matches!(u, MarketUpdate::Feed { state: FeedState::Fresh, .. })).await;
    w.sim.fault(Fault::Disconnect);
    recv_until(&mut rx, "stale", |u| matches!(u, MarketUpdate::Feed { state: FeedState::Stale, .. })).await;
    recv_until(&mut rx, "fresh again", |u| matches!(u, MarketUpdate::Feed { state: FeedState::Fresh, .. })).await;
    drop(rx);
    let _ = task.await;
    w.sim.shutdown().await;
}
