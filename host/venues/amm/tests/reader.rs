//! The pool reader against a real EVM (anvil): it follows other accounts' trades into the
//! model, every state it publishes is the chain's state at the block it names, and it marks
//! markets stale while the node is unreachable.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use alloy::eips::BlockId;
use alloy::primitives::Address;
use alloy::providers::Provider;
use arbytron_amm::devnet::{Anvil, AnvilOptions, free_port};
use arbytron_amm::{AmmFeed, ExecConfig, FeedConfig, MarketSpec, PoolInfo, PoolMarket, PoolSpec, SwapIntent};
use arbytron_model::{FeedState, MarketKey, MarketUpdate, PoolState};
use common::{Env, PCT, dollars};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

fn spec(pool: Address) -> PoolSpec {
    PoolSpec { address: pool, title: "reader".into(), outcome_names: vec![], closes_at: 0 }
}

fn feed_config(url: &url::Url, pools: Vec<PoolSpec>) -> FeedConfig {
    FeedConfig { rpc_url: url.clone(), pools, poll_interval: Duration::from_millis(10), ..FeedConfig::default() }
}

/// Next update, or a loud failure if the reader went silent (a liveness guard, not a timing
/// assertion).
async fn next(rx: &mut mpsc::Receiver<MarketUpdate>) -> MarketUpdate {
    match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
        Ok(Some(u)) => u,
        Ok(None) => panic!("reader stopped"),
        Err(_) => panic!("no update from the reader for 30 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_follows_a_burst_of_trades_by_another_account() {
    let env = Env::start().await;
    let (d2, _) = env.funded_market(MarketSpec::new("binary", 2, 2 * PCT), dollars(1_000), None).await;
    let (d4, _) =
        env.funded_market(MarketSpec::new("four", 4, PCT).sharing(&d2), dollars(500), Some(&[4, 3, 2, 1])).await;
    let pools = [d2.pool, d4.pool];
    let feed = Arc::new(AmmFeed::new(feed_config(env.node.url(), vec![spec(d2.pool), spec(d4.pool)])).unwrap());
    let markets: Vec<MarketKey> = [(d2.pool, 2), (d4.pool, 4)]
        .iter()
        .flat_map(|&(p, n)| (0..n).map(move |i| PoolMarket::new(p, i).key()))
        .collect();
    let (tx, mut rx) = mpsc::channel(4_096);
    let reader = tokio::spawn({
        let feed = feed.clone();
        let markets = markets.clone();
        async move { feed.run(markets, tx).await }
    });

    // The initial snapshot: one update per subscribed market.
    let mut seen_keys = BTreeSet::new();
    let mut latest: BTreeMap<String, PoolState> = BTreeMap::new();
    let mut published = Vec::new();
    while seen_keys.len() < markets.len() {
        let MarketUpdate::Pool { market, pool, venue_ts } = next(&mut rx).await else { panic!("only pool updates") };
        seen_keys.insert(market);
        latest.insert(pool.address.clone(), pool.clone());
        published.push((pool, venue_ts));
    }

    // Another account trades in a burst (every trade its own block, faster than the reader polls).
    let trader = env.trader(&d2, dollars(2_000), ExecConfig::default()).await;
    let lp = env.trader(&d2, dollars(100), ExecConfig::default()).await;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for k in 0..30 {
        let (pool, n) = if rng.gen_bool(0.5) { (d2.pool, 2) } else { (d4.pool, 4) };
        let outcome = rng.gen_range(0..n);
        let held = trader.outcome_balances(pool).await.unwrap()[outcome];
        let intent = if held > 1_000 && rng.gen_bool(0.4) {
            SwapIntent::SellTokens { tokens: held / 2 }
        } else {
            SwapIntent::BuyWith { investment: rng.gen_range(1..=dollars(40)) }
        };
        trader.swap(pool, outcome, intent, None).await.unwrap();
        if k == 10 {
            lp.add_liquidity(d4.pool, dollars(100), None).await.unwrap();
        }
        if k == 20 {
            let shares = lp.lp_shares(d4.pool).await.unwrap();
            lp.remove_liquidity(d4.pool, shares / 3).await.unwrap();
        }
    }
    let provider = env.node.provider();
    let last_block = provider.get_block_number().await.unwrap();
    let mut truth = BTreeMap::new();
    for &p in &pools {
        let info = PoolInfo::load(&provider, p).await.unwrap();
        let state = info.state(&provider, BlockId::number(last_block), last_block).await.unwrap();
        truth.insert(state.address.clone(), state);
    }

    // The reader converges on the chain's state...
    let same = |a: &PoolState, b: &PoolState| {
        a.balances == b.balances && a.total_shares == b.total_shares && a.fee_wad == b.fee_wad
    };
    while !truth.iter().all(|(a, t)| latest.get(a).is_some_and(|l| same(l, t))) {
        match next(&mut rx).await {
            MarketUpdate::Pool { market, pool, venue_ts } => {
                seen_keys.insert(market);
                latest.insert(pool.address.clone(), pool.clone());
                published.push((pool, venue_ts));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // ...and everything it published was the chain's state at the block it names, stamped
    // with that block's time.
    let infos = [PoolInfo::load(&provider, d2.pool).await.unwrap(), PoolInfo::load(&provider, d4.pool).await.unwrap()];
    for (state, venue_ts) in &published {
        let info = infos.iter().find(|i| arbytron_amm::market::format_address(i.address) == state.address).unwrap();
        let at = info.state(&provider, BlockId::number(state.block), state.block).await.unwrap();
        assert_eq!(&at, state, "published state vs chain at block {}", state.block);
        let block = provider.get_block_by_number(state.block.into()).await.unwrap().unwrap();
        assert_eq!(*venue_ts, block.header.timestamp as i64 * 1000);
    }
    assert!(published.len() > markets.len(), "the burst produced updates");
    assert_eq!(seen_keys.len(), markets.len());

    // Closing the sink stops the reader.
    drop(rx);
    let stopped = tokio::time::timeout(Duration::from_secs(30), reader).await.expect("reader stops").unwrap();
    assert!(stopped.is_ok(), "{stopped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markets_are_stale_while_the_node_is_down_and_fresh_after_a_snapshot() {
    // Deploy once to learn the pool's address: the same deployer and nonces on a fresh node
    // put it at the same address.
    let pool = {
        let env = Env::start().await;
        env.deployer.market(&MarketSpec::new("stale", 2, PCT)).await.unwrap().pool
    };
    let port = free_port().unwrap();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let feed = Arc::new(AmmFeed::new(feed_config(&url, vec![spec(pool)])).unwrap());
    let market = PoolMarket::new(pool, 0).key();
    let (tx, mut rx) = mpsc::channel(64);
    let reader = tokio::spawn({
        let feed = feed.clone();
        let markets = vec![market.clone()];
        async move { feed.run(markets, tx).await }
    });
    assert!(
        matches!(next(&mut rx).await, MarketUpdate::Feed { state: FeedState::Stale, market: m, .. } if m == market)
    );

    let node = Anvil::start(AnvilOptions { port: Some(port), ..AnvilOptions::default() }).await.unwrap();
    let chain = arbytron_amm::Chain::connect(node.url(), &node.dev_key(), common::tx_config()).await.unwrap();
    let d = arbytron_amm::Deployer::new(Arc::new(chain)).market(&MarketSpec::new("stale", 2, PCT)).await.unwrap();
    assert_eq!(d.pool, pool);

    // Next: a snapshot, then Fresh (no more Stale in between once the node answers).
    let mut got_snapshot = false;
    loop {
        match next(&mut rx).await {
            MarketUpdate::Feed { state: FeedState::Stale, .. } => assert!(!got_snapshot, "stale after a snapshot"),
            MarketUpdate::Pool { market: m, pool: state, .. } => {
                assert_eq!(m, market);
                assert_eq!(state.balances, vec![0, 0], "an unfunded pool");
                got_snapshot = true;
            }
            MarketUpdate::Feed { state: FeedState::Fresh, .. } => {
                assert!(got_snapshot, "fresh only after a snapshot");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(rx);
    drop(node);
    tokio::time::timeout(Duration::from_secs(30), reader).await.expect("reader stops").unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_reaches_the_model_as_market_status_once() {
    use arbytron_model::{MarketStatus, Side};
    let env = Env::start().await;
    let (d, _) = env.funded_market(MarketSpec::new("resolves", 2, PCT), dollars(100), None).await;
    let (other, _) = env.funded_market(MarketSpec::new("stays open", 2, PCT).sharing(&d), dollars(100), None).await;
    let feed = Arc::new(AmmFeed::new(feed_config(env.node.url(), vec![spec(d.pool), spec(other.pool)])).unwrap());
    let markets: Vec<MarketKey> =
        [d.pool, other.pool].iter().flat_map(|&p| (0..2).map(move |i| PoolMarket::new(p, i).key())).collect();
    let (tx, mut rx) = mpsc::channel(1_024);
    let reader = tokio::spawn({
        let (feed, markets) = (feed.clone(), markets.clone());
        async move { feed.run(markets, tx).await }
    });
    for _ in 0..markets.len() {
        assert!(matches!(next(&mut rx).await, MarketUpdate::Pool { .. }), "the initial snapshots come first");
    }

    // The oracle reports outcome 1 of the first pool; a trade elsewhere follows it.
    env.deployer.report_payouts(d.conditional_tokens, d.question_id, &[0, 1]).await.unwrap();
    let trader = env.trader(&other, dollars(10), ExecConfig::default()).await;
    trader.swap(other.pool, 0, SwapIntent::BuyWith { investment: dollars(1) }, None).await.unwrap();
    let mut statuses = BTreeMap::new();
    loop {
        match next(&mut rx).await {
            MarketUpdate::Status { market, status, .. } => {
                assert!(statuses.insert(market, status).is_none(), "one status per market");
            }
            MarketUpdate::Pool { pool, .. } if pool.address == arbytron_amm::market::format_address(other.pool) => {
                break;
            }
            MarketUpdate::Pool { .. } | MarketUpdate::Feed { .. } => {}
            u => panic!("unexpected {u:?}"),
        }
    }
    let expected: BTreeMap<MarketKey, MarketStatus> = BTreeMap::from([
        (PoolMarket::new(d.pool, 0).key(), MarketStatus::Settled { result: Some(Side::No) }),
        (PoolMarket::new(d.pool, 1).key(), MarketStatus::Settled { result: Some(Side::Yes) }),
    ]);
    assert_eq!(statuses, expected, "the resolved pool's markets, and not the open pool's");
    drop(rx);
    reader.await.unwrap().unwrap();

    // A reader started after the resolution reports it with its first snapshot.
    let (tx, mut rx) = mpsc::channel(1_024);
    let late = tokio::spawn({
        let markets = markets.clone();
        async move { feed.run(markets, tx).await }
    });
    let mut statuses = BTreeMap::new();
    let mut pools = 0;
    while pools < markets.len() || statuses.len() < 2 {
        match next(&mut rx).await {
            MarketUpdate::Status { market, status, .. } => {
                statuses.insert(market, status);
            }
            MarketUpdate::Pool { .. } => pools += 1,
            _ => {}
        }
    }
    assert_eq!(statuses, expected);
    drop(rx);
    late.await.unwrap().unwrap();
}
