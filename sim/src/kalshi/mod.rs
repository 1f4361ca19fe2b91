//! Simulated Kalshi Trade API v2 (REST + WebSocket).
//!
//! Serves the real paths and JSON shapes (dollar-string prices, fixed-point
//! counts, V2 order entry, Kalshi's error bodies) on loopback, verifies
//! RSA-PSS signatures, matches orders price-time on a YES book per market
//! with makers quoting around a scriptable fair value, charges Kalshi's fee
//! formula, and injects scripted faults. Deterministic for a given seed:
//! ids, makers and random activity come from one seeded ChaCha RNG and
//! matching never looks at the clock.

pub mod auth;
mod exchange;
mod fmt;
mod rest;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arbytron_sdk::{Money, Price, Qty};
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::Endpoint;
use crate::maker::MakerConfig;
use crate::scenario::{Action, Fault, Scenario, SettleResult, SimVenue};
use crate::server::Servers;

pub use exchange::ApiError;

/// One simulated market (with its event and series).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketSpec {
    pub series: String,
    pub event: String,
    pub ticker: String,
    /// The event's title.
    pub title: String,
    /// `yes_sub_title`: the outcome this market is about.
    pub outcome: String,
    pub rules: String,
    pub fair: Price,
    /// Unix ms.
    pub close_time: i64,
    pub mutually_exclusive: bool,
    /// `quadratic`, `quadratic_with_maker_fees`, `flat`.
    pub fee_type: String,
    /// Decimal string, e.g. `"1"`, `"0.5"`.
    pub fee_multiplier: String,
    /// `linear_cent`, `tapered_deci_cent`, `deci_cent`.
    pub price_level_structure: String,
    /// Fractional (0.01) contracts accepted.
    pub fractional: bool,
    /// Market status; empty means `active`.
    pub status: String,
}

impl MarketSpec {
    /// A plain one-cent-tick binary market with Kalshi's default fee schedule.
    pub fn simple(series: &str, event: &str, ticker: &str, fair: Price) -> MarketSpec {
        MarketSpec {
            series: series.into(),
            event: event.into(),
            ticker: ticker.into(),
            title: format!("{event}?"),
            outcome: ticker.rsplit('-').next().unwrap_or(ticker).to_string(),
            rules: format!("If {ticker} happens, the market resolves to Yes."),
            fair,
            close_time: 1_893_456_000_000, // 2030-01-01
            mutually_exclusive: false,
            fee_type: "quadratic".into(),
            fee_multiplier: "1".into(),
            price_level_structure: "linear_cent".into(),
            fractional: false,
            status: String::new(),
        }
    }
}

/// Token-bucket budgets the simulator enforces per API key (429 when exceeded).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RateBudget {
    pub read_per_s: u32,
    pub read_capacity: u32,
    pub write_per_s: u32,
    pub write_capacity: u32,
}

impl RateBudget {
    /// Kalshi Basic: 200 read / 100 write tokens per second; 2 s / 1 s of burst.
    pub const BASIC: RateBudget =
        RateBudget { read_per_s: 200, read_capacity: 400, write_per_s: 100, write_capacity: 100 };
}

#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// 0 = ephemeral.
    pub rest_port: u16,
    pub ws_port: u16,
    pub markets: Vec<MarketSpec>,
    pub makers: MakerConfig,
    /// (key id, public key PEM).
    pub api_keys: Vec<(String, String)>,
    /// (key id, starting cash).
    pub accounts: Vec<(String, Money)>,
    /// Enforced per key; `None` = unlimited.
    pub rate_limits: Option<RateBudget>,
    /// Largest accepted difference between a request's timestamp and our clock.
    pub max_skew_ms: i64,
    /// How often WebSocket pings go out (Kalshi: 10 s).
    pub ping_interval: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 0,
            rest_port: 0,
            ws_port: 0,
            markets: Vec::new(),
            makers: MakerConfig::default(),
            api_keys: Vec::new(),
            accounts: Vec::new(),
            rate_limits: Some(RateBudget::BASIC),
            max_skew_ms: 30_000,
            ping_interval: Duration::from_secs(10),
        }
    }
}

/// A sensible demo: a Fed decision event (mutually exclusive outcomes), a CPI
/// threshold market, and a sports game on a half-fee series with maker fees.
pub fn demo_options(seed: u64) -> Options {
    let p = |s: &str| Price::parse(s).unwrap_or(Price::from_micros_const(500_000));
    let mut markets = Vec::new();
    for (suffix, fair, outcome) in [("H0", "0.62", "Hold"), ("C25", "0.30", "Cut 25bp"), ("C50", "0.05", "Cut 50bp")] {
        let mut m = MarketSpec::simple(
            "KXFEDDECISION",
            "KXFEDDECISION-26DEC",
            &format!("KXFEDDECISION-26DEC-{suffix}"),
            p(fair),
        );
        m.title = "Fed decision in December 2026?".into();
        m.outcome = outcome.into();
        m.mutually_exclusive = true;
        m.fee_type = "quadratic_with_maker_fees".into();
        markets.push(m);
    }
    let mut cpi = MarketSpec::simple("KXCPI", "KXCPI-26NOV", "KXCPI-26NOV-T0.3", p("0.45"));
    cpi.title = "CPI in November 2026?".into();
    cpi.outcome = "Above 0.3%".into();
    markets.push(cpi);
    let mut game = MarketSpec::simple("KXMLBGAME", "KXMLBGAME-26SEP01NYYBOS", "KXMLBGAME-26SEP01NYYBOS-NYY", p("0.55"));
    game.title = "Yankees vs Red Sox".into();
    game.outcome = "Yankees".into();
    game.fee_multiplier = "0.5".into();
    game.price_level_structure = "tapered_deci_cent".into();
    game.fractional = true;
    markets.push(game);
    Options { seed, markets, ..Options::default() }
}

/// One REST request as the simulator saw it (for rate-budget checks in tests).
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub at: tokio::time::Instant,
    pub key_id: Option<String>,
    pub method: String,
    pub path: String,
    pub write: bool,
    pub cost: u32,
    /// 429 because the key's budget was exceeded (not a scripted burst).
    pub over_budget: bool,
    pub injected_429: bool,
}

pub(crate) struct Inner {
    pub ex: Mutex<exchange::Exchange>,
    pub keys: auth::KeyStore,
    pub tx: broadcast::Sender<Arc<exchange::Event>>,
    pub opts: Options,
    pub requests: Mutex<Vec<RequestRecord>>,
    pub buckets: Mutex<std::collections::HashMap<(String, bool), rest::Bucket>>,
}

/// A running simulator.
pub struct Handle {
    inner: Arc<Inner>,
    rest_addr: SocketAddr,
    ws_addr: SocketAddr,
    servers: Servers,
}

/// Serve REST and WebSocket on 127.0.0.1 (separate ports, as the real hosts are separate).
pub async fn start(opts: Options) -> anyhow::Result<Handle> {
    let keys = auth::KeyStore::new(&opts.api_keys, opts.max_skew_ms)?;
    let (tx, _) = broadcast::channel(1 << 16);
    let ex = exchange::Exchange::new(&opts, tx.clone());
    let inner = Arc::new(Inner {
        ex: Mutex::new(ex),
        keys,
        tx,
        opts: opts.clone(),
        requests: Mutex::new(Vec::new()),
        buckets: Mutex::new(Default::default()),
    });
    let mut servers = Servers::default();
    let rest_addr = servers.serve("kalshi-rest", opts.rest_port, rest::router(inner.clone())).await?;
    let ws_addr = servers.serve("kalshi-ws", opts.ws_port, ws::router(inner.clone())).await?;
    Ok(Handle { inner, rest_addr, ws_addr, servers })
}

impl Handle {
    pub fn endpoints(&self) -> Vec<Endpoint> {
        vec![
            Endpoint { name: "kalshi-rest".into(), url: format!("http://{}/trade-api/v2", self.rest_addr) },
            Endpoint { name: "kalshi-ws".into(), url: format!("ws://{}/trade-api/ws/v2", self.ws_addr) },
        ]
    }

    pub fn rest_url(&self) -> String {
        format!("http://{}/trade-api/v2", self.rest_addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/trade-api/ws/v2", self.ws_addr)
    }

    /// Move a market's fair value; its makers requote around it.
    pub fn set_fair(&self, ticker: &str, fair: Price) -> bool {
        self.inner.ex.lock().set_fair(ticker, fair)
    }

    pub fn fault(&self, fault: Fault) {
        self.inner.ex.lock().fault(fault)
    }

    pub fn settle(&self, ticker: &str, result: SettleResult) -> bool {
        self.inner.ex.lock().settle(ticker, result)
    }

    /// Available cash of an account.
    pub fn balance(&self, key_id: &str) -> Money {
        self.inner.ex.lock().accounts.get(key_id).map(|a| a.cash).unwrap_or_default()
    }

    /// Signed YES positions by ticker.
    pub fn positions(&self, key_id: &str) -> Vec<(String, Qty)> {
        let ex = self.inner.ex.lock();
        ex.accounts
            .get(key_id)
            .map(|a| a.positions.iter().map(|(t, p)| (t.clone(), p.yes)).collect())
            .unwrap_or_default()
    }

    /// Every order of an account, as Kalshi's order JSON.
    pub fn orders(&self, key_id: &str) -> Vec<serde_json::Value> {
        let ex = self.inner.ex.lock();
        let mut v: Vec<_> = ex.orders.iter().filter(|(_, r)| r.owner == key_id).collect();
        v.sort_by_key(|(id, _)| **id);
        v.into_iter().map(|(_, r)| r.json()).collect()
    }

    /// Fees an account has paid in total.
    pub fn fees_paid(&self, key_id: &str) -> Money {
        let ex = self.inner.ex.lock();
        ex.accounts.get(key_id).map(|a| a.positions.values().map(|p| p.fees_paid).sum()).unwrap_or_default()
    }

    /// Drive `steps` random book changes on `ticker`; returns the deltas they produced.
    pub fn random_activity(&self, ticker: &str, steps: u64) -> u64 {
        let mut ex = self.inner.ex.lock();
        let before = ex.deltas_sent;
        for _ in 0..steps {
            ex.random_step(ticker);
        }
        ex.deltas_sent - before
    }

    /// Book deltas streamed so far (all markets).
    pub fn deltas_sent(&self) -> u64 {
        self.inner.ex.lock().deltas_sent
    }

    /// Every REST request served so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.requests.lock().clone()
    }

    /// Apply a scenario's Kalshi steps at their offsets (from now), in a background task.
    pub fn run_scenario(&self, scenario: Scenario) -> JoinHandle<()> {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut steps = scenario.steps;
            steps.sort_by_key(|s| s.at_ms);
            for step in steps {
                tokio::time::sleep_until(start + Duration::from_millis(step.at_ms)).await;
                let mut ex = inner.ex.lock();
                match step.action {
                    Action::SetFair { venue: SimVenue::Kalshi, market, price } => {
                        ex.set_fair(&market, price);
                    }
                    Action::Fault { venue: SimVenue::Kalshi, fault } => ex.fault(fault),
                    Action::Settle { venue: SimVenue::Kalshi, market, result } => {
                        ex.settle(&market, result);
                    }
                    _ => {}
                }
            }
        })
    }

    pub async fn shutdown(self) {
        // Open WebSockets end when told to disconnect; servers then finish.
        self.inner.ex.lock().fault(Fault::Disconnect);
        self.servers.stop(Duration::from_secs(5)).await;
    }
}
