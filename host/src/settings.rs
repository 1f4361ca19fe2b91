//! The service's settings, as loaded by [`crate::config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        tracing_filter_ok(&self.service.log_level).map_err(|m| bad("service.log_level", m))?;
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
