//! Simulated Polymarket Gamma, CLOB V2 REST and WebSocket.
//!
//! Three servers on loopback, one per real host: Gamma (metadata), the CLOB
//! (REST), and the WebSocket host (`/ws/market`, `/ws/user`). The CLOB checks
//! what the real one checks: the L2 HMAC on every private request, the V2
//! EIP-712 order signature (recovering the signer and matching it to the API
//! key and signature type), tick grid, lot size and minimum size; it refuses
//! V1-shaped orders. Orders on a condition's two tokens meet in one YES book
//! (BUY NO at q is an ask at 1 - q). Trades walk MATCHED -> MINED -> CONFIRMED
//! after a delay, or RETRYING -> FAILED when scripted, and FAILED undoes them.
//! Deterministic for a given seed: ids, makers and failures come from one
//! seeded RNG (wall-clock timestamps aside).

mod auth;
mod http;
pub mod state;
mod ws;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, address};
use arbytron_integration::Secret;
use arbytron_sdk::{Money, Price, Qty};
use parking_lot::Mutex;
use rand::SeedableRng;

use crate::Endpoint;
use crate::maker::MakerConfig;
use crate::scenario::{Action, Fault, Scenario, SettleResult, SimVenue};
use crate::server::{Servers, broadcast};

pub use state::{Account, ApiError, MarketSpec, TradeStatus};
use state::{Control, TradeStatus as TS, Venue};

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// 0 picks a free port.
    pub gamma_port: u16,
    pub clob_port: u16,
    pub ws_port: u16,
    pub markets: Vec<MarketSpec>,
    pub makers: MakerConfig,
    pub accounts: Vec<Account>,
    pub chain_id: u64,
    /// What `/version` reports and which exchange domain orders must be signed for.
    pub version: u32,
    pub exchange: Address,
    pub neg_risk_exchange: Address,
    pub exchange_v3: Address,
    /// MATCHED -> CONFIRMED takes this long (MINED half way).
    pub confirm_delay_ms: u64,
    /// Chance (parts per million) that a user's trade FAILS on its own.
    pub fail_ppm: u32,
    /// Page size of `/data/orders` and `/data/trades`.
    pub page_size: usize,
    pub scenario: Scenario,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 1,
            gamma_port: 0,
            clob_port: 0,
            ws_port: 0,
            markets: Vec::new(),
            makers: MakerConfig::default(),
            accounts: Vec::new(),
            chain_id: 137,
            version: 2,
            exchange: address!("E111180000d2663C0091e4f400237545B87B996B"),
            neg_risk_exchange: address!("e2222d279d744050d28e00520010520000310F59"),
            exchange_v3: address!("e3333700cA9d93003F00f0F71f8515005F6c00Aa"),
            confirm_delay_ms: 2_000,
            fail_ppm: 0,
            page_size: 100,
            scenario: Scenario::default(),
        }
    }
}

/// The Anvil test key's address: the demo account (never use it with real funds).
pub const DEMO_ADDRESS: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
/// Its private key, public knowledge, for the demo and tests only.
pub const DEMO_PRIVATE_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// The demo account: the Anvil address with fixed API credentials and $10,000.
pub fn demo_account() -> Account {
    Account {
        address: DEMO_ADDRESS,
        funder: None,
        api_key: "00000000-0000-4000-8000-000000000001".into(),
        // base64url of 32 bytes 0x01..0x20.
        secret: Secret::new("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="),
        passphrase: Secret::new("demo-passphrase"),
        cash: Money::from_dollars(10_000),
    }
}

/// A small world: one binary market and a three-outcome neg-risk event.
pub fn demo_options(seed: u64) -> Options {
    let p = |s: &str| Price::parse(s).unwrap_or(Price::ZERO);
    let mut fed = MarketSpec::simple("fed-decision-december", "Will the Fed cut rates in December?", p("0.62"));
    fed.fee_rate_ppm = 40_000;
    let mut markets = vec![fed];
    for (name, fair, tick) in [("Alice", "0.45", 10_000), ("Bob", "0.35", 10_000), ("Carol", "0.18", 1_000)] {
        let mut m = MarketSpec::simple("who-wins-the-election", &format!("Will {name} win the election?"), p(fair));
        m.outcome = name.to_string();
        m.neg_risk = true;
        m.tick = Price::from_micros_const(tick);
        m.fee_rate_ppm = 40_000;
        markets.push(m);
    }
    Options {
        seed,
        markets,
        accounts: vec![demo_account()],
        makers: MakerConfig { spread: 20_000, step: 10_000, levels: 5, size: Qty::from_contracts(200) },
        ..Options::default()
    }
}

pub(crate) struct Shared {
    pub venue: Mutex<Venue>,
    /// (epoch, until): connections opened before `epoch` send nothing until `until`.
    pub freeze: Mutex<(u64, Option<Instant>)>,
    pub confirm_delay: Duration,
    /// Authenticated user-channel connections open now.
    pub user_connections: std::sync::atomic::AtomicUsize,
    /// `POST /order` requests received (whatever became of them).
    pub order_posts: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Start the settlement timers of trades created since last called.
    pub fn kick_lifecycle(self: &Arc<Shared>) {
        let pending: Vec<(usize, bool)> = {
            let mut v = self.venue.lock();
            let idx: Vec<usize> = v.pending_lifecycle.drain(..).collect();
            idx.into_iter().filter_map(|i| v.trades.get(i).map(|t| (i, t.will_fail))).collect()
        };
        for (idx, fail) in pending {
            let s = self.clone();
            let half = self.confirm_delay / 2;
            tokio::spawn(async move {
                tokio::time::sleep(half).await;
                s.venue.lock().advance_trade(idx, if fail { TS::Retrying } else { TS::Mined });
                tokio::time::sleep(half).await;
                s.venue.lock().advance_trade(idx, if fail { TS::Failed } else { TS::Confirmed });
            });
        }
    }

    pub fn fault(self: &Arc<Shared>, fault: &Fault) {
        let mut v = self.venue.lock();
        match *fault {
            Fault::Disconnect => {
                broadcast(&v.control_tx, Control::Disconnect);
            }
            Fault::Freeze { ms } => {
                let mut f = self.freeze.lock();
                f.0 += 1;
                f.1 = Some(Instant::now() + Duration::from_millis(ms));
            }
            Fault::RateLimitBurst { count } => v.faults.rate_limit += count,
            Fault::Latency { ms } => v.faults.latency_ms = ms,
            Fault::RejectOrders { count } => v.faults.reject_orders += count,
            Fault::EngineRestart { ms, post_only_ms } => {
                let until = Instant::now() + Duration::from_millis(ms);
                v.faults.restart_until = Some(until);
                v.faults.post_only_until = Some(until + Duration::from_millis(post_only_ms));
            }
            Fault::FailTrades { count } => v.faults.fail_trades += count,
            Fault::DropOrderRequests { count } => v.faults.drop_requests += count,
            Fault::DropOrderResponses { count } => v.faults.drop_responses += count,
            Fault::DelayOrderRequests { count, ms } => {
                v.faults.delay_requests += count;
                v.faults.delay_ms = ms;
            }
            // Kalshi-only faults.
            Fault::SeqGap | Fault::PartialFills { .. } => {}
        }
    }

    pub fn set_fair(self: &Arc<Shared>, cid: &str, price: Price) {
        {
            let mut v = self.venue.lock();
            if let Some(m) = v.markets.get_mut(cid) {
                m.fair = price;
            }
            v.requote(cid);
        }
        self.kick_lifecycle();
    }
}

/// A running simulator.
pub struct Handle {
    shared: Arc<Shared>,
    addrs: [SocketAddr; 3],
    servers: Servers,
}

/// An order as the simulator holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub id: String,
    pub token: String,
    pub side: String,
    pub price: Price,
    pub original: Qty,
    pub matched: Qty,
    pub status: String,
}

/// A trade of a user, as the simulator holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeView {
    pub id: String,
    pub status: TradeStatus,
    pub taker_order: String,
    pub maker_order: String,
    pub size: Qty,
    pub taker_price: Price,
    pub fee: Money,
}

impl Handle {
    /// `polymarket-gamma`, `polymarket-clob`, `polymarket-ws` (the base of `/ws/market` and `/ws/user`).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let [g, c, w] = self.addrs;
        vec![
            Endpoint { name: "polymarket-gamma".into(), url: format!("http://{g}") },
            Endpoint { name: "polymarket-clob".into(), url: format!("http://{c}") },
            Endpoint { name: "polymarket-ws".into(), url: format!("ws://{w}") },
        ]
    }

    pub fn gamma_url(&self) -> String {
        format!("http://{}", self.addrs[0])
    }

    pub fn clob_url(&self) -> String {
        format!("http://{}", self.addrs[1])
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addrs[2])
    }

    /// Move a market's fair value; its makers requote (and may trade with resting users).
    pub fn set_fair(&self, condition_id: &str, price: Price) {
        self.shared.set_fair(condition_id, price);
    }

    /// Change what `/version` reports (a protocol upgrade under running clients).
    pub fn set_version(&self, version: u32) {
        self.shared.venue.lock().cfg.version = version;
    }

    pub fn fault(&self, fault: Fault) {
        self.shared.fault(&fault);
    }

    pub fn settle(&self, condition_id: &str, result: SettleResult) {
        self.shared.venue.lock().settle(condition_id, result);
    }

    /// Cash of an account (reservations for open orders not deducted).
    pub fn balance(&self, api_key: &str) -> Option<Money> {
        self.shared.venue.lock().accounts.get(api_key).map(|a| a.cash)
    }

    /// Token holdings of an account (token id -> shares), zero entries dropped.
    pub fn positions(&self, api_key: &str) -> BTreeMap<String, Qty> {
        let v = self.shared.venue.lock();
        v.accounts
            .get(api_key)
            .map(|a| a.positions.iter().filter(|(_, q)| !q.is_zero()).map(|(k, q)| (k.clone(), *q)).collect())
            .unwrap_or_default()
    }

    /// Every order an account sent, in submission order.
    pub fn orders(&self, api_key: &str) -> Vec<OrderView> {
        let v = self.shared.venue.lock();
        let mut out: Vec<(u64, OrderView)> = v
            .orders
            .iter()
            .filter(|(_, o)| o.owner == api_key)
            .map(|(id, o)| {
                (
                    *id,
                    OrderView {
                        id: o.hash.clone(),
                        token: o.token.clone(),
                        side: o.action.as_str().into(),
                        price: o.price,
                        original: o.original,
                        matched: o.matched,
                        status: o.status.clone(),
                    },
                )
            })
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out.into_iter().map(|(_, o)| o).collect()
    }

    /// Every trade an account took part in.
    pub fn trades(&self, api_key: &str) -> Vec<TradeView> {
        let v = self.shared.venue.lock();
        v.trades
            .iter()
            .filter(|t| t.taker_owner == api_key || t.maker_owner == api_key)
            .map(|t| TradeView {
                id: t.id.clone(),
                status: t.status,
                taker_order: t.taker_order.clone(),
                maker_order: t.maker_order.clone(),
                size: t.size,
                taker_price: t.taker_price,
                fee: t.fee,
            })
            .collect()
    }

    /// Change a market's tick size; subscribers get `tick_size_change`.
    pub fn set_tick(&self, condition_id: &str, tick: Price) {
        self.shared.venue.lock().set_tick(condition_id, tick);
    }

    /// Authenticated user-channel connections open now (tests wait for a subscriber).
    /// `POST /order` requests received so far, answered or lost.
    pub fn order_posts(&self) -> u64 {
        self.shared.order_posts.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn user_connections(&self) -> usize {
        self.shared.user_connections.load(std::sync::atomic::Ordering::Acquire)
    }

    /// `n` random, non-crossing level changes on a market's book (feed tests).
    pub fn churn(&self, condition_id: &str, n: usize) -> usize {
        self.shared.venue.lock().churn(condition_id, n)
    }

    /// A token's book as `/book` returns it.
    pub fn book(&self, token_id: &str) -> Option<serde_json::Value> {
        self.shared.venue.lock().book_json(token_id)
    }

    /// Stop all three servers and close every WebSocket.
    pub async fn shutdown(self) {
        broadcast(&self.shared.venue.lock().control_tx, Control::Disconnect);
        self.servers.stop(std::time::Duration::from_secs(5)).await;
    }
}

/// Start the three servers.
pub async fn start(opts: Options) -> anyhow::Result<Handle> {
    let cfg = state::Config {
        chain_id: opts.chain_id,
        version: opts.version,
        exchange: opts.exchange,
        neg_risk_exchange: opts.neg_risk_exchange,
        exchange_v3: opts.exchange_v3,
        page_size: opts.page_size.max(1),
        confirm_delay: Duration::from_millis(opts.confirm_delay_ms),
        fail_ppm: opts.fail_ppm,
        makers: opts.makers.clone(),
        seed: opts.seed,
    };
    let mut venue = Venue::new(cfg, rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed));
    for a in &opts.accounts {
        venue.add_account(a.clone());
    }
    for m in &opts.markets {
        venue.add_market(m.clone());
    }
    let shared = Arc::new(Shared {
        venue: Mutex::new(venue),
        freeze: Mutex::new((0, None)),
        confirm_delay: Duration::from_millis(opts.confirm_delay_ms),
        user_connections: std::sync::atomic::AtomicUsize::new(0),
        order_posts: std::sync::atomic::AtomicU64::new(0),
    });
    let mut servers = Servers::default();
    let g = servers.serve("polymarket-gamma", opts.gamma_port, http::gamma_router(shared.clone())).await?;
    let c = servers.serve("polymarket-clob", opts.clob_port, http::clob_router(shared.clone())).await?;
    let w = servers.serve("polymarket-ws", opts.ws_port, ws::router(shared.clone())).await?;
    // Housekeeping: GTD expiry.
    let s = shared.clone();
    servers.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let now_s = (state::now_ms() / 1000) as u64;
            s.venue.lock().expire(now_s);
        }
    });
    if !opts.scenario.steps.is_empty() {
        let s = shared.clone();
        let scenario = opts.scenario.clone();
        servers.spawn(async move {
            let t0 = tokio::time::Instant::now();
            for step in scenario.steps {
                tokio::time::sleep_until(t0 + Duration::from_millis(step.at_ms)).await;
                match step.action {
                    Action::SetFair { venue: SimVenue::Polymarket, market, price } => s.set_fair(&market, price),
                    Action::Fault { venue: SimVenue::Polymarket, fault } => s.fault(&fault),
                    Action::Settle { venue: SimVenue::Polymarket, market, result } => {
                        s.venue.lock().settle(&market, result)
                    }
                    _ => {}
                }
            }
        });
    }
    tracing::info!(gamma = %g, clob = %c, ws = %w, "polymarket simulator listening");
    Ok(Handle { shared, addrs: [g, c, w], servers })
}
