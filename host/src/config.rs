//! Settings, layered as users expect: built-in defaults < TOML file < a `.env`
//! file in the working directory < environment variables.
//!
//! The TOML is parsed into a value tree, environment overrides are applied to
//! that tree by dotted path (so an override is typed and validated exactly like
//! the file), and only then is it deserialised with unknown keys refused. Every
//! error names the setting and says why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variables and the setting each one overrides.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("DATABASE_URL", "store.url"),
    ("ARBYTRON_LOG_FORMAT", "service.log_format"),
    ("ARBYTRON_LOG", "service.log_level"),
    ("ARBYTRON_ADMIN_LISTEN", "admin.listen"),
    ("ARBYTRON_STRATEGIES_DIR", "strategies.dir"),
    ("ARBYTRON_MIN_PROFIT", "risk.min_profit"),
    ("ARBYTRON_MIN_SPREAD", "risk.min_spread"),
    ("ARBYTRON_MIN_APY", "risk.min_apy"),
    ("ARBYTRON_MAX_SLIPPAGE", "risk.max_slippage"),
    ("ARBYTRON_MAX_TRADE_CAPITAL", "risk.max_trade_capital"),
    ("ARBYTRON_MAX_EXPOSURE", "risk.max_exposure"),
    ("ARBYTRON_DAILY_LOSS_LIMIT", "risk.daily_loss_limit"),
    ("ARBYTRON_PAPER", "execution.paper"),
    ("ARBYTRON_SIM", "sim.enabled"),
    ("ARBYTRON_BUS", "bus.kind"),
    ("ARBYTRON_REDIS_URL", "bus.url"),
    ("ARBYTRON_KAFKA_BROKERS", "bus.bootstrap_servers"),
    ("KALSHI_API_KEY_ID", "venues.kalshi.key_id"),
    ("KALSHI_PRIVATE_KEY_PATH", "venues.kalshi.private_key_path"),
    ("KALSHI_REST_URL", "venues.kalshi.rest_url"),
    ("KALSHI_WS_URL", "venues.kalshi.ws_url"),
    ("POLYMARKET_PRIVATE_KEY_PATH", "venues.polymarket.private_key_path"),
    ("POLYMARKET_API_KEY", "venues.polymarket.api_key"),
    ("POLYMARKET_GAMMA_URL", "venues.polymarket.gamma_url"),
    ("POLYMARKET_CLOB_URL", "venues.polymarket.clob_url"),
    ("POLYMARKET_WS_URL", "venues.polymarket.ws_url"),
    ("AMM_RPC_URL", "venues.amm.rpc_url"),
    ("AMM_PRIVATE_KEY_PATH", "venues.amm.private_key_path"),
];

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("setting {setting} (from {origin}): {message}")]
    Invalid { setting: String, origin: String, message: String },
}

/// Where the effective settings came from, for error messages.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    /// Setting -> the variable (and whether from the environment or `.env`) that set it.
    pub overrides: BTreeMap<String, String>,
}

impl Sources {
    /// Where a setting came from: an env var, `.env`, the file, or the defaults.
    pub fn origin(&self, setting: &str) -> String {
        if let Some(o) = self.overrides.get(setting) {
            return o.clone();
        }
        match &self.file {
            Some(f) => format!("{} or the built-in default", f.display()),
            None => "the built-in default".into(),
        }
    }
}

/// Parse a `.env` file: `KEY=value` lines, `#` comments, optional `export `,
/// single or double quotes around values.
pub fn parse_dotenv(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line.split_once('=').ok_or_else(|| format!("line {}: expected KEY=value", n + 1))?;
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: bad variable name {k:?}", n + 1));
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v.split(" #").next().unwrap_or(v).trim()
        };
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Set `path` (dotted) in a TOML table to `raw`, typed like the value it
/// replaces (or inferred: bool, integer, else string).
fn set_path(root: &mut toml::Table, path: &str, raw: &str) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().ok_or("empty path")?;
    let mut table = root;
    for p in parts {
        let entry = table.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| format!("{p} is not a table"))?;
    }
    let value = match table.get(last) {
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(parse_bool(raw)?),
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| format!("expected an integer, got {raw:?}"))?)
        }
        Some(toml::Value::Array(_)) => {
            toml::Value::Array(raw.split(',').map(|s| toml::Value::String(s.trim().to_string())).collect())
        }
        _ => match raw.trim() {
            "true" | "false" => toml::Value::Boolean(raw.trim() == "true"),
            s => match s.parse::<i64>() {
                // Money settings are strings ("0.05"); keep digits-only values as strings too
                // unless the key is known to be an integer (handled above).
                Ok(_) => toml::Value::String(s.to_string()),
                Err(_) => toml::Value::String(s.to_string()),
            },
        },
    };
    table.insert(last.to_string(), value);
    Ok(())
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

/// Build the effective settings tree: `defaults` < `file` < `.env` < environment.
pub fn layered(
    defaults: &str,
    file: Option<&Path>,
    dotenv: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(toml::Table, Sources), ConfigError> {
    let mut sources = Sources::default();
    let mut root: toml::Table = defaults.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
        path: "built-in defaults".into(),
        message: e.to_string(),
    })?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let overlay: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        merge(&mut root, overlay);
        sources.file = Some(path.to_path_buf());
    }
    let dotenv_vars = match dotenv {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.into(), source })?;
            parse_dotenv(&text).map_err(|message| ConfigError::Parse { path: p.display().to_string(), message })?
        }
        _ => BTreeMap::new(),
    };
    for (var, setting) in ENV_OVERRIDES {
        let (raw, origin) = match env(var) {
            Some(v) => (v, format!("environment variable {var}")),
            None => match dotenv_vars.get(*var) {
                Some(v) => (v.clone(), format!("{var} in .env")),
                None => continue,
            },
        };
        set_path(&mut root, setting, &raw).map_err(|message| ConfigError::Invalid {
            setting: setting.to_string(),
            origin: origin.clone(),
            message,
        })?;
        sources.overrides.insert(setting.to_string(), origin);
    }
    Ok((root, sources))
}

/// Recursively overlay `top` onto `base`.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Deserialise a settings tree, turning serde's message into one that names the setting.
pub fn deserialize<T: for<'de> Deserialize<'de>>(root: toml::Table, sources: &Sources) -> Result<T, ConfigError> {
    let text = toml::to_string(&root)
        .map_err(|e| ConfigError::Parse { path: "effective settings".into(), message: e.to_string() })?;
    let de = toml::Deserializer::parse(&text)
        .map_err(|e| ConfigError::Parse { path: "effective settings".into(), message: e.to_string() })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let setting = e.path().to_string();
        ConfigError::Invalid {
            origin: sources.origin(&setting),
            message: e.inner().message().trim().to_string(),
            setting,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct T {
        risk: Risk,
    }
    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Risk {
        min_profit: arbytron_sdk::Money,
        max_open: u32,
        enabled: bool,
    }

    const DEFAULTS: &str = "[risk]\nmin_profit = \"0.01\"\nmax_open = 5\nenabled = true\n";

    #[test]
    fn layers_in_order_file_dotenv_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[risk]\nmin_profit = \"0.02\"\nmax_open = 7\n").unwrap();
        let dotenv = dir.path().join(".env");
        std::fs::write(&dotenv, "# comment\nexport ARBYTRON_MIN_PROFIT='0.03'\n").unwrap();
        let env = |k: &str| (k == "ARBYTRON_MIN_PROFIT").then(|| "0.04".to_string());
        let none = |_: &str| None;

        let (root, s) = layered(DEFAULTS, Some(&file), Some(&dotenv), &none).unwrap();
        let t: T = deserialize(root, &s).unwrap();
        assert_eq!(t.risk.min_profit, arbytron_sdk::Money::parse("0.03").unwrap(), ".env beats the file");
        assert_eq!(t.risk.max_open, 7, "the file beats the defaults");
        assert!(t.risk.enabled);

        let (root, s) = layered(DEFAULTS, Some(&file), Some(&dotenv), &env).unwrap();
        let t: T = deserialize(root, &s).unwrap();
        assert_eq!(t.risk.min_profit, arbytron_sdk::Money::parse("0.04").unwrap(), "the environment beats .env");
    }

    #[test]
    fn bad_values_name_the_setting_and_the_source() {
        let env = |k: &str| (k == "ARBYTRON_MIN_PROFIT").then(|| "lots".to_string());
        let (root, s) = layered(DEFAULTS, None, None, &env).unwrap();
        let err = deserialize::<T>(root, &s).unwrap_err().to_string();
        assert!(err.contains("risk.min_profit"), "{err}");
        assert!(err.contains("ARBYTRON_MIN_PROFIT"), "{err}");
        assert!(err.contains("not a decimal number"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[risk]\nmax_opne = 3\n").unwrap();
        let (root, s) = layered(DEFAULTS, Some(&file), None, &|_| None).unwrap();
        let err = deserialize::<T>(root, &s).unwrap_err().to_string();
        assert!(err.contains("max_opne"), "unknown keys are refused: {err}");

        std::fs::write(&file, "[risk\n").unwrap();
        assert!(matches!(layered(DEFAULTS, Some(&file), None, &|_| None), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn dotenv_syntax() {
        let v = parse_dotenv("A=1\nB=\"two words\"\nC=x # trailing\n\n#x\n").unwrap();
        assert_eq!(v["A"], "1");
        assert_eq!(v["B"], "two words");
        assert_eq!(v["C"], "x");
        assert!(parse_dotenv("novalue\n").is_err());
        assert!(parse_dotenv("BAD NAME=1\n").is_err());
    }
}
