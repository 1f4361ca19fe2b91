//! Connector configuration: where the venue is, which markets, which account.

use std::time::Duration;

use alloy::primitives::Address;
pub use arbytron_integration::{Backoff, SecretSource};

use crate::error::PolyError;
use crate::signing::{ApiCreds, Exchanges, POLYGON, SignatureType};

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
    /// Reconnect delays after a failed or closed connection (silence and resyncs reconnect at once).
    pub reconnect: Backoff,
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
            reconnect: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
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

    use arbytron_integration::Secret;

    #[test]
    fn half_configured_credentials_are_refused() {
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
