//! Tick-to-decision latency and engine throughput with 10,000 linked markets.
//!
//! `cargo bench -p arbytron --bench engine` (build the strategies first:
//! scripts/build-wasm.sh). 5,000 Kalshi markets and 5,000 Polymarket markets
//! are linked in pairs (each link: YES on either venue / NO on either venue);
//! each has a 10-level book around a fair value. Random book updates are fed
//! to the engine on one thread with the example strategies loaded as WASM, and
//! every `on_update` (update in → decisions out, the orders ready to send) is
//! timed. Updates are generated before timing starts. A fraction of updates
//! (`ARB_PPM`, default 1,000 ppm) opens a real dislocation so the host re-check
//! path is exercised too; a link that trades is released at once so it can
//! trade again.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use arbytron::strategies::WasmStrategies;
use arbytron_engine::{Action, Engine, EngineConfig, LinkSpec, RiskLimits};
use arbytron_model::{Book, MarketInfo, MarketKey, MarketStatus, MarketUpdate, VenueRefs};
use arbytron_runtime::{Runtime, RuntimeConfig, StrategySet};
use arbytron_sdk::{FeeSchedule, Level, Money, Params, Price, Qty, Venue};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};

const PAIRS: usize = 5_000;
const NOW: i64 = 1_767_225_600_000;

fn book(fair: i64, tick: i64, arb: bool) -> Book {
    let mut b = Book::default();
    let spread = if arb { -60_000 } else { 10_000 };
    for i in 0..10 {
        let bid = fair - spread - i * tick;
        let ask = fair + spread.max(10_000) + i * tick;
        if bid > 0 {
            b.yes_bids.push(Level::new(Price::from_micros_const(bid), Qty::from_contracts(50 + i)));
        }
        if ask < 1_000_000 {
            b.yes_asks.push(Level::new(Price::from_micros_const(ask), Qty::from_contracts(50 + i)));
        }
    }
    if arb {
        // Bids above the other venue's asks: a cross-venue dislocation.
        b.yes_asks.retain(|a| a.price > b.yes_bids[0].price);
    }
    b
}

fn listing(key: MarketKey, fee: FeeSchedule) -> MarketUpdate {
    MarketUpdate::Listing(MarketInfo {
        key,
        event: "bench".into(),
        title: "bench".into(),
        outcome: String::new(),
        rules: String::new(),
        closes_at: NOW + 30 * 86_400_000,
        mutually_exclusive: false,
        status: MarketStatus::Open,
        fee,
        tick: Price::from_micros_const(10_000),
        min_qty: Qty::from_hundredths(1),
        refs: VenueRefs::default(),
    })
}

fn main() {
    let wasm_dir = arbytron_runtime::testing::wasm_dir();
    let arb_ppm: u32 = std::env::var("ARB_PPM").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    // `STRATEGY=all` scores every link with every strategy (both examples).
    let strategy_for_pairs: String = match std::env::var("STRATEGY").as_deref() {
        Ok("all") => String::new(),
        Ok(s) => s.to_string(),
        Err(_) => "cross-venue-binary".to_string(),
    };
    let updates_n: usize = std::env::var("UPDATES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);

    let runtime = Runtime::new(RuntimeConfig { cache_dir: None, ..RuntimeConfig::default() }).expect("runtime");
    let set = Arc::new(StrategySet::new(runtime, Arc::new(|_| Params::default())));
    let mut names = Vec::new();
    for name in ["cross-venue-binary", "multi-outcome-bundle"] {
        let path = wasm_dir.join(format!("{name}.wasm"));
        set.load_file(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-wasm.sh)", path.display()));
        names.push(name);
    }
    let strategies = WasmStrategies(set.clone());

    let limits = RiskLimits {
        max_trade_capital: Money::from_dollars(1_000_000),
        max_venue_exposure: Money::MAX,
        max_event_exposure: Money::MAX,
        max_exposure: Money::MAX,
        max_open_bundles: u32::MAX,
        max_book_age_ms: i64::MAX / 4,
        ..RiskLimits::default()
    };
    let rss_before = rss_kib("VmRSS:");
    let mut engine =
        Engine::new(EngineConfig { risk: limits, ..EngineConfig::default() }, Arc::new(AtomicBool::new(false)));
    let kalshi = FeeSchedule::Kalshi { taker_ppm: 70_000, maker_ppm: 0, multiplier_ppm: 1_000_000 };
    let poly = FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut fairs = Vec::with_capacity(PAIRS * 2);
    for i in 0..PAIRS {
        let k = MarketKey::new(Venue::Kalshi, format!("K-{i}"));
        let p = MarketKey::new(Venue::PolymarketClob, format!("0x{i:x}"));
        engine.on_update(&listing(k.clone(), kalshi), NOW, &strategies);
        engine.on_update(&listing(p.clone(), poly), NOW, &strategies);
        engine
            .add_link(LinkSpec {
                name: format!("pair-{i}"),
                // As in production, a binary pair is scored by the binary strategy.
                strategies: if strategy_for_pairs.is_empty() { vec![] } else { vec![strategy_for_pairs.clone()] },
                outcomes: vec![
                    vec![
                        format!("kalshi:K-{i}:yes").parse().unwrap(),
                        format!("polymarket-clob:0x{i:x}:yes").parse().unwrap(),
                    ],
                    vec![
                        format!("kalshi:K-{i}:no").parse().unwrap(),
                        format!("polymarket-clob:0x{i:x}:no").parse().unwrap(),
                    ],
                ],
                resolves_at: Some(NOW + 30 * 86_400_000),
                source: "bench".into(),
                store_id: None,
            })
            .unwrap();
        let fair = rng.gen_range(100_000..900_000) / 10_000 * 10_000;
        fairs.push((k, fair));
        fairs.push((p, fair));
    }
    // Initial books.
    for (k, fair) in &fairs {
        engine.on_update(
            &MarketUpdate::Book { market: k.clone(), book: book(*fair, 10_000, false), venue_ts: NOW },
            NOW,
            &strategies,
        );
    }
    // Memory of the engine's state (markets, books, links) and the strategy
    // instances, before the pre-generated updates are allocated.
    let rss_loaded = rss_kib("VmRSS:");
    let updates: Vec<MarketUpdate> = (0..updates_n)
        .map(|_| {
            let (k, fair) = &fairs[rng.gen_range(0..fairs.len())];
            let drift = rng.gen_range(-2i64..=2) * 10_000;
            let arb = rng.gen_range(0..1_000_000) < arb_ppm;
            MarketUpdate::Book {
                market: k.clone(),
                book: book((fair + drift).clamp(50_000, 950_000), 10_000, arb),
                venue_ts: NOW,
            }
        })
        .collect();

    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    // Split by whether the update reached a strategy or the host skipped the link
    // because its cheapest asks already cost $1.
    let mut scored_hist = hist.clone();
    let mut skipped_hist = hist.clone();
    let skipped = &arbytron_engine::metrics::LINKS_SKIPPED;
    let mut entered = 0u64;
    let mut rejected = 0u64;
    let started = Instant::now();
    for (n, u) in updates.iter().enumerate() {
        let before = skipped.get();
        let t = Instant::now();
        let actions = engine.on_update(u, NOW + n as i64, &strategies);
        let ns = t.elapsed().as_nanos() as u64;
        hist.record(ns).ok();
        if skipped.get() == before {
            scored_hist.record(ns).ok()
        } else {
            skipped_hist.record(ns).ok()
        };
        for a in actions {
            match a {
                Action::Enter(p) => {
                    entered += 1;
                    engine.entry_finished(p.bundle, p.link, None, Money::ZERO, NOW);
                }
                Action::Rejected(_) => rejected += 1,
                _ => {}
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "engine: {} linked markets, {} updates, strategies {:?} (wasm)\n\
         tick-to-decision ns: p50 {} p90 {} p99 {} p99.9 {} max {}\n\
         throughput: {:.0} updates/s on one thread; entries {entered}, recorded rejections {rejected}\n\
         scored by a strategy: {} updates, p50 {} p99 {} ns; skipped by the host (asks >= $1): {} updates, p50 {} p99 {} ns",
        PAIRS * 2,
        updates.len(),
        names,
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.9),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max(),
        updates.len() as f64 / elapsed.as_secs_f64(),
        scored_hist.len(),
        scored_hist.value_at_quantile(0.5),
        scored_hist.value_at_quantile(0.99),
        skipped_hist.len(),
        skipped_hist.value_at_quantile(0.5),
        skipped_hist.value_at_quantile(0.99),
    );
    println!(
        "memory: resident {} KiB with the runtime and compiled strategies; {} KiB after listing, linking and \
         booking {} markets (+{} KiB, {} bytes per market); peak {} KiB (includes the pre-generated updates)",
        rss_before,
        rss_loaded,
        PAIRS * 2,
        rss_loaded.saturating_sub(rss_before),
        rss_loaded.saturating_sub(rss_before) * 1024 / (PAIRS as u64 * 2),
        rss_kib("VmHWM:"),
    );
}

/// A line of /proc/self/status in KiB (Linux); 0 elsewhere.
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}
