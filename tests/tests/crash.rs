//! kill -9 of the host in the middle of an execution, then a restart: the
//! intents written before sending are reconciled with the simulators' own
//! orders, no order is sent twice, and the positions we record equal the
//! venues'.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::time::Duration;

use arbytron::world::{self, KALSHI_DEMO_KEY_ID, cpi_markets, cpi_poly_tokens};
use arbytron_sdk::{Price, Qty, Side, Venue};
use arbytron_sim::polymarket::demo_account;
use arbytron_sim::scenario::Fault;
use arbytron_store::{BundleStatus, Store};
use arbytron_tests::{Host, TestDb, example_strategies, free_port, host_config, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_execution_then_restart_reconciles_without_duplicates() {
    arbytron_tests::init_logs();
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let w = world::start(7, "none", false).await.unwrap();
    let (k, p) = (w.kalshi.as_ref().unwrap(), w.polymarket.as_ref().unwrap());
    let strategies = example_strategies(&dir.path().join("strategies"));
    std::fs::write(dir.path().join("mappings.toml"), world::mappings_toml(&w.links)).unwrap();
    let admin_port = free_port();
    let config = dir.path().join("host.toml");
    std::fs::write(
        &config,
        host_config(
            &w,
            admin_port,
            &strategies,
            &dir.path().join("cache"),
            &dir.path().join("mappings.toml"),
            &db.url,
            "",
        ),
    )
    .unwrap();

    let host = Host::start(&config, admin_port);
    wait_until("the host is streaming books", Duration::from_secs(90), || async { host.updates().await >= 5 }).await;
    let store = Store::connect(&db.url).await.unwrap();

    // The Polymarket leg will hang for 8 s; the Kalshi leg fills at once.
    p.fault(Fault::Latency { ms: 8_000 });
    let (cpi_kalshi, cpi_poly) = cpi_markets();
    p.set_fair(&cpi_poly.symbol, Price::parse("0.33").unwrap());
    // Wait until the intent is written and the Kalshi order has filled, then kill -9.
    wait_until("the entry intent is written and Kalshi has filled", Duration::from_secs(60), || async {
        let filled = k.positions(KALSHI_DEMO_KEY_ID).iter().any(|(t, q)| *t == cpi_kalshi.symbol && !q.is_zero());
        filled && !store.unresolved_orders().await.unwrap_or_default().is_empty()
    })
    .await;
    host.kill9();
    let unresolved = store.unresolved_orders().await.unwrap();
    assert!(!unresolved.is_empty(), "the crash left orders whose outcome the store does not know");
    p.fault(Fault::Latency { ms: 0 });
    tokio::time::sleep(Duration::from_secs(9)).await; // anything in flight lands (or not)

    // Restart: reconcile, repair, and hold a hedged bundle.
    let host = Host::start(&config, admin_port);
    wait_until("the restarted host resolves every order", Duration::from_secs(90), || async {
        store.unresolved_orders().await.map(|u| u.is_empty()).unwrap_or(false)
    })
    .await;
    let bundle_id = unresolved[0].bundle.id;
    wait_until("the bundle ends hedged or flat", Duration::from_secs(60), || async {
        matches!(
            store.bundle(bundle_id).await.unwrap().map(|b| b.status),
            Some(BundleStatus::Open | BundleStatus::Failed)
        )
    })
    .await;
    let b = store.bundle(bundle_id).await.unwrap().unwrap();
    assert!(b.legs.iter().all(|l| l.quantity == b.quantity), "no unhedged leg: {b:?}");
    // The dislocation is still there, so the restarted host may trade it
    // again: stop new trades, let what is in flight finish and Polymarket's
    // trades confirm, then compare positions.
    assert!(host.post("/kill").await.status().is_success());
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(store.unresolved_orders().await.unwrap().is_empty());

    // No order went out twice: every client order id is unique.
    let orders = store.orders_for_bundle(bundle_id).await.unwrap();
    let mut ids: Vec<_> = orders.iter().map(|o| o.client_order_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), orders.len());
    // Positions: ours (every open bundle, summed) equal the venues'. The
    // restarted host may have traded the still-open dislocation again.
    let totals = store.all_positions().await.unwrap();
    let ours = |venue: Venue, symbol: &str, side: Side| -> Qty {
        totals
            .iter()
            .filter(|t| t.market.venue == venue && t.market.symbol == symbol && t.side == side)
            .map(|t| t.quantity)
            .sum()
    };
    let kalshi_net: Qty =
        k.positions(KALSHI_DEMO_KEY_ID).iter().filter(|(t, _)| *t == cpi_kalshi.symbol).map(|(_, q)| *q).sum();
    assert_eq!(
        kalshi_net,
        ours(Venue::Kalshi, &cpi_kalshi.symbol, Side::Yes) - ours(Venue::Kalshi, &cpi_kalshi.symbol, Side::No),
        "Kalshi position equals ours"
    );
    let (yes, no) = cpi_poly_tokens();
    let poly = p.positions(&demo_account().api_key);
    assert_eq!(poly.get(&yes).copied().unwrap_or_default(), ours(Venue::PolymarketClob, &cpi_poly.symbol, Side::Yes));
    assert_eq!(poly.get(&no).copied().unwrap_or_default(), ours(Venue::PolymarketClob, &cpi_poly.symbol, Side::No));
    host.kill9();
    w.shutdown().await;
}
