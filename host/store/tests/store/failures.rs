//! A database that goes away gives errors that say what failed and whether
//! to retry; never a panic.

use std::time::Duration;

use arbytron_store::*;
use sqlx::Connection;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(a_closed_store_says_so);

async fn a_closed_store_says_so(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    store.close().await;
    assert!(store.is_closed());
    let err = store.bundle(41).await.unwrap_err();
    assert!(matches!(err, StoreError::Closed { .. }), "{err:?}");
    assert_eq!(err.to_string(), "read bundle 41: the store is closed");
    assert!(!err.is_transient(), "closing is deliberate: retrying cannot help");
    let err = store
        .begin_bundle(&new_bundle(link), &[order("z-1", kalshi("K"), arbytron_model::Side::Yes, "0.4")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Closed { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_database_is_a_clear_error() {
    let mut db = TestDb::postgres().await;
    let store = db.store().await;
    with_link(&store).await;
    db.drop_database();
    let err = store.open_bundles().await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("read open bundles"), "names the operation: {msg}");
    assert!(msg.contains("does not exist") || msg.contains("terminat"), "says why: {msg}");
    // Writes fail the same way, and nothing panics.
    let err = store.insert_link(&binary_link("config", "A", "B")).await.unwrap_err();
    assert!(err.to_string().starts_with("insert link config"), "{err}");
}

/// What a restart or failover does to live sessions: the server ends them.
async fn end_sessions(db: &TestDb) -> usize {
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let mut admin = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    killed.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_is_transient_and_a_retry_gets_through() {
    let db = TestDb::postgres().await;
    // Without the ping before each call, the dead connection surfaces as an error.
    let store = Store::connect_with(&db.url, StoreOptions { check_connections: false, ..StoreOptions::default() })
        .await
        .unwrap();
    let link = with_link(&store).await;
    assert!(end_sessions(&db).await >= 1, "the store had a connection to end");
    let legs = [order("after-restart", kalshi("K"), arbytron_model::Side::Yes, "0.4")];
    let err = store.begin_bundle(&new_bundle(link), &legs).await.unwrap_err();
    assert!(err.is_transient(), "a dropped connection must be retryable: {err:?}");
    assert!(err.to_string().starts_with("begin bundle cross-venue-binary/link"), "{err}");
    // Each idle connection the server ended fails once (the pool discards
    // it); retrying gets through on a fresh one, and nothing was half-written.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match store.begin_bundle(&new_bundle(link), &legs).await {
            Ok(_) => break,
            Err(e) => assert!(e.is_transient() && attempts <= 10, "attempt {attempts}: {e:?}"),
        }
    }
    assert_eq!(count(&store, "orders").await, 1);
    assert_eq!(count(&store, "bundles").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_connection_checks_a_server_restart_goes_unnoticed() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let link = with_link(&store).await;
    for round in 0..3 {
        assert!(end_sessions(&db).await >= 1, "the store had connections to end");
        let coid = format!("after-restart-{round}");
        store
            .begin_bundle(&new_bundle(link), &[order(&coid, kalshi("K"), arbytron_model::Side::Yes, "0.4")])
            .await
            .unwrap();
        assert!(store.order(&coid).await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_transient_and_keeps_the_password_out() {
    let options = StoreOptions { acquire_timeout: Duration::from_millis(500), ..StoreOptions::default() };
    // Port 9 (discard) is closed here: connection refused.
    let err = Store::connect_with("postgres://arbytron:hunter2@127.0.0.1:9/arbytron", options).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(err.is_transient(), "a server that is down may come back: {err:?}");
    assert!(msg.contains("127.0.0.1:9") && !msg.contains("hunter2"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sqlite_file_is_not_created_without_rwc() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("absent.db").display());
    let err = Store::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(!dir.path().join("absent.db").exists());
}

on_both_backends!(corrupt_rows_are_errors_not_panics);

async fn corrupt_rows_are_errors_not_panics(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    // Someone edits the database by hand.
    sqlx::query("UPDATE links SET outcomes = $1 WHERE id = $2")
        .bind("{not json")
        .bind(link)
        .execute(store.pool())
        .await
        .unwrap();
    let err = store.links().await.unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { column: "outcomes", .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("read links {link}: corrupt outcomes")), "{err}");
    // A fee schedule this build does not know.
    let info = arbytron_model::MarketInfo {
        key: kalshi("K"),
        event: "E".into(),
        title: "T".into(),
        outcome: String::new(),
        rules: String::new(),
        closes_at: 1,
        mutually_exclusive: false,
        status: arbytron_model::MarketStatus::Open,
        fee: arbytron_model::FeeSchedule::None,
        tick: arbytron_model::Price::ZERO,
        min_qty: arbytron_model::Qty::ZERO,
        refs: arbytron_model::VenueRefs::default(),
    };
    store.upsert_market(&info).await.unwrap();
    sqlx::query("UPDATE markets SET fee = $1")
        .bind(r#"{"model":"flat","cents":7}"#)
        .execute(store.pool())
        .await
        .unwrap();
    let err = store.markets().await.unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { column: "fee", id, .. } if id == "K"), "{err:?}");
}
