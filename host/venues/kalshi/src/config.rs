//! Connector configuration: where Kalshi is, who we are, and how hard we may push.

use std::time::Duration;

pub use arbytron_integration::{Backoff, SecretSource};

use crate::ratelimit::RateLimits;

/// Which Kalshi to talk to. Demo and production keys are not interchangeable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Environment {
    Production,
    Demo,
    /// Anything else (the simulator, a proxy): full REST base (ending in `/trade-api/v2`) and WS URL.
    Custom {
        rest: String,
        ws: String,
    },
}

impl Environment {
    /// REST base URL and WebSocket URL; the recommended `external-api` hosts for the real venues.
    pub fn urls(&self) -> (String, String) {
        match self {
            Environment::Production => (
                "https://external-api.kalshi.com/trade-api/v2".into(),
                "wss://external-api-ws.kalshi.com/trade-api/ws/v2".into(),
            ),
            Environment::Demo => (
                "https://external-api.demo.kalshi.co/trade-api/v2".into(),
                "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2".into(),
            ),
            Environment::Custom { rest, ws } => (rest.trim_end_matches('/').to_string(), ws.clone()),
        }
    }
}

/// Which markets `discover` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// Only these series (empty: all).
    pub series: Vec<String>,
    /// Only these events (empty: all events of the selected series).
    pub events: Vec<String>,
    /// `GET /events` / `GET /markets` status filter (`open`, `unopened`, ...); `None` for any.
    pub status: Option<String>,
    /// Page size for cursor paging (events max 200, markets max 1000).
    pub page_limit: u32,
}

impl Default for Discovery {
    fn default() -> Discovery {
        Discovery { series: Vec::new(), events: Vec::new(), status: Some("open".into()), page_limit: 200 }
    }
}

/// Everything the connector needs.
#[derive(Clone, Debug)]
pub struct KalshiConfig {
    pub environment: Environment,
    /// API key id (`KALSHI-ACCESS-KEY`).
    pub key_id: String,
    /// The RSA private key's PEM (PKCS#1 or PKCS#8), from a file, a variable or memory.
    pub private_key: SecretSource,
    /// Token-bucket budgets (the account's usage tier).
    pub limits: RateLimits,
    /// 429 retries before a request fails with `RateLimited`.
    pub max_rate_limit_retries: u32,
    /// Backoff after a 429 (Kalshi sends no Retry-After).
    pub rate_limit_backoff: Backoff,
    /// Timeout for one REST round trip.
    pub request_timeout: Duration,
    pub discovery: Discovery,
    /// Levels per side published in each `MarketUpdate::Book`.
    pub book_depth: usize,
    /// A book with no update for this long is marked stale and re-snapshotted.
    pub stale_after: Duration,
    /// No frame at all (Kalshi pings every 10 s) for this long means a dead connection.
    pub silence_timeout: Duration,
    /// Ask Kalshi to price the NO side of deltas in YES terms. Kalshi will flip the
    /// default and later drop the flag, so it is always sent explicitly.
    pub use_yes_price: bool,
    pub reconnect: Backoff,
    /// After a fill, read the order back for exact cost and fee totals (one read
    /// request) instead of deriving them from per-contract averages.
    pub exact_fill_totals: bool,
    /// `taker_at_cross` (default) or `maker`.
    pub self_trade_prevention: String,
}

impl KalshiConfig {
    pub fn new(environment: Environment, key_id: impl Into<String>, private_key: SecretSource) -> KalshiConfig {
        KalshiConfig {
            environment,
            key_id: key_id.into(),
            private_key,
            limits: RateLimits::basic(),
            max_rate_limit_retries: 8,
            rate_limit_backoff: Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(5) },
            request_timeout: Duration::from_secs(10),
            discovery: Discovery::default(),
            book_depth: 10,
            stale_after: Duration::from_secs(60),
            silence_timeout: Duration::from_secs(30),
            use_yes_price: false,
            reconnect: Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(30) },
            exact_fill_totals: true,
            self_trade_prevention: "taker_at_cross".into(),
        }
    }
}
