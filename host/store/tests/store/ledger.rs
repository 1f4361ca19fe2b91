//! The durable write path: with the database taken away (a TCP proxy cut in
//! front of PostgreSQL), money records go to the outbox, no new bundle can
//! start, and when the database is back every record is applied exactly once.

use std::sync::Arc;
use std::time::Duration;

use arbytron_integration::testing::TcpProxy;
use arbytron_model::venue::{Action, FillEvent, FillState, OrderReport, OrderStatus};
use arbytron_model::{MarketKey, Money, Price, Qty, Side, Venue};

use arbytron_store::{
    BundleStatus, BundleUpdate, IntentKind, IntentState, Ledger, OrderState, PnlSnapshot, PositionRecord, Store,
    StoreError, StoreOptions, Written, intent_key,
};
use tokio_util::sync::CancellationToken;

use crate::common::{TestDb, binary_link, kalshi, new_bundle};

fn link(source: &str) -> arbytron_store::NewLink {
    binary_link(source, "KX-1", "0xpoly")
}

fn bundle(link_id: i64) -> arbytron_store::NewBundle {
    new_bundle(link_id)
}

fn order(cid: &str, market: &str) -> arbytron_store::NewOrder {
    crate::common::order(cid, kalshi(market), Side::Yes, "0.45")
}

/// A PostgreSQL test database reached through a proxy the test can cut.
async fn behind_proxy(db: &TestDb) -> (TcpProxy, Store) {
    let url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let target = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
    let proxy = TcpProxy::start(target).await.unwrap();
    let mut via = url.clone();
    via.set_host(Some("127.0.0.1")).unwrap();
    via.set_port(Some(proxy.port())).unwrap();
    let opts = StoreOptions { acquire_timeout: Duration::from_millis(500), ..StoreOptions::default() };
    let store = Store::connect_with(via.as_str(), opts).await.unwrap();
    (proxy, store)
}

fn report(cid: &str, filled: i64) -> OrderReport {
    OrderReport {
        client_order_id: cid.into(),
        venue_order_id: format!("v-{cid}"),
        status: OrderStatus::Filled,
        filled: Qty::from_contracts(filled),
        notional: Money::from_cents(45 * filled),
        fee: Money::from_cents(filled),
    }
}

fn fill(trade: &str, cid: &str) -> FillEvent {
    FillEvent {
        venue: Venue::Kalshi,
        trade_id: trade.into(),
        venue_order_id: format!("v-{cid}"),
        client_order_id: Some(cid.into()),
        market: MarketKey::new(Venue::Kalshi, "KX-1"),
        side: Side::Yes,
        action: Action::Buy,
        quantity: Qty::from_contracts(10),
        price: Price::parse("0.45").unwrap(),
        fee: Money::from_cents(10),
        state: FillState::Confirmed,
        ts: 1_700_000_000_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_defers_money_records_blocks_new_bundles_and_loses_nothing() {
    let db = TestDb::postgres().await;
    let (proxy, store) = behind_proxy(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(store.clone(), dir.path()).unwrap());
    let health = ledger.health();

    // A bundle is open before the outage.
    let link_id = store.insert_link(&link("ledger")).await.unwrap();
    let entry = vec![order("e1", "KX-1")];
    let (bundle_id, _) = ledger.begin_bundle(&bundle(link_id), &entry).await.unwrap();
    assert_eq!(ledger.record_order_result("e1", &report("e1", 10)).await.unwrap(), Written::Stored);

    // The database goes away mid-trading.
    proxy.cut();
    // An exit goes on: its intent, answers and the bundle's new state are kept.
    let exit = vec![order("x1", "KX-1")];
    assert_eq!(ledger.add_intent(bundle_id, IntentKind::Exit, &exit).await.unwrap(), Written::Deferred);
    assert!(!health.available(), "the first failed write marks the store away");
    assert_eq!(ledger.record_order_result("x1", &report("x1", 10)).await.unwrap(), Written::Deferred);
    assert_eq!(ledger.record_fill(&fill("t-x1", "x1")).await.unwrap(), Written::Deferred);
    ledger.close_intent(&intent_key(&exit), IntentState::Done).await.unwrap();
    let pos = PositionRecord {
        bundle_id,
        market: MarketKey::new(Venue::Kalshi, "KX-1"),
        side: Side::Yes,
        quantity: Qty::ZERO,
        cost: Money::ZERO,
        fees: Money::from_cents(20),
    };
    ledger.set_position(&pos).await.unwrap();
    let closed = BundleUpdate {
        status: Some(BundleStatus::Closed),
        realized_pnl: Some(Money::from_cents(120)),
        ..BundleUpdate::default()
    };
    ledger.update_bundle(bundle_id, &closed).await.unwrap();
    let snapshot = PnlSnapshot {
        ts: 1_700_000_000_500,
        realized: Money::from_cents(120),
        unrealized: Money::ZERO,
        exposure: Default::default(),
    };
    ledger.record_pnl_snapshot(&snapshot).await.unwrap();
    assert_eq!(ledger.pending().await, 7);

    // No new bundle can start, and it says so at once.
    let refused = ledger.begin_bundle(&bundle(link_id), &[order("e2", "KX-1")]).await.unwrap_err();
    assert!(matches!(refused, StoreError::Unavailable { .. }), "{refused}");
    assert!(refused.is_transient());

    // The database comes back: the watcher applies the outbox in order.
    let stop = CancellationToken::new();
    let watcher = tokio::spawn({
        let (ledger, stop) = (ledger.clone(), stop.clone());
        async move { ledger.run(Duration::from_millis(50), stop).await }
    });
    proxy.restore();
    for _ in 0..200 {
        if health.available() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(health.available(), "available again once the outbox is applied");
    assert_eq!(ledger.pending().await, 0);
    stop.cancel();
    watcher.await.unwrap();

    // Every record is in the database.
    let b = store.bundle(bundle_id).await.unwrap().unwrap();
    assert_eq!(b.status, BundleStatus::Closed);
    assert_eq!(b.realized_pnl, Money::from_cents(120));
    let intents = store.intents(bundle_id).await.unwrap();
    assert_eq!(intents.len(), 2, "entry and exit");
    assert!(intents.iter().all(|i| i.state == IntentState::Done || i.kind == IntentKind::Entry));
    let x1 = store.order("x1").await.unwrap().unwrap();
    assert_eq!((x1.state, x1.filled), (OrderState::Filled, Qty::from_contracts(10)));
    assert!(store.fill(Venue::Kalshi, "t-x1").await.unwrap().is_some());
    assert_eq!(store.positions(bundle_id).await.unwrap(), vec![pos]);
    assert_eq!(store.pnl_snapshots(0).await.unwrap().len(), 1);
    // And a new bundle can start again.
    ledger.begin_bundle(&bundle(link_id), &[order("e3", "KX-1")]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outbox_applied_twice_after_a_crash_changes_nothing() {
    let db = TestDb::postgres().await;
    let (proxy, store) = behind_proxy(&db).await;
    let link_id = store.insert_link(&link("replay")).await.unwrap();
    let (bundle_id, _) = store.begin_bundle(&bundle(link_id), &[order("e1", "KX-1")]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(store.clone(), dir.path()).unwrap();
    proxy.cut();
    let exit = vec![order("x1", "KX-1")];
    ledger.add_intent(bundle_id, IntentKind::Exit, &exit).await.unwrap();
    ledger.record_order_result("x1", &report("x1", 3)).await.unwrap();
    ledger.record_fill(&fill("t1", "x1")).await.unwrap();
    ledger
        .record_pnl_snapshot(&PnlSnapshot {
            ts: 5,
            realized: Money::ZERO,
            unrealized: Money::ZERO,
            exposure: Default::default(),
        })
        .await
        .unwrap();
    // A crash after the outbox is applied but before it is removed: keep a copy to apply again.
    let copy = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
    }
    proxy.restore();
    assert_eq!(ledger.drain().await.unwrap(), 4);
    let again = Ledger::open(store.clone(), copy.path()).unwrap();
    assert_eq!(again.pending().await, 4);
    assert_eq!(again.drain().await.unwrap(), 4, "applied again without error");
    assert_eq!(store.intents(bundle_id).await.unwrap().len(), 2, "one exit intent, not two");
    assert_eq!(store.fills_for_order("x1").await.unwrap().len(), 1);
    assert_eq!(store.pnl_snapshots(0).await.unwrap().len(), 1);
    assert_eq!(store.order("x1").await.unwrap().unwrap().filled, Qty::from_contracts(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_the_database_refuses_for_good_is_set_aside_not_retried_forever() {
    let db = TestDb::postgres().await;
    let (proxy, store) = behind_proxy(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(store.clone(), dir.path()).unwrap();
    proxy.cut();
    // An answer for an order the database never heard of.
    ledger.record_order_result("ghost", &report("ghost", 1)).await.unwrap();
    ledger.record_fill(&fill("t2", "ghost")).await.unwrap();
    proxy.restore();
    ledger.drain().await.unwrap();
    assert_eq!(ledger.pending().await, 0);
    assert!(ledger.health().available());
    let aside = std::fs::read_to_string(dir.path().join("rejected.jsonl")).unwrap();
    assert!(aside.contains("ghost") && aside.contains("no order"), "{aside}");
    assert!(store.fill(Venue::Kalshi, "t2").await.unwrap().is_some(), "later records still applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_healthy_store_takes_writes_directly() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(store.clone(), dir.path()).unwrap();
    let link_id = store.insert_link(&link("direct")).await.unwrap();
    let (bundle_id, _) = ledger.begin_bundle(&bundle(link_id), &[order("d1", "KX-1")]).await.unwrap();
    assert_eq!(ledger.record_order_result("d1", &report("d1", 2)).await.unwrap(), Written::Stored);
    assert_eq!(
        ledger
            .update_bundle(bundle_id, &BundleUpdate { status: Some(BundleStatus::Open), ..Default::default() })
            .await
            .unwrap(),
        Written::Stored
    );
    assert_eq!(ledger.pending().await, 0);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written to the outbox");
}
