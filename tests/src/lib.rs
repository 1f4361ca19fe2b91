//! Support for the end-to-end tests: isolated PostgreSQL databases, service
//! settings pointed at the simulators, and waiting for conditions.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbytron::settings::Settings;

/// PostgreSQL for tests: `ARBYTRON_TEST_PG_URL` (set by scripts/test.sh), else the local server.
pub fn pg_admin_url() -> String {
    std::env::var("ARBYTRON_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test, dropped at the end (also on panic).
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        use sqlx::Executor;
        let admin = pg_admin_url();
        let name = format!("arbytron_e2e_{:016x}", rand::random::<u64>());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin}: {e}\nstart it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n(or run the tests through scripts/test.sh, which starts a throwaway one)"
            )
        });
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
        TestDb { url: format!("{base}/{name}"), name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (pg_admin_url(), self.name.clone());
        // A fresh runtime: Drop may run inside or outside one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                use sqlx::Executor;
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.ok()
            })
        })
        .join();
    }
}

/// Copy the example strategies (built by scripts/build-wasm.sh) into `dir`.
pub fn example_strategies(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for name in ["cross-venue-binary", "multi-outcome-bundle"] {
        std::fs::copy(arbytron_runtime::testing::module_path(name), dir.join(format!("{name}.wasm"))).unwrap();
    }
    dir.to_path_buf()
}

/// The embedded defaults, with a scenario of our own (none), a free admin
/// port, the given store and strategies, and `extra` TOML on top.
pub fn settings(dir: &Path, store_url: &str, extra: &str) -> Settings {
    let strategies = example_strategies(&dir.join("strategies"));
    let text = format!(
        r#"
[service]
log_level = "info,arbytron_kalshi=warn,arbytron_polymarket=warn,arbytron_sim=warn"
[admin]
listen = "127.0.0.1:0"
[strategies]
dir = "{}"
cache_dir = "{}"
[sim]
scenario = "none"
amm = false
[venues.amm]
enabled = false
[engine]
reconcile_interval_ms = 2000
[store]
url = "{store_url}"
{extra}
"#,
        strategies.display(),
        dir.join("cache").display(),
    );
    let file = dir.join("settings.toml");
    std::fs::write(&file, text).unwrap();
    Settings::load_with(Some(&file), None, &|_| None).expect("test settings load")
}

/// Poll `cond` until it holds; panic with `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn init_logs() {
    arbytron_telemetry::init_logging(
        arbytron_telemetry::LogFormat::Human,
        "warn,arbytron=info,arbytron_execution=info",
    );
}
