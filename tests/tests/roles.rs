//! The two process roles over a real Redis and over a Kafka-protocol broker
//! (librdkafka's mock cluster, listening on TCP in this test process):
//! `arbytron ingest --bus ...` runs the venue feeds and publishes; `arbytron
//! run --bus ...` consumes, decides and trades. A dislocation seen only by the
//! ingest process is bought by the run process.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::time::Duration;

use arbytron::world::{self, cpi_markets};
use arbytron_sdk::Price;
use arbytron_store::{BundleStatus, Store};
use arbytron_tests::{Host, TestDb, example_strategies, free_port, host_config, wait_until};

fn redis_url() -> String {
    std::env::var("ARBYTRON_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_and_run_processes_trade_over_redis_streams() {
    arbytron_tests::init_logs();
    let url = redis_url();
    assert!(
        std::net::TcpStream::connect(url.trim_start_matches("redis://")).is_ok(),
        "Redis is not reachable at {url}: start it with\n  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no\n(or run the tests through scripts/test.sh)"
    );
    let stream = format!("arbytron-e2e-{:x}", rand::random::<u64>());
    let bus = format!("[bus]\nkind = \"redis\"\nurl = \"{url}\"\nstream = \"{stream}\"\ngroup = \"{stream}-engine\"\n");
    ingest_then_run_trade("redis", &bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_and_run_processes_trade_over_kafka() {
    arbytron_tests::init_logs();
    let mock = rdkafka::mocking::MockCluster::new(3).expect("mock cluster");
    let topic = format!("arbytron-e2e-{:x}", rand::random::<u64>());
    // The mock cluster does not implement CreateTopics: make the topic through
    // its own API; the bus finds it in the metadata.
    mock.create_topic(&topic, 4, 1).expect("mock topic");
    let bus = format!(
        "[bus]\nkind = \"kafka\"\nbootstrap_servers = \"{}\"\ntopic = \"{topic}\"\npartitions = 4\nreplication = 1\ngroup = \"{topic}-engine\"\nsession_timeout_ms = 6000\n",
        mock.bootstrap_servers()
    );
    ingest_then_run_trade("kafka", &bus).await;
    drop(mock);
}

/// Start `run` and `ingest` processes on `bus` (TOML) and see a dislocation
/// that only the ingest process watches get bought by the run process.
async fn ingest_then_run_trade(kind: &str, bus: &str) {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let w = world::start(11, "none", false).await.unwrap();
    let strategies = example_strategies(&dir.path().join("strategies"));
    let mappings = dir.path().join("mappings.toml");
    std::fs::write(&mappings, world::mappings_toml(&w.links)).unwrap();
    let (ingest_port, run_port) = (free_port(), free_port());
    let cache = dir.path().join("cache");
    let ingest_cfg = dir.path().join("ingest.toml");
    std::fs::write(&ingest_cfg, host_config(&w, ingest_port, &strategies, &cache, &mappings, &db.url, bus)).unwrap();
    let run_cfg = dir.path().join("run.toml");
    std::fs::write(&run_cfg, host_config(&w, run_port, &strategies, &cache, &mappings, &db.url, bus)).unwrap();

    let run = Host::spawn(&["run", "--bus", kind], &run_cfg, run_port);
    let ingest = Host::spawn(&["ingest", "--bus", kind], &ingest_cfg, ingest_port);
    wait_until("the run process sees books through the bus", Duration::from_secs(90), || async {
        run.updates().await >= 5
    })
    .await;
    assert_eq!(ingest.updates().await, 0, "the ingest process runs no engine");

    let store = Store::connect(&db.url).await.unwrap();
    let (_, cpi_poly) = cpi_markets();
    w.polymarket.as_ref().unwrap().set_fair(&cpi_poly.symbol, Price::parse("0.33").unwrap());
    wait_until("a bundle bought by the run process", Duration::from_secs(60), || async {
        store.open_bundles().await.unwrap_or_default().iter().any(|b| b.status == BundleStatus::Open)
    })
    .await;
    ingest.kill9();
    run.kill9();
    w.shutdown().await;
}
