//! The fault suite: each scenario on the simulators with a real database,
//! asserting what `docs/RELIABILITY.md` promises for it: no fill lost, no
//! order executed twice, no trade on a stale book, and no unhedged exposure
//! left beyond its bound.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arbytron::world::{KALSHI_DEMO_KEY_ID, cpi_markets, fed_markets};
use arbytron_sdk::{Money, Qty};
use arbytron_sim::polymarket::demo_account;
use arbytron_store::BundleStatus;
use arbytron_tests::harness::{Harness, MIN, p};
use arbytron_tests::pg::PgServer;
use arbytron_tests::wait_until;

/// What the Kalshi simulator says each of our orders filled, by client order id.
fn kalshi_fills(h: &Harness) -> BTreeMap<String, Qty> {
    h.kalshi()
        .orders(KALSHI_DEMO_KEY_ID)
        .iter()
        .filter_map(|o| {
            let cid = o["client_order_id"].as_str()?.to_string();
            let filled = Qty::parse(o["fill_count_fp"].as_str()?).ok()?;
            (!cid.is_empty()).then_some((cid, filled))
        })
        .collect()
}

fn kalshi_position(h: &Harness, ticker: &str) -> Qty {
    h.kalshi().positions(KALSHI_DEMO_KEY_ID).iter().filter(|(t, _)| t == ticker).map(|(_, q)| *q).sum()
}

fn poly_held(h: &Harness) -> Qty {
    h.poly().positions(&demo_account().api_key).values().copied().filter(|q| q.is_positive()).sum()
}

async fn metric(h: &Harness, name: &str) -> Option<f64> {
    let text = arbytron_integration::http::client(&Default::default())
        .unwrap()
        .get(format!("http://{}/metrics", h.svc.admin_addr))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

/// PostgreSQL stops for 30 s while a bundle is open. The exit the market
/// calls for goes on (its records wait in the outbox); a dislocation that
/// appears meanwhile opens no bundle; when the database is back the outbox is
/// applied and trading resumes. Afterwards every order's fill is in the store
/// as the venues report it, and realised PnL equals the cash that moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_for_30_s_mid_trading_loses_nothing() {
    let pg = PgServer::start();
    let h = Harness::start_on("", &pg.url("postgres")).await;
    let (cpi_kalshi, cpi_poly) = cpi_markets();
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    let b = h.wait_bundle("CPI bundle open", |b| b.status == BundleStatus::Open && b.legs.len() == 2).await;

    pg.stop();
    let down = Instant::now();
    // Prices converge: selling the bundle back beats holding it.
    h.poly().set_fair(&cpi_poly.symbol, p("0.45"));
    wait_until("the exit done at both venues", MIN, || async {
        kalshi_position(&h, &cpi_kalshi.symbol).is_zero() && poly_held(&h).is_zero()
    })
    .await;
    assert_eq!(metric(&h, "arbytron_store_available").await, Some(0.0), "the host knows the store is away");
    assert!(metric(&h, "arbytron_outbox_records").await.unwrap_or(0.0) > 0.0, "the exit's records wait in the outbox");
    // A new dislocation during the outage: no bundle may start.
    let fed = fed_markets();
    h.kalshi().set_fair(&fed[1].0.symbol, p("0.20"));
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    for (k, _) in &fed {
        assert!(kalshi_position(&h, &k.symbol).is_zero(), "no bundle opened while the store was away ({k})");
    }

    pg.resume();
    // Trading resumes by itself once the outbox is applied.
    let fed_bundle =
        h.wait_bundle("Fed bundle after the outage", |x| x.status == BundleStatus::Open && x.legs.len() == 3).await;
    assert_eq!(metric(&h, "arbytron_store_available").await, Some(1.0));
    assert_eq!(metric(&h, "arbytron_outbox_records").await, Some(0.0));

    // The exit made during the outage is in the books.
    let closed = h.store.bundle(b.id).await.unwrap().unwrap();
    assert_eq!(closed.status, BundleStatus::Closed, "{closed:?}");
    // Every Kalshi order's fill is recorded as the venue reports it.
    for (cid, filled) in kalshi_fills(&h) {
        let ours = h.store.order(&cid).await.unwrap().unwrap_or_else(|| panic!("order {cid} missing from the store"));
        assert_eq!(ours.filled, filled, "order {cid}");
    }
    assert!(h.store.unresolved_orders().await.unwrap().is_empty());
    // Realised PnL equals the cash that moved, less what the held Fed bundle cost.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = h.bundles().await;
    let realized: Money = all.iter().map(|b| b.realized_pnl).sum();
    let held = h.store.bundle(fed_bundle.id).await.unwrap().unwrap().cost;
    let change = h.balance_change();
    assert!(
        (realized - held - change).micros().abs() < 10_000,
        "realised {realized} less held cost {held} must equal the cash that moved {change}"
    );
    h.stop().await;
}

/// Open a CPI bundle (Polymarket's price drops 12 cents under Kalshi's).
async fn open_cpi(h: &Harness) -> arbytron_store::BundleRecord {
    let (_, cpi_poly) = cpi_markets();
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    h.wait_bundle("CPI bundle open", |b| b.status == BundleStatus::Open && b.legs.len() == 2).await
}

/// Prices converge: the strategy sells the bundle back.
async fn exit_cpi(h: &Harness, b: &arbytron_store::BundleRecord) {
    let (_, cpi_poly) = cpi_markets();
    h.poly().set_fair(&cpi_poly.symbol, p("0.45"));
    h.wait_bundle("CPI bundle closed", |x| x.id == b.id && x.status == BundleStatus::Closed).await;
}

use arbytron_sim::scenario::Fault;

/// Kalshi's WebSocket drops mid-stream: books go stale, the feed reconnects
/// and resyncs, and trading carries on with the books fresh again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kalshi_websocket_drop_mid_stream_loses_nothing() {
    let h = Harness::start("").await;
    let b = open_cpi(&h).await;
    h.kalshi().fault(Fault::Disconnect);
    exit_cpi(&h, &b).await;
    h.assert_invariants().await;
    h.stop().await;
}

/// A sequence gap on Kalshi's book channel: the book is resynced before it is traded on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kalshi_sequence_gap_is_resynced_and_trading_is_exact() {
    let h = Harness::start("").await;
    h.kalshi().fault(Fault::SeqGap);
    let b = open_cpi(&h).await;
    h.kalshi().fault(Fault::SeqGap);
    exit_cpi(&h, &b).await;
    h.assert_invariants().await;
    h.stop().await;
}

/// A storm of 429s on both venues while a bundle is bought: requests are
/// retried after the venues' waits, none is lost and none executes twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_429_storm_loses_and_duplicates_no_order() {
    let h = Harness::start("").await;
    h.kalshi().fault(Fault::RateLimitBurst { count: 6 });
    h.poly().fault(Fault::RateLimitBurst { count: 6 });
    open_cpi(&h).await;
    h.assert_invariants().await;
    h.stop().await;
}

/// Polymarket's matching engine restarts (425, then a post-only window) just
/// as a bundle is bought: no order is lost or doubled and nothing is left unhedged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_425_restart_window_leaves_nothing_unhedged() {
    let h = Harness::start("").await;
    h.poly().fault(Fault::EngineRestart { ms: 1_500, post_only_ms: 2_000 });
    let (_, cpi_poly) = cpi_markets();
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    // Either the entry waited out the restart, or its Kalshi leg was sold back.
    h.wait_bundle("a bundle that went through the restart", |b| {
        matches!(b.status, BundleStatus::Open | BundleStatus::Failed | BundleStatus::Closed)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    h.assert_invariants().await;
    h.stop().await;
}

/// One leg rejected: the other is sold back within the loss cap; one leg
/// partly filled: the bundle is completed or trimmed. The venues and our
/// books agree afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_or_partial_leg_leaves_books_equal_to_the_venues() {
    let h = Harness::start("").await;
    h.poly().fault(Fault::RejectOrders { count: 100 });
    let (_, cpi_poly) = cpi_markets();
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    h.wait_bundle("failed bundle", |b| b.status == BundleStatus::Failed).await;
    h.assert_invariants().await;
    h.stop().await;

    let h = Harness::start("").await;
    h.kalshi().fault(Fault::PartialFills { count: 1, ppm: 400_000 });
    let b = open_cpi(&h).await;
    assert!(b.legs.iter().all(|l| l.quantity == b.quantity));
    h.assert_invariants().await;
    h.stop().await;
}

/// The hostile strategy set dropped into the live strategies folder: each is
/// quarantined with its reason; the good strategies keep trading exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_strategies_are_quarantined_and_trading_goes_on() {
    let h = Harness::start("").await;
    let dir = h.dir.path().join("strategies");
    for f in [
        "hostile-loop-score",
        "hostile-memory-bomb",
        "hostile-panic-score",
        "hostile-stack-overflow",
        "hostile-huge-return",
        "hostile-failing-init",
        "hostile-looping-init",
        "wrong-world",
    ] {
        std::fs::copy(arbytron_runtime::testing::module_path(f), dir.join(format!("{f}.wasm"))).unwrap();
    }
    // Give the watcher time to try every module.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let b = open_cpi(&h).await;
    exit_cpi(&h, &b).await;
    h.assert_invariants().await;
    let loads = h.store.strategy_versions(None).await.unwrap();
    for f in ["hostile-failing-init", "hostile-looping-init", "wrong-world"] {
        assert!(
            loads.iter().any(|v| v.record.file.ends_with(&format!("{f}.wasm")) && v.record.result != "live"),
            "{f} refused and recorded: {loads:?}"
        );
    }
    h.stop().await;
}

/// Redis restarted (SIGKILL, then started again on its append-only file)
/// under an `ingest` process and a `run` process sharing the Redis bus: the
/// processes reconnect, and a dislocation only the ingest process sees is
/// still bought, hedged, by the run process.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarted_under_the_redis_bus_and_trading_goes_on() {
    use arbytron::world;
    use arbytron_integration::testing::ThrowawayRedis;
    use arbytron_tests::{Host, TestDb, example_strategies, free_port, host_config};

    arbytron_tests::init_logs();
    let mut redis = ThrowawayRedis::start();
    let bus = format!(
        "[bus]\nkind = \"redis\"\nurl = \"{}\"\nstream = \"faults\"\ngroup = \"faults-engine\"\nresponse_timeout_ms = 1000\n",
        redis.url()
    );
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let w = world::start(23, "none", false).await.unwrap();
    let strategies = example_strategies(&dir.path().join("strategies"));
    let mappings = dir.path().join("mappings.toml");
    std::fs::write(&mappings, world::mappings_toml(&w.links)).unwrap();
    let (ingest_port, run_port) = (free_port(), free_port());
    let cache = dir.path().join("cache");
    let ingest_cfg = dir.path().join("ingest.toml");
    std::fs::write(&ingest_cfg, host_config(&w, ingest_port, &strategies, &cache, &mappings, &db.url, &bus)).unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let run_cfg = run_dir.join("run.toml");
    std::fs::write(
        &run_cfg,
        host_config(&w, run_port, &strategies, &cache, &run_dir.join("mappings.toml"), &db.url, &bus),
    )
    .unwrap();
    std::fs::copy(&mappings, run_dir.join("mappings.toml")).unwrap();

    let run = Host::spawn(&["run", "--bus", "redis"], &run_cfg, run_port);
    let ingest = Host::spawn(&["ingest", "--bus", "redis"], &ingest_cfg, ingest_port);
    wait_until("the run process sees books through the bus", Duration::from_secs(90), || async {
        run.updates().await >= 5
    })
    .await;
    redis.restart();
    let before = run.updates().await;
    wait_until("updates flow again after the restart", Duration::from_secs(60), || async {
        run.updates().await > before + 5
    })
    .await;

    let store = arbytron_store::Store::connect(&db.url).await.unwrap();
    let (_, cpi_poly) = cpi_markets();
    w.polymarket.as_ref().unwrap().set_fair(&cpi_poly.symbol, p("0.33"));
    wait_until("a bundle bought by the run process", MIN, || async {
        store.open_bundles().await.unwrap_or_default().iter().any(|b| b.status == BundleStatus::Open)
    })
    .await;
    let open = store.open_bundles().await.unwrap();
    assert!(open.iter().all(|b| b.legs.iter().all(|l| l.quantity == b.quantity)), "hedged: {open:?}");
    assert!(store.unresolved_orders().await.unwrap().is_empty());
    ingest.kill9();
    run.kill9();
    w.shutdown().await;
}
