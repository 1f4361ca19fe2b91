//! Support for the end-to-end tests: isolated PostgreSQL databases, service
//! settings pointed at the simulators, and waiting for conditions.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test support: a panic is a failed test

pub mod harness;
pub mod pg;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arbytron::settings::Settings;
use arbytron::world::{KALSHI_DEMO_KEY_ID, World};
use arbytron_integration::Secret;
use arbytron_sim::polymarket::{DEMO_PRIVATE_KEY, demo_account};

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
    settings_with(dir, store_url, extra, false)
}

/// [`settings`], plus the local chain with the demo's AMM pool when `amm`.
pub fn settings_with(dir: &Path, store_url: &str, extra: &str, amm: bool) -> Settings {
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
amm = {amm}
[venues.amm]
enabled = {amm}
[engine]
reconcile_interval_ms = 2000
[store]
url = "{store_url}"
outbox_dir = "{}"
{extra}
"#,
        strategies.display(),
        dir.join("cache").display(),
        dir.join("outbox").display(),
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

/// The `arbytron` binary next to this test (built if it is not yet).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.ancestors().nth(2).unwrap().join("arbytron");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo).args(["build", "-p", "arbytron", "--bin", "arbytron"]).status().unwrap();
        assert!(ok.success(), "building the arbytron binary failed");
    }
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Host {
    child: Child,
    admin: String,
}

impl Host {
    /// `arbytron run --config CONFIG`.
    pub fn start(config: &std::path::Path, admin_port: u16) -> Host {
        Host::spawn(&["run"], config, admin_port)
    }

    /// `arbytron ARGS... --config CONFIG`, with the demo Polymarket credentials in its environment.
    pub fn spawn(args: &[&str], config: &std::path::Path, admin_port: u16) -> Host {
        let secret: &Secret = &demo_account().secret;
        let pass: &Secret = &demo_account().passphrase;
        let child = Command::new(binary())
            .args(args)
            .arg("--config")
            .arg(config)
            .env("E2E_POLY_KEY", DEMO_PRIVATE_KEY)
            .env("E2E_POLY_SECRET", secret.expose())
            .env("E2E_POLY_PASSPHRASE", pass.expose())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the host");
        Host { child, admin: format!("http://127.0.0.1:{admin_port}") }
    }

    /// `http://127.0.0.1:PORT` of its admin API.
    pub fn admin_url(&self) -> &str {
        &self.admin
    }

    /// POST to the admin API, waiting for it to listen: a restarted host
    /// recovers its state from the store and the venues before it serves.
    pub async fn post(&self, path: &str) -> reqwest::Response {
        let client = arbytron_integration::http::client(&Default::default()).unwrap();
        let start = Instant::now();
        loop {
            match client.post(format!("{}{path}", self.admin)).send().await {
                Ok(r) => return r,
                Err(e) if e.is_connect() && start.elapsed() < Duration::from_secs(60) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("POST {path} to the host's admin API: {e}"),
            }
        }
    }

    pub async fn updates(&self) -> u64 {
        match arbytron_integration::http::client(&Default::default())
            .unwrap()
            .get(format!("{}/status", self.admin))
            .send()
            .await
        {
            Ok(r) => {
                r.json::<serde_json::Value>().await.ok().and_then(|v| v["trading"]["updates"].as_u64()).unwrap_or(0)
            }
            Err(_) => 0,
        }
    }

    pub fn kill9(mut self) {
        // SIGKILL: no shutdown hooks, nothing flushed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Settings for an `arbytron` process pointed at simulators it does not run
/// itself (`custom` venues with the demo credentials), with `extra` TOML appended.
pub fn host_config(
    w: &World,
    admin_port: u16,
    strategies: &Path,
    cache: &Path,
    mappings: &Path,
    store: &str,
    extra: &str,
) -> String {
    let k = w.kalshi.as_ref().expect("kalshi simulator");
    let p = w.polymarket.as_ref().expect("polymarket simulator");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    format!(
        r#"
[service]
log_level = "warn,arbytron=info,arbytron_execution=info"
[admin]
listen = "127.0.0.1:{admin_port}"
[strategies]
dir = "{strategies}"
cache_dir = "{cache}"
[sim]
enabled = false
[venues.kalshi]
environment = "custom"
rest_url = "{krest}"
ws_url = "{kws}"
key_id = "{KALSHI_DEMO_KEY_ID}"
private_key_path = "{kkey}"
[venues.polymarket]
environment = "custom"
gamma_url = "{gamma}"
clob_url = "{clob}"
ws_url = "{pws}"
private_key_env = "E2E_POLY_KEY"
api_key = "{api_key}"
api_secret_env = "E2E_POLY_SECRET"
api_passphrase_env = "E2E_POLY_PASSPHRASE"
[venues.amm]
enabled = false
[engine]
mappings = "{mappings}"
reconcile_interval_ms = 1000
[execution]
paper = false
[store]
url = "{store}"
outbox_dir = "{outbox}"
{extra}
"#,
        strategies = strategies.display(),
        cache = cache.display(),
        // Beside the mappings: a restarted host finds what its predecessor left.
        outbox = mappings.with_file_name("outbox").display(),
        krest = k.rest_url(),
        kws = k.ws_url(),
        kkey = repo.join("config/demo/kalshi-sim.pem").display(),
        gamma = p.gamma_url(),
        clob = p.clob_url(),
        pws = p.ws_url(),
        api_key = demo_account().api_key,
        mappings = mappings.display(),
    )
}
