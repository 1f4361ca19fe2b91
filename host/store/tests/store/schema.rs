//! Migrations, backend settings and the SQL dialect both backends share.

use std::collections::BTreeMap;

use arbytron_store::{Backend, Store, StoreError};
use sqlx::Row;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(migrations_apply_from_empty_and_are_idempotent, placeholders_bind_by_number);

async fn migrations_apply_from_empty_and_are_idempotent(db: TestDb) {
    let store = db.store().await;
    let applied = count(&store, "_sqlx_migrations").await;
    assert!(applied >= 1, "at least the initial migration is recorded");
    // Every table exists and starts empty (but for the seeded venues).
    for table in [
        "markets",
        "links",
        "strategy_versions",
        "opportunities",
        "bundles",
        "intents",
        "orders",
        "fills",
        "positions",
        "pnl_snapshots",
    ] {
        assert_eq!(count(&store, table).await, 0, "{table} starts empty");
    }
    assert_eq!(count(&store, "venues").await, 3);
    let link = with_link(&store).await;
    store.close().await;

    // Reconnecting runs the migrator again: nothing re-applied, data kept.
    let again = db.store().await;
    assert_eq!(count(&again, "_sqlx_migrations").await, applied);
    assert_eq!(again.links().await.unwrap().iter().map(|l| l.id).collect::<Vec<_>>(), vec![link]);
    // Two stores at once on the same database (a second host process) are fine too.
    let third = db.store().await;
    assert_eq!(count(&third, "_sqlx_migrations").await, applied);
}

async fn placeholders_bind_by_number(db: TestDb) {
    let store = db.store().await;
    // Out of order, repeated, and NULL-typed parameters all bind by number on both backends.
    let row = sqlx::query("SELECT $2 AS b, $1 AS a, $1 + $2 AS s, CASE WHEN $3 IS NULL THEN 1 ELSE 0 END AS n")
        .bind(40i64)
        .bind(2i64)
        .bind(None::<i64>)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.try_get::<i64, _>("a").unwrap(), 40);
    assert_eq!(row.try_get::<i64, _>("b").unwrap(), 2);
    assert_eq!(row.try_get::<i64, _>("s").unwrap(), 42);
    assert_eq!(row.try_get::<i64, _>("n").unwrap(), 1);
    // Text parameters, repeated.
    let row = sqlx::query("SELECT CASE WHEN $1 = $1 THEN $1 ELSE 'no' END AS t")
        .bind("kalshi")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.try_get::<String, _>("t").unwrap(), "kalshi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_runs_with_wal_busy_timeout_and_foreign_keys() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    assert_eq!(store.backend(), Backend::Sqlite);
    // Check on several pooled connections: every one gets the pragmas.
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut conn = store.pool().acquire().await.unwrap();
        let mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap().try_get(0).unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap().try_get(0).unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap().try_get(0).unwrap();
        assert_eq!(busy, 5000);
        let sync: i64 = sqlx::query("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap().try_get(0).unwrap();
        assert_eq!(sync, 2, "FULL");
        conns.push(conn);
    }
    drop(conns);
    // Foreign keys are enforced: an intent for a missing bundle is refused.
    let err = store
        .add_intent(
            999,
            arbytron_store::IntentKind::Exit,
            &[order("x-1", kalshi("KXFED-26DEC-T4.00"), arbytron_model::Side::Yes, "0.5")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_is_one_database_across_calls() {
    // Each new connection to `sqlite::memory:` would be a new empty database;
    // the store keeps exactly one, so what is written stays readable.
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let link = with_link(&store).await;
    let (b, _) = store
        .begin_bundle(&new_bundle(link), &[order("m-1", kalshi("K"), arbytron_model::Side::Yes, "0.4")])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move { s.bundle(b).await.unwrap().is_some() }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
}

#[tokio::test]
async fn urls_of_other_databases_are_refused() {
    let err = Store::connect("mysql://root:secret@localhost/x").await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Url { .. }));
    assert!(!msg.contains("secret"), "password leaked: {msg}");
    assert!(msg.contains("postgres://"), "says what is accepted: {msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_schemas_have_the_same_tables_and_columns() {
    async fn columns(store: &Store) -> BTreeMap<String, Vec<String>> {
        let sql = match store.backend() {
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) AS t, CAST(column_name AS TEXT) AS c FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY t, c"
            }
            Backend::Sqlite => {
                "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' ORDER BY t, c"
            }
        };
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in sqlx::query(sql).fetch_all(store.pool()).await.unwrap() {
            out.entry(row.try_get("t").unwrap()).or_default().push(row.try_get("c").unwrap());
        }
        out
    }
    let (lite, pg) = (TestDb::sqlite().await, TestDb::postgres().await);
    let (lite_cols, pg_cols) = (columns(&lite.store().await).await, columns(&pg.store().await).await);
    assert_eq!(lite_cols.len(), 11, "{lite_cols:?}");
    assert_eq!(lite_cols, pg_cols);
}
