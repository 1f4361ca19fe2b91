//! One fresh database per test, on each backend, removed afterwards.
//!
//! SQLite: a file in a temporary directory. PostgreSQL: `CREATE DATABASE
//! arbytron_test_<unique>` on the server named by `ARBYTRON_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped `WITH
//! (FORCE)` when the test ends, whether it passed or panicked.

use std::sync::atomic::{AtomicU64, Ordering};

use arbytron_model::venue::{Action, OrderRequest, TimeInForce};
use arbytron_model::{MarketKey, Money, Price, Qty, Side, Venue};
use arbytron_store::{Backend, LinkLeg, NewBundle, NewLink, Store};
use sqlx::Connection;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const START_PG: &str = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/// Run each named `async fn(TestDb)` once on SQLite and once on PostgreSQL,
/// as `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::common::TestDb::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name($crate::common::TestDb::postgres().await).await
            }
        }
    )+};
}

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgDatabase>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("arbytron.db").display());
        TestDb { url, backend: Backend::Sqlite, _dir: Some(dir), pg: None }
    }

    pub async fn postgres() -> TestDb {
        let admin = admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => panic!("PostgreSQL at {admin} is unreachable ({e}). Start it with: {START_PG}"),
        };
        let name = unique_name();
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin}: {e}"));
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).expect("ARBYTRON_TEST_PG_URL is a URL");
        url.set_path(&format!("/{name}"));
        TestDb { url: url.to_string(), backend: Backend::Postgres, _dir: None, pg: Some(PgDatabase { admin, name }) }
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.unwrap_or_else(|e| panic!("connect {}: {e}", self.url));
        assert_eq!(store.backend(), self.backend);
        store
    }

    /// Drop the PostgreSQL database now, under any live connections.
    pub fn drop_database(&mut self) {
        if let Some(pg) = self.pg.take() {
            pg.drop_now();
        }
    }
}

pub fn admin_url() -> String {
    std::env::var("ARBYTRON_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

fn unique_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!(
        "arbytron_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops its database when dropped (also while a failed test unwinds).
struct PgDatabase {
    admin: String,
    name: String,
}

impl PgDatabase {
    fn drop_now(&self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // do the async work on a thread with a runtime of its own.
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.map_err(|e| e.to_string())?;
                sqlx::Executor::execute(&mut conn, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}

// ---- fixtures ----

pub fn kalshi(symbol: &str) -> MarketKey {
    MarketKey::new(Venue::Kalshi, symbol)
}

pub fn poly(symbol: &str) -> MarketKey {
    MarketKey::new(Venue::PolymarketClob, symbol)
}

pub fn price(s: &str) -> Price {
    Price::parse(s).expect("test price")
}

pub fn money(s: &str) -> Money {
    Money::parse(s).expect("test money")
}

pub fn contracts(n: i64) -> Qty {
    Qty::from_contracts(n)
}

/// A two-venue binary link: YES on Kalshi + NO on Polymarket, and the reverse.
pub fn binary_link(source: &str, k: &str, p: &str) -> NewLink {
    NewLink {
        source: source.to_string(),
        outcomes: vec![
            vec![
                LinkLeg { venue: Venue::Kalshi, symbol: k.into(), side: Side::Yes },
                LinkLeg { venue: Venue::PolymarketClob, symbol: p.into(), side: Side::No },
            ],
            vec![
                LinkLeg { venue: Venue::Kalshi, symbol: k.into(), side: Side::No },
                LinkLeg { venue: Venue::PolymarketClob, symbol: p.into(), side: Side::Yes },
            ],
        ],
        confidence_ppm: 990_000,
        reasons: vec!["same question, same resolution source".into()],
    }
}

pub fn new_bundle(link_id: i64) -> NewBundle {
    NewBundle {
        strategy: "cross-venue-binary".into(),
        link_id,
        quantity: contracts(10),
        cost: money("9.41"),
        fees: money("0.17"),
        expected_payout: money("10"),
        opened_at: 1_782_907_200_000,
        resolves_at: 1_790_000_000_000,
        note: String::new(),
    }
}

pub fn order(coid: &str, market: MarketKey, side: Side, limit: &str) -> OrderRequest {
    OrderRequest {
        client_order_id: coid.to_string(),
        market,
        side,
        action: Action::Buy,
        quantity: contracts(10),
        limit_price: price(limit),
        time_in_force: TimeInForce::FillOrKill,
        amount: None,
    }
}

/// A store with one link in it; returns the link id.
pub async fn with_link(store: &Store) -> i64 {
    store.insert_link(&binary_link("config", "KXFED-26DEC-T4.00", "0xfed")).await.expect("insert link")
}

/// Count rows of a table directly, bypassing the API.
pub async fn count(store: &Store, table: &str) -> i64 {
    use sqlx::Row;
    let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}")).fetch_one(store.pool()).await.expect("count");
    row.try_get::<i64, _>("n").expect("count is an integer")
}
