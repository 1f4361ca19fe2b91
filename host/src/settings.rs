//! The service's settings, as loaded by [`crate::config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arbytron_sdk::{Money, Price};
use serde::Deserialize;

use crate::config::{self, ConfigError};

/// The embedded defaults: the demo setup that `arbytron run` uses with no file.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub service: ServiceSettings,
    pub admin: AdminSettings,
    pub strategies: StrategySettings,
    pub sim: SimSettings,
    pub venues: VenueSettings,
    pub engine: EngineSettings,
    pub risk: arbytron_engine::RiskLimits,
    pub execution: ExecutionSettings,
    pub store: StoreSettings,
    #[serde(default)]
    pub bus: arbytron_bus::BusConfig,
}

/// `[sim]`: run the bundled venue simulators in this process and trade against
/// them (paper trading). Venues whose `environment` is `sim` connect to them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    pub enabled: bool,
    pub seed: u64,
    /// `demo` (the built-in script that moves prices to show the whole cycle),
    /// `none`, or a path to a scenario file (TOML or JSON, see docs).
    pub scenario: String,
    /// Also start a local EVM node (anvil, from `npm ci`) with an AMM pool.
    pub amm: bool,
    /// The simulators here start empty on every run, so an earlier run's open
    /// bundles can never reconcile with them. When set, an existing SQLite
    /// store file is moved aside (kept, renamed) before a run with them.
    #[serde(default = "default_true")]
    pub fresh_store: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSettings {
    pub kalshi: KalshiSettings,
    pub polymarket: PolymarketSettings,
    pub amm: AmmSettings,
}

/// `[venues.kalshi]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KalshiSettings {
    pub enabled: bool,
    /// `sim`, `demo`, `production` or `custom` (then `rest_url` and `ws_url`).
    pub environment: String,
    #[serde(default)]
    pub rest_url: String,
    #[serde(default)]
    pub ws_url: String,
    /// API key id.
    #[serde(default)]
    pub key_id: String,
    /// PEM file of the RSA private key (never logged).
    #[serde(default)]
    pub private_key_path: Option<PathBuf>,
    /// Rate-limit tier: basic, advanced, expert, premier, paragon, prime, prestige.
    pub tier: String,
    /// Discovery filters: only these series / events (empty: all open ones).
    #[serde(default)]
    pub series: Vec<String>,
    #[serde(default)]
    pub events: Vec<String>,
    pub book_depth: usize,
}

/// `[venues.polymarket]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolymarketSettings {
    pub enabled: bool,
    /// `sim`, `production` or `custom` (then the three URLs).
    pub environment: String,
    #[serde(default)]
    pub gamma_url: String,
    #[serde(default)]
    pub clob_url: String,
    #[serde(default)]
    pub ws_url: String,
    pub chain_id: u64,
    /// The trading key: a file, or the name of an environment variable holding it.
    #[serde(default)]
    pub private_key_path: Option<PathBuf>,
    #[serde(default)]
    pub private_key_env: Option<String>,
    /// 0 = EOA, 1 = proxy, 2 = Safe.
    pub signature_type: u8,
    /// The Safe or proxy holding the funds (types 1 and 2).
    #[serde(default)]
    pub funder: Option<String>,
    /// Stored API credentials (else created or derived with the key).
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_secret_env: Option<String>,
    #[serde(default)]
    pub api_passphrase_env: Option<String>,
    #[serde(default)]
    pub event_slugs: Vec<String>,
    pub book_depth: usize,
}

/// `[venues.amm]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmmSettings {
    pub enabled: bool,
    /// `sim` (the local anvil of `[sim]`) or `custom` (then `rpc_url` and `pools`).
    pub environment: String,
    #[serde(default)]
    pub rpc_url: String,
    #[serde(default)]
    pub private_key_path: Option<PathBuf>,
    /// Pool contract addresses to follow.
    #[serde(default)]
    pub pools: Vec<String>,
    pub poll_ms: u64,
    pub confirmations: u64,
    /// Dollar price of the chain's native token, to count gas in dollars.
    pub native_price: arbytron_sdk::Money,
    /// Gas cost assumed per swap when pricing a pool leg.
    pub gas_estimate: arbytron_sdk::Money,
}

/// `[engine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Book levels per leg passed to strategies.
    pub depth: usize,
    /// Human-curated links (`[[link]]` tables); optional.
    #[serde(default)]
    pub mappings: Option<PathBuf>,
    /// Links a matching strategy proposes with at least this confidence go
    /// live at once; the rest wait in the store for approval.
    pub auto_approve_ppm: u32,
    /// How often a standing rejection is recorded again.
    pub reject_record_interval_ms: i64,
    /// Positions are compared with the venues' this often.
    pub reconcile_interval_ms: u64,
    /// PnL snapshots are written this often.
    pub pnl_snapshot_interval_ms: u64,
}

/// `[execution]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionSettings {
    /// Trade against the simulators only; refuse to start with a real venue.
    pub paper: bool,
    #[serde(flatten)]
    pub exec: arbytron_execution::ExecConfig,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://PATH?mode=rwc` (embedded default) or `postgres://...` (production).
    pub url: String,
    /// Where money records wait (fsync'd) while the database is away; must
    /// be on a local disk that survives restarts, one per host.
    #[serde(default = "default_outbox_dir")]
    pub outbox_dir: PathBuf,
}

fn default_outbox_dir() -> PathBuf {
    PathBuf::from("data/outbox")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// `json` (default) or `human`.
    pub log_format: LogFormat,
    /// `RUST_LOG` syntax, e.g. `info,arbytron_kalshi=debug`.
    pub log_level: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Human,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Metrics (`/metrics`), status and the kill switch. Loopback by default:
    /// the admin API has no authentication of its own.
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySettings {
    /// Folder of `*.wasm` strategies, relative to the working directory.
    pub dir: PathBuf,
    /// Reload when a module in `dir` is added, replaced or removed.
    pub watch: bool,
    pub debounce_ms: u64,
    /// Compiled-module cache; empty string disables it.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    pub memory_limit_mib: u32,
    pub score_deadline_ms: u64,
    pub exit_deadline_ms: u64,
    pub slow_deadline_ms: u64,
    /// Compile new modules on every core: reloads finish sooner (a 68 KB
    /// module: p95 125 ms instead of 157 ms here) but the compile competes
    /// with the threads pricing updates while it runs.
    #[serde(default)]
    pub parallel_compilation: bool,
    /// `[strategies.params.<name>]`: handed to that strategy's `init`.
    #[serde(default)]
    pub params: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

impl StrategySettings {
    pub fn runtime_config(&self) -> arbytron_runtime::RuntimeConfig {
        let cache_dir = match &self.cache_dir {
            Some(p) if p.as_os_str().is_empty() => None,
            Some(p) => Some(p.clone()),
            None => arbytron_runtime::default_cache_dir(),
        };
        arbytron_runtime::RuntimeConfig {
            memory_limit_bytes: (self.memory_limit_mib as usize) << 20,
            score_deadline: Duration::from_millis(self.score_deadline_ms),
            exit_deadline: Duration::from_millis(self.exit_deadline_ms),
            slow_deadline: Duration::from_millis(self.slow_deadline_ms),
            cache_dir,
            parallel_compilation: self.parallel_compilation,
            ..arbytron_runtime::RuntimeConfig::default()
        }
    }

    /// A strategy's parameters as the strings `init` receives.
    pub fn params_for(&self, name: &str) -> arbytron_sdk::Params {
        let table = self.params.get(name);
        arbytron_sdk::Params(
            table
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| {
                            let s = match v {
                                toml::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            (k.clone(), s)
                        })
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
}

impl Settings {
    /// Load with the standard layering: defaults < `file` < `./.env` < environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with(file, Some(Path::new(".env")), &|k| std::env::var(k).ok())
    }

    pub fn load_with(
        file: Option<&Path>,
        dotenv: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let (root, sources) = config::layered(DEFAULT_TOML, file, dotenv, env)?;
        let s: Settings = config::deserialize(root, &sources)?;
        s.validate(&sources)?;
        Ok(s)
    }

    /// Limits must be non-negative (a negative one would silently disable or
    /// invert a check), fractions at most 1, times positive.
    fn validate_risk(&self) -> Result<(), (&'static str, String)> {
        let r = &self.risk;
        for (k, v) in [
            ("risk.min_profit", r.min_profit),
            ("risk.min_apy", r.min_apy),
            ("risk.max_trade_capital", r.max_trade_capital),
            ("risk.max_venue_exposure", r.max_venue_exposure),
            ("risk.max_event_exposure", r.max_event_exposure),
            ("risk.max_exposure", r.max_exposure),
            ("risk.daily_loss_limit", r.daily_loss_limit),
        ] {
            if v.is_negative() {
                return Err((k, format!("{v} is negative")));
            }
        }
        if r.max_slippage.is_negative() || r.max_slippage > Money::from_dollars(1) {
            return Err((
                "risk.max_slippage",
                format!("{} is outside 0..=1 (a fraction of the price)", r.max_slippage),
            ));
        }
        if r.min_spread >= Price::ONE {
            return Err(("risk.min_spread", format!("{} is not below $1 per contract", r.min_spread)));
        }
        for (k, v) in [
            ("risk.max_book_age_ms", r.max_book_age_ms),
            ("risk.breaker_window_ms", r.breaker_window_ms),
            ("risk.breaker_cooldown_ms", r.breaker_cooldown_ms),
        ] {
            if v <= 0 {
                return Err((k, format!("{v} must be positive")));
            }
        }
        Ok(())
    }

    fn validate(&self, sources: &config::Sources) -> Result<(), ConfigError> {
        let bad = |setting: &str, message: String| ConfigError::Invalid {
            setting: setting.into(),
            origin: sources.origin(setting),
            message,
        };
        let st = &self.strategies;
        if !(1..=4096).contains(&st.memory_limit_mib) {
            return Err(bad("strategies.memory_limit_mib", format!("{} is outside 1..=4096", st.memory_limit_mib)));
        }
        for (k, v) in [
            ("strategies.score_deadline_ms", st.score_deadline_ms),
            ("strategies.exit_deadline_ms", st.exit_deadline_ms),
            ("strategies.slow_deadline_ms", st.slow_deadline_ms),
        ] {
            if !(1..=60_000).contains(&v) {
                return Err(bad(k, format!("{v} is outside 1..=60000 ms")));
            }
        }
        self.validate_risk().map_err(|(setting, message)| bad(setting, message))?;
        tracing_filter_ok(&self.service.log_level).map_err(|m| bad("service.log_level", m))?;
        self.bus.validate().map_err(|e| bad("bus", e.to_string()))?;
        if arbytron_store::Backend::from_url(&self.store.url).is_none() {
            return Err(bad("store.url", format!("{:?}: expected sqlite://... or postgres://...", self.store.url)));
        }
        let k = &self.venues.kalshi;
        if k.enabled {
            match k.environment.as_str() {
                "sim" | "demo" | "production" => {}
                "custom" if !k.rest_url.is_empty() && !k.ws_url.is_empty() => {}
                "custom" => {
                    return Err(bad("venues.kalshi.rest_url", "custom environment needs rest_url and ws_url".into()));
                }
                other => {
                    return Err(bad(
                        "venues.kalshi.environment",
                        format!("{other:?} is not sim, demo, production or custom"),
                    ));
                }
            }
            if k.environment != "sim" && (k.key_id.is_empty() || k.private_key_path.is_none()) {
                return Err(bad(
                    "venues.kalshi.key_id",
                    "a real venue needs key_id and private_key_path (KALSHI_API_KEY_ID, KALSHI_PRIVATE_KEY_PATH)"
                        .into(),
                ));
            }
        }
        let p = &self.venues.polymarket;
        if p.enabled {
            match p.environment.as_str() {
                "sim" | "production" => {}
                "custom" if !p.gamma_url.is_empty() && !p.clob_url.is_empty() && !p.ws_url.is_empty() => {}
                "custom" => {
                    return Err(bad(
                        "venues.polymarket.clob_url",
                        "custom environment needs gamma_url, clob_url and ws_url".into(),
                    ));
                }
                other => {
                    return Err(bad(
                        "venues.polymarket.environment",
                        format!("{other:?} is not sim, production or custom"),
                    ));
                }
            }
            if p.environment != "sim" && p.private_key_path.is_none() && p.private_key_env.is_none() {
                return Err(bad(
                    "venues.polymarket.private_key_path",
                    "a real venue needs private_key_path or private_key_env".into(),
                ));
            }
            if ![0, 1, 2].contains(&p.signature_type) {
                return Err(bad(
                    "venues.polymarket.signature_type",
                    format!("{} is not 0 (EOA), 1 (proxy) or 2 (Safe)", p.signature_type),
                ));
            }
        }
        let a = &self.venues.amm;
        if a.enabled {
            match a.environment.as_str() {
                "sim" if !self.sim.amm => {
                    return Err(bad("venues.amm.environment", "sim needs [sim] amm = true".into()));
                }
                "sim" => {}
                "custom" if !a.rpc_url.is_empty() && a.private_key_path.is_some() => {}
                "custom" => {
                    return Err(bad(
                        "venues.amm.rpc_url",
                        "custom environment needs rpc_url and private_key_path".into(),
                    ));
                }
                other => return Err(bad("venues.amm.environment", format!("{other:?} is not sim or custom"))),
            }
        }
        let real = (k.enabled && k.environment != "sim")
            || (p.enabled && p.environment != "sim")
            || (a.enabled && a.environment != "sim");
        if self.execution.paper && real {
            return Err(bad(
                "execution.paper",
                "paper mode trades against the simulators only, but a venue points at a real environment".into(),
            ));
        }
        let uses_sim = (k.enabled && k.environment == "sim")
            || (p.enabled && p.environment == "sim")
            || (a.enabled && a.environment == "sim");
        if uses_sim && !self.sim.enabled {
            return Err(bad("sim.enabled", "a venue has environment = \"sim\" but [sim] is disabled".into()));
        }
        if self.engine.depth == 0 || self.engine.depth > 100 {
            return Err(bad("engine.depth", format!("{} is outside 1..=100", self.engine.depth)));
        }
        Ok(())
    }
}

fn tracing_filter_ok(filter: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(filter).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_load() {
        let s = Settings::load_with(None, None, &|_| None).unwrap();
        assert_eq!(s.admin.listen.to_string(), "127.0.0.1:9464");
        assert_eq!(s.strategies.memory_limit_mib, 64);
        assert_eq!(s.strategies.score_deadline_ms, 5);
        assert!(!s.strategies.runtime_config().parallel_compilation, "the hot path keeps its cores by default");
    }

    #[test]
    fn runtime_settings_reach_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.toml");
        std::fs::write(&path, "[strategies]\nparallel_compilation = true\nscore_deadline_ms = 7\n").unwrap();
        let s = Settings::load_with(Some(&path), None, &|_| None).unwrap();
        let rt = s.strategies.runtime_config();
        assert!(rt.parallel_compilation);
        assert_eq!(rt.score_deadline, Duration::from_millis(7));
    }

    #[test]
    fn bad_values_fail_with_the_setting_name() {
        let env = |k: &str| (k == "ARBYTRON_ADMIN_LISTEN").then(|| "not an address".to_string());
        let err = Settings::load_with(None, None, &env).unwrap_err().to_string();
        assert!(err.contains("admin.listen") && err.contains("ARBYTRON_ADMIN_LISTEN"), "{err}");
        let env = |k: &str| (k == "ARBYTRON_LOG").then(|| "info,[[[".to_string());
        let err = Settings::load_with(None, None, &env).unwrap_err().to_string();
        assert!(err.contains("service.log_level"), "{err}");
    }

    #[test]
    fn risk_limits_come_from_the_environment_and_bad_ones_are_refused() {
        let env = |k: &str| match k {
            "ARBYTRON_MIN_SPREAD" => Some("0.02".to_string()),
            "ARBYTRON_MIN_APY" => Some("0.15".to_string()),
            "ARBYTRON_MAX_SLIPPAGE" => Some("0.01".to_string()),
            "DATABASE_URL" => Some("postgres://u@db/arbytron".to_string()),
            _ => None,
        };
        let s = Settings::load_with(None, None, &env).unwrap();
        assert_eq!(s.risk.min_spread, Price::parse("0.02").unwrap());
        assert_eq!(s.risk.min_apy, Money::parse("0.15").unwrap());
        assert_eq!(s.risk.max_slippage, Money::parse("0.01").unwrap());
        assert_eq!(s.store.url, "postgres://u@db/arbytron");
        for (var, value, setting) in [
            ("ARBYTRON_MAX_SLIPPAGE", "-0.01", "risk.max_slippage"),
            ("ARBYTRON_MAX_SLIPPAGE", "1.5", "risk.max_slippage"),
            ("ARBYTRON_DAILY_LOSS_LIMIT", "-100", "risk.daily_loss_limit"),
            ("ARBYTRON_MIN_SPREAD", "1", "risk.min_spread"),
        ] {
            let env = |k: &str| (k == var).then(|| value.to_string());
            let err = Settings::load_with(None, None, &env).unwrap_err().to_string();
            assert!(err.contains(setting) && err.contains(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn the_production_example_loads_with_keys_from_the_environment() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/production.example.toml");
        let env = |k: &str| match k {
            "KALSHI_API_KEY_ID" => Some("key-id".to_string()),
            "KALSHI_PRIVATE_KEY_PATH" => Some("/run/secrets/kalshi.pem".to_string()),
            "POLYMARKET_PRIVATE_KEY_PATH" => Some("/run/secrets/polygon.key".to_string()),
            "DATABASE_URL" => Some("postgres://u@db/arbytron".to_string()),
            _ => None,
        };
        let s = Settings::load_with(Some(&path), None, &env).unwrap();
        assert!(!s.execution.paper && !s.sim.enabled);
        assert_eq!(s.store.url, "postgres://u@db/arbytron");
        assert_eq!(s.venues.kalshi.key_id, "key-id");
        // Without the keys it refuses to start, naming what is missing.
        let err = Settings::load_with(Some(&path), None, &|_| None).unwrap_err().to_string();
        assert!(err.contains("venues.kalshi.key_id") && err.contains("KALSHI_API_KEY_ID"), "{err}");
        let mappings =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/mappings.example.toml"))
                .unwrap();
        assert_eq!(arbytron_engine::parse_mappings(&mappings).unwrap().len(), 1);
    }

    #[test]
    fn paper_mode_refuses_real_venues() {
        let env = |k: &str| match k {
            "KALSHI_API_KEY_ID" => Some("k".to_string()),
            "KALSHI_PRIVATE_KEY_PATH" => Some("/k.pem".to_string()),
            _ => None,
        };
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[venues.kalshi]\nenvironment = \"production\"\n").unwrap();
        let err = Settings::load_with(Some(&f), None, &env).unwrap_err().to_string();
        assert!(err.contains("execution.paper"), "{err}");
    }

    #[test]
    fn params_become_strings() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[strategies.params.x]\nmin_profit = \"0.05\"\nlevels = 10\nstrict = true\n").unwrap();
        let s = Settings::load_with(Some(&f), None, &|_| None).unwrap();
        let p = s.strategies.params_for("x");
        assert_eq!(p.get("min_profit"), Some("0.05"));
        assert_eq!(p.get("levels"), Some("10"));
        assert_eq!(p.get("strict"), Some("true"));
        assert!(s.strategies.params_for("y").0.is_empty());
    }
}
