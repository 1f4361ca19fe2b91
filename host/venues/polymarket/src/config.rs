//! Connector configuration: where the venue is, which markets, which account.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::Address;
use arbytron_telemetry::Secret;

use crate::error::PolyError;
use crate::signing::{ApiCreds, Exchanges, POLYGON, SignatureType};

/// Where a secret comes from. Secrets are never put in config files themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable's value.
    Env(String),
    /// A file's contents (trailing whitespace trimmed).
    File(PathBuf),
    /// Already in memory (tests, or a secret manager that handed it over).
    Value(Secret),
}

impl SecretSource {
    pub fn load(&self) -> Result<Secret, PolyError> {
        match self {
            SecretSource::Env(name) => std::env::var(name)
                .map(|v| Secret::new(v.trim().to_string()))
                .map_err(|_| PolyError::Config(format!("environment variable {name} is not set"))),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|v| Secret::new(v.trim().to_string()))
                .map_err(|e| PolyError::Config(format!("cannot read secret file {}: {e}", path.display()))),
            SecretSource::Value(s) => Ok(s.clone()),
        }
    }
}

/// Which markets `discover` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Gamma event slugs; every market of each event.
    pub event_slugs: Vec<String>,
    /// Individual markets by condition id.
    pub condition_ids: Vec<String>,
    /// Otherwise: active, open events with this tag (or all of them), paged.
    pub tag_id: Option<String>,
    /// Stop paging after this many events (0 = no limit).
    pub max_events: usize,
}

/// The account that trades.
#[derive(Clone, Debug)]
pub struct AccountConfig {
    pub private_key: SecretSource,
    pub signature_type: SignatureType,
    /// The proxy or Safe address holding the funds (types 1 and 2).
    pub funder: Option<Address>,
    /// Existing API credentials; when absent they are created or derived with L1 auth.
    pub api_key: Option<String>,
    pub api_secret: Option<SecretSource>,
    pub api_passphrase: Option<SecretSource>,
    /// L1 nonce: different nonces derive different credential sets.
    pub api_nonce: u64,
}

impl AccountConfig {
    /// Stored credentials, if all three parts are configured.
    pub fn stored_creds(&self) -> Result<Option<ApiCreds>, PolyError> {
        match (&self.api_key, &self.api_secret, &self.api_passphrase) {
            (Some(k), Some(s), Some(p)) => {
                Ok(Some(ApiCreds { api_key: k.clone(), secret: s.load()?, passphrase: p.load()? }))
            }
            (None, None, None) => Ok(None),
            _ => Err(PolyError::Config("api_key, api_secret and api_passphrase go together".into())),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub gamma_url: String,
    pub clob_url: String,
    /// The base under which `/ws/market` and `/ws/user` live.
    pub ws_url: String,
    pub chain_id: u64,
    pub exchanges: Exchanges,
    pub selection: Selection,
    /// Gamma page size.
    pub page_size: u32,
    /// The venue allows at most 500 assets per market-channel connection.
    pub assets_per_connection: usize,
    pub ping_interval: Duration,
    /// A subscribed connection that sends nothing (not even PONG) for this long is dead.
    pub silence_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Levels a side kept in published books.
    pub book_depth: usize,
    pub request_timeout: Duration,
    /// After an engine restart (HTTP 425) the venue accepts only post-only orders for this long.
    pub post_only_window: Duration,
    /// Longest we wait on a 425's Retry-After before giving up on the order.
    pub max_retry_after: Duration,
    pub account: Option<AccountConfig>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            gamma_url: "https://gamma-api.polymarket.com".into(),
            clob_url: "https://clob.polymarket.com".into(),
            ws_url: "wss://ws-subscriptions-clob.polymarket.com".into(),
            chain_id: POLYGON,
            exchanges: Exchanges::default(),
            selection: Selection::default(),
            page_size: 100,
            assets_per_connection: 500,
            ping_interval: Duration::from_secs(10),
            silence_timeout: Duration::from_secs(30),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            book_depth: 50,
            request_timeout: Duration::from_secs(10),
            post_only_window: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(30),
            account: None,
        }
    }
}

impl Config {
    /// Endpoints of a simulator (or any other deployment), everything else default.
    pub fn with_endpoints(gamma: &str, clob: &str, ws: &str) -> Config {
        Config {
            gamma_url: gamma.trim_end_matches('/').into(),
            clob_url: clob.trim_end_matches('/').into(),
            ws_url: ws.trim_end_matches('/').into(),
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_load_from_files_and_env_and_never_print() {
        let path = std::env::temp_dir().join(format!("arbytron-pm-secret-{}", std::process::id()));
        std::fs::write(&path, "0xabc\n").unwrap();
        let s = SecretSource::File(path.clone()).load().unwrap();
        assert_eq!(s.expose(), "0xabc");
        assert_eq!(format!("{s:?}"), "[redacted]");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(SecretSource::File(path).load(), Err(PolyError::Config(_))));
        let missing = SecretSource::Env("ARBYTRON_PM_SURELY_UNSET_VARIABLE".into()).load();
        assert!(matches!(missing, Err(PolyError::Config(m)) if m.contains("ARBYTRON_PM_SURELY_UNSET_VARIABLE")));
        let partial = AccountConfig {
            private_key: SecretSource::Value(Secret::new("k")),
            signature_type: SignatureType::Eoa,
            funder: None,
            api_key: Some("key".into()),
            api_secret: None,
            api_passphrase: None,
            api_nonce: 0,
        };
        assert!(partial.stored_creds().is_err(), "half-configured credentials are refused");
    }
}
