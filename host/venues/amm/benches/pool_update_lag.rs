//! Time from a block with a pool trade to the updated pool in the model.
//!
//! anvil in automine mode mines a transaction's block before it answers
//! `eth_sendRawTransaction`, so the clock starts when the submit returns (the block exists
//! from then on) and stops when the reader's `MarketUpdate::Pool` for that block arrives on
//! its channel. What is measured is the reader's detection (poll interval) plus its reads
//! (head, logs, balances + supply) over loopback HTTP; block production itself is excluded.
//! Each trade waits a random fraction of the poll interval first, so trades land at random
//! points of the reader's poll cycle (otherwise they phase-lock to it: the next trade would
//! always be sent right after a poll and wait a whole interval).
//!
//! Needs anvil: `npm ci` at the repository root. Run:
//! `cargo bench -p arbytron-amm --bench pool_update_lag`
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::sol_types::SolCall;
use arbytron_amm::bindings::FixedProductMarketMaker;
use arbytron_amm::devnet::{Anvil, AnvilOptions};
use arbytron_amm::{
    AmmFeed, AmmTrader, Chain, Deployer, ExecConfig, FeedConfig, MarketSpec, PoolMarket, PoolSpec, SwapIntent, TxConfig,
};
use arbytron_model::MarketUpdate;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

struct Rig {
    _node: Anvil,
    url: url::Url,
    pool: alloy::primitives::Address,
    trader: AmmTrader,
}

async fn rig() -> Rig {
    let node = match Anvil::start(AnvilOptions::default()).await {
        Ok(n) => n,
        Err(e) => panic!("{e}"),
    };
    let tx = TxConfig { receipt_poll: Duration::from_millis(1), ..TxConfig::default() };
    let deployer = Deployer::new(Arc::new(Chain::connect(node.url(), &node.dev_key(), tx.clone()).await.unwrap()));
    let d = deployer.market(&MarketSpec::new("bench", 2, 20_000_000_000_000_000)).await.unwrap();
    let me = deployer.chain().address();
    deployer.mint(d.collateral, me, 10_000_000_000_000).await.unwrap();
    let lp = AmmTrader::new(deployer.chain().clone(), ExecConfig::default());
    lp.add_liquidity(d.pool, 1_000_000_000_000, None).await.unwrap();
    let key = node.funded_account(1_000).await.unwrap();
    let chain = Arc::new(Chain::connect(node.url(), &key, tx).await.unwrap());
    deployer.mint(d.collateral, chain.address(), 1_000_000_000_000).await.unwrap();
    let trader = AmmTrader::new(chain, ExecConfig::default());
    // Approvals now, so each measured trade is one transaction.
    trader.swap(d.pool, 0, SwapIntent::BuyWith { investment: 1_000 }, None).await.unwrap();
    Rig { url: node.url().clone(), _node: node, pool: d.pool, trader }
}

/// One trade; the time from its block existing to its pool state reaching the channel.
async fn one(rig: &Rig, rx: &mut mpsc::Receiver<MarketUpdate>, outcome: u64) -> Duration {
    let call = FixedProductMarketMaker::buyCall {
        investmentAmount: U256::from(1_000_000u64),
        outcomeIndex: U256::from(outcome),
        minOutcomeTokensToBuy: U256::ZERO,
    };
    rig.trader.chain().submit(rig.pool, call.abi_encode().into(), "bench").await.unwrap();
    let start = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(MarketUpdate::Pool { .. })) => return start.elapsed(),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => panic!("the reader stopped publishing"),
        }
    }
}

fn percentiles(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    eprintln!("{name}: n={} p50={:?} p90={:?} p99={:?} max={:?}", v.len(), at(0.5), at(0.9), at(0.99), v[v.len() - 1]);
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rig = rt.block_on(rig());
    let mut group = c.benchmark_group("pool_update_lag");
    group.sampling_mode(SamplingMode::Flat).sample_size(20).measurement_time(Duration::from_secs(8));
    for poll_ms in [1u64, 10, 100] {
        let feed = Arc::new(
            AmmFeed::new(FeedConfig {
                rpc_url: rig.url.clone(),
                pools: vec![PoolSpec { address: rig.pool, title: "bench".into(), outcome_names: vec![], closes_at: 0 }],
                poll_interval: Duration::from_millis(poll_ms),
                ..FeedConfig::default()
            })
            .unwrap(),
        );
        let (tx, rx) = mpsc::channel(1024);
        let reader = rt.spawn({
            let feed = feed.clone();
            let market = PoolMarket::new(rig.pool, 0).key();
            async move { feed.run(vec![market], tx).await }
        });
        let mut rx = rx;
        // The initial snapshot.
        rt.block_on(async { rx.recv().await.expect("snapshot") });
        let mut samples = Vec::new();
        let mut outcome = 0;
        let mut rng = ChaCha8Rng::seed_from_u64(poll_ms);
        group.bench_function(format!("poll_{poll_ms}ms"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        outcome ^= 1;
                        let phase = Duration::from_micros(rng.gen_range(0..poll_ms * 1_000));
                        tokio::time::sleep(phase).await;
                        let d = one(&rig, &mut rx, outcome).await;
                        samples.push(d);
                        total += d;
                    }
                    total
                })
            })
        });
        percentiles(&format!("poll_{poll_ms}ms"), samples);
        drop(rx);
        rt.block_on(async { reader.await.unwrap().unwrap() });
    }
    group.finish();

    // The reads the reader makes for a head that changed a pool, without the wait for the
    // poll: head, logs over one block, balances + supply at the head. Under the lag above,
    // the rest is the wait for the next poll (half the interval on average).
    let provider = arbytron_amm::chain::read_provider(&rig.url).unwrap();
    let info = rt
        .block_on(arbytron_amm::PoolInfo::load(&alloy::providers::Provider::erased(provider.clone()), rig.pool))
        .unwrap();
    let dynp = alloy::providers::Provider::erased(provider);
    c.bench_function("reader_reads_per_changed_head", |b| {
        b.iter(|| {
            rt.block_on(async {
                use alloy::providers::Provider;
                let head = dynp.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await.unwrap().unwrap();
                let n = head.header.number;
                let filter = alloy::rpc::types::Filter::new().address(rig.pool).from_block(n).to_block(n);
                dynp.get_logs(&filter).await.unwrap();
                info.state(&dynp, alloy::eips::BlockId::hash(head.header.hash), n).await.unwrap()
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
