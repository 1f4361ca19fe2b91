//! The store's hot write path: for each bundle, `begin_bundle` with two legs
//! (the intent written before anything is sent) and one `record_order_result`
//! per leg, as the execution does for every trade.
//!
//! Run: `cargo bench -p arbytron-store --bench store` (PostgreSQL at
//! `ARBYTRON_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`;
//! `ARBYTRON_BENCH_BUNDLES` bundles per case, default 2000). Reports latency
//! percentiles of the whole per-bundle sequence, one writer, and throughput with
//! one and eight concurrent writers.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::time::{Duration, Instant};

use arbytron_model::venue::{Action, OrderReport, OrderRequest, OrderStatus, TimeInForce};
use arbytron_model::{MarketKey, Money, Price, Qty, Side, Venue};
use arbytron_store::{LinkLeg, NewBundle, NewLink, Store, StoreOptions};
use hdrhistogram::Histogram;
use sqlx::Connection;

const START_PG: &str = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

fn main() {
    let n: usize = std::env::var("ARBYTRON_BENCH_BUNDLES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        println!(
            "| backend | writers | bundles | bundles/s | bundle p50 µs | bundle p99 µs | bundle max µs | begin_bundle p50 µs | record_order_result p50 µs |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let dir = tempfile::tempdir().expect("temp dir");
        for (label, full_sync) in [("sqlite (synchronous=FULL)", true), ("sqlite (synchronous=NORMAL)", false)] {
            let url = format!("sqlite://{}?mode=rwc", dir.path().join(format!("bench-{full_sync}.db")).display());
            let store =
                Store::connect_with(&url, StoreOptions { sqlite_full_sync: full_sync, ..StoreOptions::default() })
                    .await
                    .expect("sqlite store");
            run(label, &store, n).await;
        }
        let pg = PgBenchDb::create().await;
        let store = Store::connect(&pg.url).await.expect("postgres store");
        run("postgres", &store, n).await;
        store.close().await;
        pg.drop().await;
    });
}

async fn run(label: &str, store: &Store, n: usize) {
    let link = store.insert_link(&link()).await.expect("link");
    for writers in [1usize, 8] {
        let per = n / writers;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = store.clone();
            let label = label.to_string();
            tasks.push(tokio::spawn(async move {
                let mut h = Hists::new();
                for i in 0..per {
                    let t = Instant::now();
                    one_bundle(&store, link, &format!("{label}-{writers}-{w}-{i}"), &mut h).await;
                    h.bundle.record(micros(t)).expect("in range");
                }
                h
            }));
        }
        let mut h = Hists::new();
        for t in tasks {
            let part = t.await.expect("writer");
            h.bundle.add(part.bundle).expect("merge");
            h.begin.add(part.begin).expect("merge");
            h.result.add(part.result).expect("merge");
        }
        let elapsed = start.elapsed();
        let total = per * writers;
        println!(
            "| {label} | {writers} | {total} | {:.0} | {} | {} | {} | {} | {} |",
            total as f64 / elapsed.max(Duration::from_micros(1)).as_secs_f64(),
            h.bundle.value_at_quantile(0.50),
            h.bundle.value_at_quantile(0.99),
            h.bundle.max(),
            h.begin.value_at_quantile(0.50),
            h.result.value_at_quantile(0.50),
        );
    }
}

/// Microsecond latencies: the whole per-bundle sequence and its two steps.
struct Hists {
    bundle: Histogram<u64>,
    begin: Histogram<u64>,
    result: Histogram<u64>,
}

impl Hists {
    fn new() -> Hists {
        let h = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
        Hists { bundle: h(), begin: h(), result: h() }
    }
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros().clamp(1, 60_000_000) as u64
}

async fn one_bundle(store: &Store, link_id: i64, prefix: &str, h: &mut Hists) {
    let legs = [
        leg(format!("{prefix}-k"), MarketKey::new(Venue::Kalshi, "KXFED-26DEC-T4.00"), Side::Yes, 430_000),
        leg(format!("{prefix}-p"), MarketKey::new(Venue::PolymarketClob, "0xfed"), Side::No, 520_000),
    ];
    let bundle = NewBundle {
        strategy: "cross-venue-binary".into(),
        link_id,
        quantity: Qty::from_contracts(10),
        cost: Money::from_micros(9_500_000),
        fees: Money::from_micros(170_000),
        expected_payout: Money::from_dollars(10),
        opened_at: 1_782_907_200_000,
        resolves_at: 1_790_000_000_000,
        note: String::new(),
    };
    let t = Instant::now();
    store.begin_bundle(&bundle, &legs).await.expect("begin bundle");
    h.begin.record(micros(t)).expect("in range");
    for l in &legs {
        let report = OrderReport {
            client_order_id: l.client_order_id.clone(),
            venue_order_id: format!("v-{}", l.client_order_id),
            status: OrderStatus::Filled,
            filled: l.quantity,
            notional: l.quantity.value_at(l.limit_price, arbytron_sdk::Rounding::Up),
            fee: Money::from_micros(85_000),
        };
        let t = Instant::now();
        store.record_order_result(&l.client_order_id, &report).await.expect("order result");
        h.result.record(micros(t)).expect("in range");
    }
}

fn leg(coid: String, market: MarketKey, side: Side, price: i64) -> OrderRequest {
    OrderRequest {
        client_order_id: coid,
        market,
        side,
        action: Action::Buy,
        quantity: Qty::from_contracts(10),
        limit_price: Price::from_micros(price).expect("price"),
        time_in_force: TimeInForce::FillOrKill,
        amount: None,
    }
}

fn link() -> NewLink {
    let l = |venue, symbol: &str, side| LinkLeg { venue, symbol: symbol.into(), side };
    NewLink {
        source: "bench".into(),
        outcomes: vec![
            vec![l(Venue::Kalshi, "KXFED-26DEC-T4.00", Side::Yes), l(Venue::PolymarketClob, "0xfed", Side::No)],
            vec![l(Venue::Kalshi, "KXFED-26DEC-T4.00", Side::No), l(Venue::PolymarketClob, "0xfed", Side::Yes)],
        ],
        confidence_ppm: 1_000_000,
        reasons: vec![],
    }
}

struct PgBenchDb {
    admin: String,
    name: String,
    url: String,
}

impl PgBenchDb {
    async fn create() -> PgBenchDb {
        let admin = std::env::var("ARBYTRON_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is unreachable ({e}). Start it with: {START_PG}"));
        let name = format!("arbytron_bench_{}", std::process::id());
        sqlx::Executor::execute(&mut conn, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await
            .expect("drop old bench database");
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
        let mut url = url::Url::parse(&admin).expect("admin URL");
        url.set_path(&format!("/{name}"));
        PgBenchDb { admin, name, url: url.to_string() }
    }

    async fn drop(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::Executor::execute(
                &mut conn,
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str(),
            )
            .await;
        }
    }
}
