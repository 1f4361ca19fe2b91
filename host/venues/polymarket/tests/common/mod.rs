//! Shared set-up for tests against the simulator over loopback.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use arbytron_integration::Secret;
use arbytron_model::venue::MarketFeed;
use arbytron_model::{MarketInfo, MarketUpdate};
use arbytron_polymarket::{
    AccountConfig, Config, PolymarketFeed, PolymarketVenue, Registry, SecretSource, SignatureType,
};
use arbytron_sim::polymarket::{self as sim, DEMO_PRIVATE_KEY, Handle, Options};
use tokio::sync::mpsc;

pub fn config(h: &Handle) -> Config {
    let mut cfg = Config::with_endpoints(&h.gamma_url(), &h.clob_url(), &h.ws_url());
    cfg.ping_interval = Duration::from_millis(200);
    cfg.silence_timeout = Duration::from_millis(1_500);
    cfg.reconnect = arbytron_integration::Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
    cfg.max_retry_after = Duration::from_secs(5);
    cfg
}

/// The demo account, credentials created with L1 auth against the simulator.
pub fn demo_account() -> AccountConfig {
    AccountConfig {
        private_key: SecretSource::Value(Secret::new(DEMO_PRIVATE_KEY)),
        signature_type: SignatureType::Eoa,
        funder: None,
        api_key: None,
        api_secret: None,
        api_passphrase: None,
        api_nonce: 0,
    }
}

pub fn fast_options(seed: u64) -> Options {
    let mut o = sim::demo_options(seed);
    o.confirm_delay_ms = 300;
    o
}

pub struct World {
    pub sim: Handle,
    pub cfg: Config,
    pub registry: Arc<Registry>,
    pub feed: PolymarketFeed,
    pub markets: Vec<MarketInfo>,
}

pub async fn world(opts: Options) -> World {
    let sim = sim::start(opts).await.expect("simulator starts on loopback");
    let mut cfg = config(&sim);
    cfg.account = Some(demo_account());
    let registry = Registry::new();
    let feed = PolymarketFeed::new(cfg.clone(), registry.clone()).expect("feed");
    let mut markets = feed.discover().await.expect("discover over Gamma");
    markets.sort_by(|a, b| a.title.cmp(&b.title));
    World { sim, cfg, registry, feed, markets }
}

impl World {
    pub async fn venue(&self) -> PolymarketVenue {
        PolymarketVenue::connect(self.cfg.clone(), self.registry.clone()).await.expect("venue connects (L1 auth)")
    }

    pub fn market(&self, title_part: &str) -> MarketInfo {
        self.markets.iter().find(|m| m.title.contains(title_part)).cloned().expect("market exists")
    }
}

/// Receive until `pred` matches, failing after a generous bound (not a timing assertion).
pub async fn recv_until<T>(rx: &mut mpsc::Receiver<T>, what: &str, mut pred: impl FnMut(&T) -> bool) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(x)) if pred(&x) => return x,
            Ok(Some(_)) => {}
            Ok(None) => panic!("channel closed while waiting for {what}"),
            Err(_) => panic!("gave up waiting for {what}"),
        }
    }
}

pub fn is_book(u: &MarketUpdate) -> bool {
    matches!(u, MarketUpdate::Book { .. })
}
