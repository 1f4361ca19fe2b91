//! The simulated venue's state and rules: markets on one unified YES book,
//! accounts with cash, reservations and token positions, orders, trades and
//! their settlement lifecycle, and faults.
//!
//! Everything mutates under one lock, and every book change is broadcast under
//! it too, so a WebSocket that snapshots and subscribes under the same lock
//! sees exactly the changes after its snapshot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, keccak256};
use arbytron_integration::Secret;
use arbytron_sdk::{FeeSchedule, Money, Price, Qty, Rounding, Side};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::maker::{MakerConfig, quotes};
use crate::matching::{BookSide, NewOrder, OrderBook, OrderId, RejectReason, SelfTrade, Tif, Trade};
use crate::scenario::SettleResult;

use super::auth::ParsedOrder;

/// BUY or SELL of one token.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenSide {
    Buy,
    Sell,
}

impl TokenSide {
    pub fn code(self) -> u8 {
        match self {
            TokenSide::Buy => 0,
            TokenSide::Sell => 1,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSide::Buy => "BUY",
            TokenSide::Sell => "SELL",
        }
    }
}

/// One simulated binary market (a condition with YES and NO tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketSpec {
    /// `0x` + 64 hex.
    pub condition_id: String,
    pub question: String,
    pub description: String,
    /// Gamma event this market belongs to.
    pub event_slug: String,
    pub event_title: String,
    /// Outcome name within a multi-outcome event (`groupItemTitle`).
    pub outcome: String,
    pub yes_token: String,
    pub no_token: String,
    pub tick: Price,
    pub min_size: Qty,
    /// Taker fee rate in ppm (0.04 = 40_000) and exponent.
    pub fee_rate_ppm: u32,
    pub fee_exponent: u32,
    pub neg_risk: bool,
    pub fair: Price,
    /// Unix ms.
    pub end_date_ms: i64,
}

impl MarketSpec {
    /// A standard market whose ids derive from `question` (stable across runs).
    pub fn simple(event_slug: &str, question: &str, fair: Price) -> MarketSpec {
        let cid = keccak256(question.as_bytes());
        let token = |i: u8| {
            let mut b = cid.to_vec();
            b.push(i);
            alloy::primitives::U256::from_be_bytes(keccak256(&b).0).to_string()
        };
        MarketSpec {
            condition_id: format!("{cid:#x}"),
            question: question.to_string(),
            description: format!("This market resolves to Yes if: {question}"),
            event_slug: event_slug.to_string(),
            event_title: event_slug.replace('-', " "),
            outcome: String::new(),
            yes_token: token(1),
            no_token: token(2),
            tick: Price::from_micros_const(10_000),
            min_size: Qty::from_contracts(5),
            fee_rate_ppm: 40_000,
            fee_exponent: 1,
            neg_risk: false,
            fair,
            end_date_ms: 1_893_456_000_000,
        }
    }

    pub fn fee(&self) -> FeeSchedule {
        if self.fee_rate_ppm == 0 {
            FeeSchedule::None
        } else {
            FeeSchedule::Polymarket { rate_ppm: self.fee_rate_ppm, exponent: self.fee_exponent }
        }
    }

    /// Decimals of prices on this market's grid.
    pub fn price_decimals(&self) -> u32 {
        match self.tick.micros() {
            100_000 => 1,
            10_000 => 2,
            5_000 | 1_000 => 3,
            _ => 4,
        }
    }
}

/// A trading account: an EOA with API credentials, optionally trading for a Safe.
#[derive(Clone, Debug)]
pub struct Account {
    /// The signing EOA (`POLY_ADDRESS`).
    pub address: Address,
    /// The Safe or proxy holding the funds (signature types 1 and 2).
    pub funder: Option<Address>,
    pub api_key: String,
    pub secret: Secret,
    pub passphrase: Secret,
    pub cash: Money,
}

/// A venue error: HTTP status and the `{"error": ...}` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), retry_after_s: None }
    }
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
}

#[derive(Clone, Debug)]
pub struct OrderMeta {
    pub hash: String,
    pub owner: String,
    pub maker_address: String,
    pub cid: String,
    pub token: String,
    pub token_side: Side,
    pub action: TokenSide,
    pub price: Price,
    pub original: Qty,
    pub matched: Qty,
    pub order_type: String,
    /// `LIVE`, `MATCHED`, `CANCELED`.
    pub status: String,
    pub created_at: i64,
    pub expiration: u64,
    /// Cash (BUY) or tokens (SELL, as micro-units) still reserved for it.
    pub reserved: i64,
    pub trades: Vec<String>,
}

/// Trade settlement states, in order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TradeStatus {
    Matched,
    Mined,
    Confirmed,
    Retrying,
    Failed,
}

impl TradeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Matched => "MATCHED",
            TradeStatus::Mined => "MINED",
            TradeStatus::Confirmed => "CONFIRMED",
            TradeStatus::Retrying => "RETRYING",
            TradeStatus::Failed => "FAILED",
        }
    }
}

/// One match between a taker order and one maker order.
#[derive(Clone, Debug)]
pub struct SimTrade {
    pub id: String,
    pub cid: String,
    pub taker_order: String,
    pub taker_owner: String,
    pub taker_address: String,
    pub taker_token: String,
    pub taker_side: TokenSide,
    pub taker_price: Price,
    pub maker_order: String,
    pub maker_owner: String,
    pub maker_address: String,
    pub maker_token: String,
    pub maker_side: TokenSide,
    pub maker_price: Price,
    pub size: Qty,
    pub fee: Money,
    pub fee_rate_bps: u32,
    pub status: TradeStatus,
    pub match_time: i64,
    pub last_update: i64,
    pub tx_hash: String,
    /// Scripted outcome: FAILED instead of CONFIRMED.
    pub will_fail: bool,
}

#[derive(Clone, Debug, Default)]
pub struct AccountState {
    pub account: Option<Account>,
    pub cash: Money,
    pub reserved_cash: Money,
    /// Token id -> shares held.
    pub positions: BTreeMap<String, Qty>,
    pub reserved_tokens: HashMap<String, Qty>,
}

pub struct SimMarket {
    pub spec: MarketSpec,
    pub book: OrderBook,
    pub fair: Price,
    pub maker_orders: Vec<OrderId>,
    pub churn_orders: Vec<OrderId>,
    /// What subscribers were last told, to send only changed levels.
    pub published: (BTreeMap<Price, Qty>, BTreeMap<Price, Qty>),
    pub closed: bool,
    pub result: Option<SettleResult>,
    pub last_trade: Option<Price>,
}

/// One batch of level changes of a market's YES book.
#[derive(Clone, Debug)]
pub struct BookDelta {
    pub cid: String,
    pub yes_token: String,
    pub no_token: String,
    pub price_decimals: u32,
    /// (side of the YES book, price, new total).
    pub changes: Vec<(BookSide, Price, Qty)>,
    pub best: (Option<Price>, Option<Price>),
    pub ts: i64,
    /// Increases with every delta, so a late subscriber can skip what its snapshot already holds.
    pub seq: u64,
}

/// Something for the market channel.
#[derive(Clone, Debug)]
pub enum MarketMsg {
    Delta(Arc<BookDelta>),
    /// A pre-built event for everyone subscribed to `asset`.
    Event {
        assets: Vec<String>,
        json: Arc<String>,
    },
}

/// A user-channel event for one API key.
#[derive(Clone, Debug)]
pub struct UserMsg {
    pub api_key: String,
    pub json: Arc<String>,
}

/// Control messages to every connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Disconnect,
}

#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub drop_requests: u32,
    pub drop_responses: u32,
    pub delay_requests: u32,
    pub delay_ms: u64,
    pub restart_until: Option<Instant>,
    pub post_only_until: Option<Instant>,
    pub reject_orders: u32,
    pub fail_trades: u32,
    pub rate_limit: u32,
    pub latency_ms: u64,
    /// Connections opened before this epoch are frozen until `freeze_until`.
    pub freeze_epoch: u64,
    pub freeze_until: Option<Instant>,
}

pub struct Config {
    pub chain_id: u64,
    pub version: u32,
    pub exchange: Address,
    pub neg_risk_exchange: Address,
    pub exchange_v3: Address,
    pub page_size: usize,
    pub confirm_delay: Duration,
    pub fail_ppm: u32,
    pub makers: MakerConfig,
    pub seed: u64,
}

pub const MAKER: &str = "sim-maker";

pub struct Venue {
    pub cfg: Config,
    pub rng: ChaCha8Rng,
    pub markets: BTreeMap<String, SimMarket>,
    pub tokens: HashMap<String, (String, Side)>,
    pub accounts: HashMap<String, AccountState>,
    pub orders: HashMap<OrderId, OrderMeta>,
    pub order_ids: HashMap<String, OrderId>,
    pub trades: Vec<SimTrade>,
    pub seen: HashSet<String>,
    pub next_id: OrderId,
    pub faults: Faults,
    pub market_tx: broadcast::Sender<MarketMsg>,
    pub user_tx: broadcast::Sender<UserMsg>,
    pub control_tx: broadcast::Sender<Control>,
    /// Trades waiting for the async layer to start their lifecycle timers.
    pub pending_lifecycle: Vec<usize>,
    pub seq: u64,
}

pub use arbytron_integration::now_ms;

fn fmt_price(p: Price, decimals: u32) -> String {
    p.to_decimal_string(decimals).unwrap_or_else(|_| p.to_string())
}

pub fn fmt_qty(q: Qty) -> String {
    q.to_decimal_string(2).unwrap_or_else(|_| q.to_string())
}

fn fmt_money(m: Money) -> String {
    m.to_string()
}

/// A uuid-shaped id from the seeded RNG.
fn uuid(rng: &mut ChaCha8Rng) -> String {
    let v: u128 = rng.r#gen();
    let h = format!("{v:032x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// What `submit` produced, for the HTTP layer.
pub struct Submitted {
    pub response: Value,
    /// Trades to walk through their lifecycle.
    pub new_trades: Vec<usize>,
}

impl Venue {
    pub fn new(cfg: Config, rng: ChaCha8Rng) -> Venue {
        let (market_tx, _) = broadcast::channel(1 << 16);
        let (user_tx, _) = broadcast::channel(1 << 14);
        let (control_tx, _) = broadcast::channel(64);
        Venue {
            cfg,
            rng,
            markets: BTreeMap::new(),
            tokens: HashMap::new(),
            accounts: HashMap::new(),
            orders: HashMap::new(),
            order_ids: HashMap::new(),
            trades: Vec::new(),
            seen: HashSet::new(),
            next_id: 1,
            faults: Faults::default(),
            market_tx,
            user_tx,
            control_tx,
            pending_lifecycle: Vec::new(),
            seq: 0,
        }
    }

    pub fn add_market(&mut self, spec: MarketSpec) {
        self.tokens.insert(spec.yes_token.clone(), (spec.condition_id.clone(), Side::Yes));
        self.tokens.insert(spec.no_token.clone(), (spec.condition_id.clone(), Side::No));
        let fair = spec.fair;
        let cid = spec.condition_id.clone();
        self.markets.insert(
            cid.clone(),
            SimMarket {
                spec,
                book: OrderBook::new(),
                fair,
                maker_orders: Vec::new(),
                churn_orders: Vec::new(),
                published: Default::default(),
                closed: false,
                result: None,
                last_trade: None,
            },
        );
        self.requote(&cid);
    }

    pub fn add_account(&mut self, a: Account) {
        let st = AccountState { cash: a.cash, account: Some(a.clone()), ..AccountState::default() };
        self.accounts.insert(a.api_key.clone(), st);
    }

    pub fn account_by_address(&self, addr: Address) -> Option<&Account> {
        self.accounts.values().filter_map(|s| s.account.as_ref()).find(|a| a.address == addr)
    }

    fn next_order_id(&mut self) -> OrderId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    // ------------------------------------------------------------ books

    /// The book of one token, as `/book` and the `book` event show it
    /// (bids ascending, asks descending: best last).
    pub fn book_json(&self, token: &str) -> Option<Value> {
        let (cid, side) = self.tokens.get(token)?;
        let m = self.markets.get(cid)?;
        let (bids, asks) = m.book.depth();
        let d = m.spec.price_decimals();
        let lvl = |p: Price, q: Qty| json!({ "price": fmt_price(p, d), "size": fmt_qty(q) });
        let (mut b, mut a): (Vec<Value>, Vec<Value>) = match side {
            Side::Yes => {
                (bids.iter().map(|(p, q)| lvl(*p, *q)).collect(), asks.iter().map(|(p, q)| lvl(*p, *q)).collect())
            }
            Side::No => (
                asks.iter().map(|(p, q)| lvl(p.complement(), *q)).collect(),
                bids.iter().map(|(p, q)| lvl(p.complement(), *q)).collect(),
            ),
        };
        // depth() is best first; the venue sends best last.
        b.reverse();
        a.reverse();
        let last = m.last_trade.map(|p| if *side == Side::Yes { p } else { p.complement() });
        Some(json!({
            "market": cid,
            "asset_id": token,
            "timestamp": now_ms().to_string(),
            "hash": format!("{:#x}", keccak256(serde_json::to_vec(&(&b, &a)).unwrap_or_default())),
            "bids": b,
            "asks": a,
            "min_order_size": fmt_qty(m.spec.min_size),
            "tick_size": fmt_price(m.spec.tick, d),
            "neg_risk": m.spec.neg_risk,
            "last_trade_price": last.map(|p| fmt_price(p, d)).unwrap_or_default(),
        }))
    }

    /// Broadcast the levels of `cid` that changed since last published.
    pub fn publish(&mut self, cid: &str) {
        let Some(m) = self.markets.get_mut(cid) else { return };
        let (bids, asks) = m.book.depth();
        let bids: BTreeMap<Price, Qty> = bids.into_iter().collect();
        let asks: BTreeMap<Price, Qty> = asks.into_iter().collect();
        let mut changes = Vec::new();
        for (side, old, new) in [(BookSide::Bid, &m.published.0, &bids), (BookSide::Ask, &m.published.1, &asks)] {
            for (p, q) in new {
                if old.get(p) != Some(q) {
                    changes.push((side, *p, *q));
                }
            }
            for p in old.keys() {
                if !new.contains_key(p) {
                    changes.push((side, *p, Qty::ZERO));
                }
            }
        }
        let best = (bids.keys().next_back().copied(), asks.keys().next().copied());
        m.published = (bids, asks);
        if changes.is_empty() {
            return;
        }
        self.seq += 1;
        let delta = BookDelta {
            seq: self.seq,
            cid: cid.to_string(),
            yes_token: m.spec.yes_token.clone(),
            no_token: m.spec.no_token.clone(),
            price_decimals: m.spec.price_decimals(),
            changes,
            best,
            ts: now_ms(),
        };
        crate::server::broadcast(&self.market_tx, MarketMsg::Delta(Arc::new(delta)));
    }

    /// Replace the makers' quotes around the market's fair value.
    pub fn requote(&mut self, cid: &str) {
        let Some(m) = self.markets.get_mut(cid) else { return };
        if m.closed {
            return;
        }
        for id in std::mem::take(&mut m.maker_orders) {
            m.book.cancel(id);
            self.orders.remove(&id);
        }
        let wanted = quotes(&self.cfg.makers, m.fair, m.spec.tick.micros());
        let mut trades = Vec::new();
        for (side, price, qty) in wanted {
            let id = self.next_id;
            self.next_id += 1;
            let m = self.markets.get_mut(cid).expect("market exists");
            let order = NewOrder::quote(MAKER, side, price, qty, SelfTrade::CancelTaker);
            if let Ok(r) = m.book.submit(id, order) {
                if r.resting.is_positive() {
                    m.maker_orders.push(id);
                }
                let meta = maker_meta(&m.spec, id, side, price, qty);
                self.orders.insert(id, meta);
                trades.extend(r.trades);
            }
        }
        self.settle_trades(cid, &trades);
        self.publish(cid);
    }

    /// `n` random level changes: resting orders added and removed at random
    /// prices that never cross, for feed tests. Returns the number of changes.
    pub fn churn(&mut self, cid: &str, n: usize) -> usize {
        let mut done = 0;
        for _ in 0..n {
            let Some(m) = self.markets.get_mut(cid) else { return done };
            let tick = m.spec.tick.micros();
            let remove = !m.churn_orders.is_empty() && self.rng.gen_range(0..3) == 0;
            if remove {
                let i = self.rng.gen_range(0..m.churn_orders.len());
                let id = m.churn_orders.swap_remove(i);
                m.book.cancel(id);
                self.orders.remove(&id);
            } else {
                let bid = m.book.best(BookSide::Bid).map(|p| p.micros()).unwrap_or(tick);
                let ask = m.book.best(BookSide::Ask).map(|p| p.micros()).unwrap_or(1_000_000 - tick);
                let side = if self.rng.gen_bool(0.5) { BookSide::Bid } else { BookSide::Ask };
                let steps = self.rng.gen_range(0..15) as i64;
                let p = match side {
                    BookSide::Bid => (bid - steps * tick).max(tick),
                    BookSide::Ask => (ask + steps * tick).min(1_000_000 - tick),
                };
                let qty = Qty::from_hundredths(self.rng.gen_range(100..100_000));
                let id = self.next_id;
                self.next_id += 1;
                let price = Price::from_micros_const(p);
                let order = NewOrder {
                    owner: MAKER.into(),
                    client_order_id: None,
                    side,
                    price,
                    qty,
                    tif: Tif::GoodTillCanceled,
                    self_trade: SelfTrade::CancelTaker,
                    post_only: true,
                };
                if m.book.submit(id, order).is_ok() {
                    m.churn_orders.push(id);
                    let meta = maker_meta(&m.spec, id, side, price, qty);
                    self.orders.insert(id, meta);
                }
            }
            self.publish(cid);
            done += 1;
        }
        done
    }

    // ------------------------------------------------------------ orders

    /// Place a signed, verified order for `api_key`.
    pub fn submit(
        &mut self,
        api_key: &str,
        p: &ParsedOrder,
        order_type: &str,
        post_only: bool,
    ) -> Result<Submitted, ApiError> {
        let account = self
            .accounts
            .get(api_key)
            .and_then(|a| a.account.clone())
            .ok_or_else(|| ApiError::new(401, "Unauthorized/Invalid api key"))?;
        let o = &p.order;
        // An API key trades for one wallet: its EOA (type 0), or the proxy or
        // Safe it signs for (types 1 and 2).
        match (o.signatureType, account.funder) {
            (0, None) if o.maker == account.address && o.signer == account.address => {}
            (1 | 2, Some(funder)) if o.signer == account.address && o.maker == funder => {}
            (0..=2, _) => return Err(ApiError::bad("the order's maker/signer do not belong to this API key")),
            (t, _) => return Err(ApiError::bad(format!("unsupported signature type {t}"))),
        }
        let (cid, token_side) = self
            .tokens
            .get(&p.token_id)
            .cloned()
            .ok_or_else(|| ApiError::bad("Invalid order payload: unknown token id"))?;
        let (spec, closed) = {
            let m = &self.markets[&cid];
            (m.spec.clone(), m.closed)
        };
        if closed {
            return Err(ApiError::bad("market is closed"));
        }
        let exchange = if self.cfg.version >= 3 {
            self.cfg.exchange_v3
        } else if spec.neg_risk {
            self.cfg.neg_risk_exchange
        } else {
            self.cfg.exchange
        };
        if let Err(e) = super::auth::verify_order(p, self.cfg.chain_id, self.cfg.version, exchange) {
            // Signed for another protocol version: say so, so clients re-read /version.
            let other = [2u32, 3].into_iter().filter(|v| *v != self.cfg.version).any(|v| {
                let ex = if v >= 3 {
                    self.cfg.exchange_v3
                } else if spec.neg_risk {
                    self.cfg.neg_risk_exchange
                } else {
                    self.cfg.exchange
                };
                super::auth::verify_order(p, self.cfg.chain_id, v, ex).is_ok()
            });
            return Err(ApiError::bad(if other { "order_version_mismatch".to_string() } else { e }));
        }
        let hash = format!("{:#x}", super::auth::order_hash(o, self.cfg.chain_id, self.cfg.version, exchange));
        if self.seen.contains(&hash) {
            return Err(ApiError::bad("order already exists"));
        }
        let maker_amt: u64 = o.makerAmount.try_into().map_err(|_| ApiError::bad("makerAmount out of range"))?;
        let taker_amt: u64 = o.takerAmount.try_into().map_err(|_| ApiError::bad("takerAmount out of range"))?;
        let (cash, shares) = match p.side {
            TokenSide::Buy => (maker_amt, taker_amt),
            TokenSide::Sell => (taker_amt, maker_amt),
        };
        let tif = match order_type {
            "GTC" | "GTD" => Tif::GoodTillCanceled,
            "FOK" => Tif::FillOrKill,
            "FAK" => Tif::ImmediateOrCancel,
            other => return Err(ApiError::bad(format!("invalid orderType {other:?}"))),
        };
        if shares == 0 || cash == 0 || shares > i64::MAX as u64 / 2 {
            return Err(ApiError::bad("invalid amounts: both must be positive"));
        }
        let side_word = if p.side == TokenSide::Buy { "buy" } else { "sell" };
        let (maker_dp, taker_dp) = match (tif, p.side) {
            // Market orders: 2 decimals on the maker side, 4 on the taker side, whatever the tick.
            (Tif::FillOrKill | Tif::ImmediateOrCancel, _) => (2, 4),
            // Limit orders: shares in lots of 0.01, collateral to tick decimals + 2.
            (_, TokenSide::Buy) => (spec.price_decimals() + 2, 2),
            (_, TokenSide::Sell) => (2, spec.price_decimals() + 2),
        };
        let fits = |units: u64, dp: u32| units.is_multiple_of(10u64.pow(6 - dp.min(6)));
        if !fits(maker_amt, maker_dp) || !fits(taker_amt, taker_dp) {
            let kind = if tif == Tif::GoodTillCanceled { "" } else { "market " };
            return Err(ApiError::bad(format!(
                "invalid amounts, the {kind}{side_word} orders maker amount supports a max accuracy of {maker_dp} decimals, \
                 taker amount a max of {taker_dp} decimals"
            )));
        }
        let tick = spec.tick.micros() as u128;
        let scaled = cash as u128 * 1_000_000;
        let exact = scaled.is_multiple_of(shares as u128);
        // The worst price the amounts allow: a buyer's ceiling rounds down, a seller's floor up.
        let price_micros = match p.side {
            TokenSide::Buy => scaled / shares as u128,
            TokenSide::Sell => scaled.div_ceil(shares as u128),
        } as i64;
        if tif == Tif::GoodTillCanceled && (!exact || !(price_micros as u128).is_multiple_of(tick)) {
            return Err(ApiError::bad(format!(
                "invalid order amounts: price must be a multiple of the tick size {}",
                fmt_price(spec.tick, spec.price_decimals())
            )));
        }
        if price_micros <= 0 || price_micros >= 1_000_000 {
            return Err(ApiError::bad("invalid price: outside (0, 1)"));
        }
        if tif == Tif::GoodTillCanceled
            && (price_micros < spec.tick.micros() || price_micros > 1_000_000 - spec.tick.micros())
        {
            return Err(ApiError::bad("invalid price: outside [tick, 1 - tick]"));
        }
        let price = Price::from_micros_const(price_micros);
        let size = Qty::from_micros(shares as i64);
        if size < spec.min_size {
            return Err(ApiError::bad(format!("order size below the minimum of {}", fmt_qty(spec.min_size))));
        }
        let now_s = (now_ms() / 1000) as u64;
        if order_type == "GTD" {
            if p.expiration < now_s + 60 {
                return Err(ApiError::bad("invalid expiration: GTD orders must expire at least a minute ahead"));
            }
        } else if p.expiration != 0 {
            return Err(ApiError::bad("invalid expiration: only GTD orders expire"));
        }
        if post_only && tif != Tif::GoodTillCanceled {
            return Err(ApiError::bad("invalid post-only order: only GTC and GTD can be post-only"));
        }
        let post_only_mode = self.faults.post_only_until.is_some_and(|t| Instant::now() < t);
        if post_only_mode && tif != Tif::GoodTillCanceled {
            return Err(ApiError::bad("post_only_mode: only post-only orders are accepted after an engine restart"));
        }
        if self.faults.reject_orders > 0 {
            self.faults.reject_orders -= 1;
            return Err(ApiError::bad("order rejected: simulated venue refusal"));
        }
        // Funds: BUY reserves its collateral, SELL its tokens.
        let st = self.accounts.get_mut(api_key).expect("account exists");
        let reserve = match p.side {
            TokenSide::Buy => {
                let need = Money::from_micros(cash as i64);
                if st.cash - st.reserved_cash < need {
                    return Err(ApiError::bad("not enough balance / allowance"));
                }
                st.reserved_cash += need;
                cash as i64
            }
            TokenSide::Sell => {
                let held = st.positions.get(&p.token_id).copied().unwrap_or_default();
                let reserved = st.reserved_tokens.get(&p.token_id).copied().unwrap_or_default();
                if held - reserved < size {
                    return Err(ApiError::bad("not enough balance / allowance"));
                }
                *st.reserved_tokens.entry(p.token_id.clone()).or_default() += size;
                size.micros()
            }
        };
        let (book_side, yes_price) = match (token_side, p.side) {
            (Side::Yes, TokenSide::Buy) => (BookSide::Bid, price),
            (Side::Yes, TokenSide::Sell) => (BookSide::Ask, price),
            (Side::No, TokenSide::Buy) => (BookSide::Ask, price.complement()),
            (Side::No, TokenSide::Sell) => (BookSide::Bid, price.complement()),
        };
        let id = self.next_order_id();
        let meta = OrderMeta {
            hash: hash.clone(),
            owner: api_key.to_string(),
            maker_address: o.maker.to_checksum(None),
            cid: cid.clone(),
            token: p.token_id.clone(),
            token_side,
            action: p.side,
            price,
            original: size,
            matched: Qty::ZERO,
            order_type: order_type.to_string(),
            status: "LIVE".into(),
            created_at: now_ms() / 1000,
            expiration: p.expiration,
            reserved: reserve,
            trades: Vec::new(),
        };
        self.orders.insert(id, meta);
        let m = self.markets.get_mut(&cid).expect("market exists");
        let result = m.book.submit(
            id,
            NewOrder {
                owner: api_key.to_string(),
                client_order_id: None,
                side: book_side,
                price: yes_price,
                qty: size,
                tif,
                self_trade: SelfTrade::CancelTaker,
                post_only: post_only || post_only_mode,
            },
        );
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                self.release(id);
                self.orders.remove(&id);
                return Err(ApiError::bad(match e {
                    RejectReason::PostOnlyWouldCross if post_only_mode => {
                        "post_only_mode: order would cross the book".to_string()
                    }
                    RejectReason::PostOnlyWouldCross => "invalid post-only order: order crosses book".to_string(),
                    RejectReason::FillOrKillUnfilled => {
                        "order couldn't be fully filled. FOK orders are fully filled or killed.".to_string()
                    }
                    other => other.to_string(),
                }));
            }
        };
        self.seen.insert(hash.clone());
        self.order_ids.insert(hash.clone(), id);
        let new_trades = self.settle_trades(&cid, &result.trades);
        let (mut cash_moved, shares_moved) = (Money::ZERO, result.filled);
        for &i in &new_trades {
            let t = &self.trades[i];
            cash_moved += t.size.value_at(t.taker_price, Rounding::Down);
        }
        let status = if result.resting.is_positive() {
            "live"
        } else if result.filled.is_positive() {
            "matched"
        } else {
            "unmatched"
        };
        if !result.resting.is_positive() {
            self.release(id);
            if let Some(meta) = self.orders.get_mut(&id) {
                meta.status = if result.filled == size { "MATCHED".into() } else { "CANCELED".into() };
            }
        }
        if cash_moved.is_negative() {
            cash_moved = Money::ZERO;
        }
        let (making, taking) = match p.side {
            TokenSide::Buy => (fmt_money(cash_moved), fmt_qty(shares_moved)),
            TokenSide::Sell => (fmt_qty(shares_moved), fmt_money(cash_moved)),
        };
        let trade_ids: Vec<String> = new_trades.iter().map(|&i| self.trades[i].id.clone()).collect();
        self.emit_order_event(id, "PLACEMENT");
        self.publish(&cid);
        Ok(Submitted {
            response: json!({
                "success": true,
                "errorMsg": "",
                "orderID": hash,
                "status": status,
                "makingAmount": making,
                "takingAmount": taking,
                "transactionsHashes": [],
                "tradeIDs": trade_ids,
            }),
            new_trades,
        })
    }

    /// Release what an order still reserves.
    fn release(&mut self, id: OrderId) {
        let Some(meta) = self.orders.get_mut(&id) else { return };
        let left = std::mem::take(&mut meta.reserved);
        if left == 0 {
            return;
        }
        let (owner, token, action) = (meta.owner.clone(), meta.token.clone(), meta.action);
        if let Some(st) = self.accounts.get_mut(&owner) {
            match action {
                TokenSide::Buy => st.reserved_cash -= Money::from_micros(left),
                TokenSide::Sell => *st.reserved_tokens.entry(token).or_default() -= Qty::from_micros(left),
            }
        }
    }

    /// Cancel `order_hash` for `api_key`; `Err` carries the not-canceled reason.
    pub fn cancel(&mut self, api_key: &str, order_hash: &str) -> Result<(), String> {
        let id = *self.order_ids.get(order_hash).ok_or("order not found")?;
        let meta = self.orders.get(&id).ok_or("order not found")?;
        if meta.owner != api_key {
            return Err("order not found".into());
        }
        if meta.status != "LIVE" {
            return Err("order can't be canceled: already matched or canceled".into());
        }
        let cid = meta.cid.clone();
        if let Some(m) = self.markets.get_mut(&cid) {
            m.book.cancel(id);
        }
        self.release(id);
        if let Some(meta) = self.orders.get_mut(&id) {
            meta.status = "CANCELED".into();
        }
        self.emit_order_event(id, "CANCELLATION");
        self.publish(&cid);
        Ok(())
    }

    /// Move money and tokens for matched trades, record them, and tell the users.
    /// Returns the indexes of the new trades.
    fn settle_trades(&mut self, cid: &str, trades: &[Trade]) -> Vec<usize> {
        let mut out = Vec::new();
        for t in trades {
            let (Some(taker), Some(maker)) =
                (self.orders.get(&t.taker_order).cloned(), self.orders.get(&t.maker_order).cloned())
            else {
                continue;
            };
            let token_price =
                |meta: &OrderMeta| if meta.token_side == Side::Yes { t.price } else { t.price.complement() };
            let (tp, mp) = (token_price(&taker), token_price(&maker));
            let fee_schedule = self.markets.get(cid).map(|m| m.spec.fee()).unwrap_or_default();
            let fee = fee_schedule.taker_fee(t.qty, tp);
            let fee_rate_bps = match fee_schedule {
                FeeSchedule::Polymarket { rate_ppm, .. } => rate_ppm / 100,
                _ => 0,
            };
            self.move_funds(t.taker_order, &taker, t.qty, tp, fee, 1);
            self.move_funds(t.maker_order, &maker, t.qty, mp, Money::ZERO, 1);
            let users_involved = self.is_user(&taker.owner) || self.is_user(&maker.owner);
            if let Some(m) = self.markets.get_mut(cid) {
                m.last_trade = Some(t.price);
                if t.maker_done {
                    m.maker_orders.retain(|id| *id != t.maker_order);
                    m.churn_orders.retain(|id| *id != t.maker_order);
                }
            }
            if !users_involved {
                continue;
            }
            let will_fail = if self.faults.fail_trades > 0 {
                self.faults.fail_trades -= 1;
                true
            } else {
                self.cfg.fail_ppm > 0 && self.rng.gen_range(0..1_000_000) < self.cfg.fail_ppm
            };
            let id = uuid(&mut self.rng);
            let now = now_ms() / 1000;
            let trade = SimTrade {
                id: id.clone(),
                cid: cid.to_string(),
                taker_order: taker.hash.clone(),
                taker_owner: taker.owner.clone(),
                taker_address: taker.maker_address.clone(),
                taker_token: taker.token.clone(),
                taker_side: taker.action,
                taker_price: tp,
                maker_order: maker.hash.clone(),
                maker_owner: maker.owner.clone(),
                maker_address: maker.maker_address.clone(),
                maker_token: maker.token.clone(),
                maker_side: maker.action,
                maker_price: mp,
                size: t.qty,
                fee,
                fee_rate_bps,
                status: TradeStatus::Matched,
                match_time: now,
                last_update: now,
                tx_hash: String::new(),
                will_fail,
            };
            for oid in [t.taker_order, t.maker_order] {
                if let Some(meta) = self.orders.get_mut(&oid) {
                    meta.trades.push(id.clone());
                }
            }
            self.trades.push(trade);
            let idx = self.trades.len() - 1;
            self.emit_trade(idx);
            out.push(idx);
            self.pending_lifecycle.push(idx);
            if self.is_user(&maker.owner) {
                self.emit_order_event(t.maker_order, "UPDATE");
            }
        }
        if let Some(last) = trades.last() {
            let d = self.markets.get(cid).map(|m| m.spec.price_decimals()).unwrap_or(2);
            if let Some(m) = self.markets.get(cid) {
                let ev = json!({
                    "event_type": "last_trade_price",
                    "asset_id": m.spec.yes_token,
                    "market": cid,
                    "price": fmt_price(last.price, d),
                    "side": if last.taker_side == BookSide::Bid { "BUY" } else { "SELL" },
                    "size": fmt_qty(last.qty),
                    "fee_rate_bps": m.spec.fee_rate_ppm / 100,
                    "timestamp": now_ms().to_string(),
                });
                crate::server::broadcast(
                    &self.market_tx,
                    MarketMsg::Event { assets: vec![m.spec.yes_token.clone()], json: Arc::new(ev.to_string()) },
                );
            }
        }
        out
    }

    fn is_user(&self, owner: &str) -> bool {
        self.accounts.contains_key(owner)
    }

    /// Apply (`sign` = 1) or undo (`sign` = -1) one side of a trade.
    fn move_funds(&mut self, order_id: OrderId, meta: &OrderMeta, qty: Qty, price: Price, fee: Money, sign: i64) {
        if sign > 0
            && let Some(m) = self.orders.get_mut(&order_id)
        {
            m.matched += qty;
            if m.matched >= m.original {
                m.status = "MATCHED".into();
            }
            // Release the reservation this fill used up.
            let used = match m.action {
                TokenSide::Buy => qty.value_at(m.price, Rounding::Up).micros(),
                TokenSide::Sell => qty.micros(),
            };
            let used = used.min(m.reserved);
            m.reserved -= used;
            if let Some(st) = self.accounts.get_mut(&meta.owner) {
                match m.action {
                    TokenSide::Buy => st.reserved_cash -= Money::from_micros(used),
                    TokenSide::Sell => {
                        *st.reserved_tokens.entry(meta.token.clone()).or_default() -= Qty::from_micros(used)
                    }
                }
            }
        }
        let Some(st) = self.accounts.get_mut(&meta.owner) else { return };
        let s = Qty::from_micros(qty.micros() * sign);
        match meta.action {
            TokenSide::Buy => {
                *st.positions.entry(meta.token.clone()).or_default() += s;
                let cost = qty.value_at(price, Rounding::Up) + fee;
                st.cash -= Money::from_micros(cost.micros() * sign);
            }
            TokenSide::Sell => {
                *st.positions.entry(meta.token.clone()).or_default() -= s;
                let proceeds = qty.value_at(price, Rounding::Down) - fee;
                st.cash += Money::from_micros(proceeds.micros() * sign);
            }
        }
    }

    /// Move a trade to its next state; FAILED undoes it.
    pub fn advance_trade(&mut self, idx: usize, status: TradeStatus) {
        let Some(t) = self.trades.get_mut(idx) else { return };
        if matches!(t.status, TradeStatus::Confirmed | TradeStatus::Failed) {
            return;
        }
        t.status = status;
        t.last_update = now_ms() / 1000;
        if matches!(status, TradeStatus::Mined | TradeStatus::Confirmed) && t.tx_hash.is_empty() {
            t.tx_hash = format!("{:#x}", keccak256(t.id.as_bytes()));
        }
        if status == TradeStatus::Failed {
            let t = t.clone();
            let taker = undo_meta(&t.taker_owner, &t.taker_token, t.taker_side);
            self.move_funds(0, &taker, t.size, t.taker_price, t.fee, -1);
            let maker = undo_meta(&t.maker_owner, &t.maker_token, t.maker_side);
            self.move_funds(0, &maker, t.size, t.maker_price, Money::ZERO, -1);
        }
        self.emit_trade(idx);
    }

    // ------------------------------------------------------------ wire shapes

    /// A trade as `/data/trades` shows it to `api_key`.
    pub fn trade_json(&self, t: &SimTrade, api_key: Option<&str>, ws: bool) -> Value {
        let d = self.markets.get(&t.cid).map(|m| m.spec.price_decimals()).unwrap_or(2);
        let outcome = |tok: &str| match self.tokens.get(tok) {
            Some((_, Side::Yes)) => "Yes",
            _ => "No",
        };
        let mut v = json!({
            "id": t.id,
            "taker_order_id": t.taker_order,
            "market": t.cid,
            "asset_id": t.taker_token,
            "side": t.taker_side.as_str(),
            "size": fmt_qty(t.size),
            "fee_rate_bps": t.fee_rate_bps.to_string(),
            "price": fmt_price(t.taker_price, d),
            "status": t.status.as_str(),
            "outcome": outcome(&t.taker_token),
            "owner": t.taker_owner,
            "maker_address": t.taker_address,
            "transaction_hash": t.tx_hash,
            "bucket_index": 0,
            "maker_orders": [{
                "order_id": t.maker_order,
                "owner": t.maker_owner,
                "maker_address": t.maker_address,
                "matched_amount": fmt_qty(t.size),
                "price": fmt_price(t.maker_price, d),
                "fee_rate_bps": "0",
                "asset_id": t.maker_token,
                "outcome": outcome(&t.maker_token),
                "side": t.maker_side.as_str(),
            }],
        });
        if ws {
            v["event_type"] = json!("trade");
            v["type"] = json!("TRADE");
            v["matchtime"] = json!(t.match_time.to_string());
            v["last_update"] = json!(t.last_update.to_string());
            v["timestamp"] = json!(now_ms().to_string());
            if let Some(k) = api_key {
                v["trade_owner"] = json!(k);
            }
        } else {
            v["match_time"] = json!(t.match_time.to_string());
            v["last_update"] = json!(t.last_update.to_string());
            if let Some(k) = api_key {
                v["trader_side"] = json!(if t.taker_owner == k { "TAKER" } else { "MAKER" });
            }
        }
        v
    }

    fn emit_trade(&self, idx: usize) {
        let t = &self.trades[idx];
        let mut sent = HashSet::new();
        for owner in [&t.taker_owner, &t.maker_owner] {
            if self.is_user(owner) && sent.insert(owner.clone()) {
                let json = self.trade_json(t, Some(owner), true).to_string();
                crate::server::broadcast(&self.user_tx, UserMsg { api_key: owner.clone(), json: Arc::new(json) });
            }
        }
    }

    pub fn order_json(&self, m: &OrderMeta) -> Value {
        let d = self.markets.get(&m.cid).map(|x| x.spec.price_decimals()).unwrap_or(2);
        json!({
            "id": m.hash,
            "status": m.status,
            "owner": m.owner,
            "maker_address": m.maker_address,
            "market": m.cid,
            "asset_id": m.token,
            "side": m.action.as_str(),
            "original_size": fmt_qty(m.original),
            "size_matched": fmt_qty(m.matched),
            "price": fmt_price(m.price, d),
            "associate_trades": m.trades,
            "outcome": if m.token_side == Side::Yes { "Yes" } else { "No" },
            "created_at": m.created_at,
            "expiration": m.expiration.to_string(),
            "order_type": m.order_type,
        })
    }

    fn emit_order_event(&self, id: OrderId, kind: &str) {
        let Some(m) = self.orders.get(&id) else { return };
        if !self.is_user(&m.owner) {
            return;
        }
        let mut v = self.order_json(m);
        v["event_type"] = json!("order");
        v["type"] = json!(kind);
        v["order_owner"] = json!(m.owner);
        v["timestamp"] = json!(now_ms().to_string());
        crate::server::broadcast(&self.user_tx, UserMsg { api_key: m.owner.clone(), json: Arc::new(v.to_string()) });
    }

    /// Cancel GTD orders whose time has come: the venue expires them one
    /// minute before the stated expiration.
    pub fn expire(&mut self, now_s: u64) {
        let due: Vec<OrderId> = self
            .orders
            .iter()
            .filter(|(_, o)| o.status == "LIVE" && o.order_type == "GTD" && o.expiration.saturating_sub(60) <= now_s)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(cid) = self.orders.get(&id).map(|o| o.cid.clone()) else { continue };
            if let Some(m) = self.markets.get_mut(&cid) {
                m.book.cancel(id);
            }
            self.release(id);
            if let Some(o) = self.orders.get_mut(&id) {
                o.status = "CANCELED".into();
            }
            self.emit_order_event(id, "CANCELLATION");
            self.publish(&cid);
        }
    }

    /// Change a market's tick size (the venue does so near 0 and 1) and tell subscribers.
    pub fn set_tick(&mut self, cid: &str, tick: Price) {
        let Some(m) = self.markets.get_mut(cid) else { return };
        let old = m.spec.tick;
        m.spec.tick = tick;
        let d = m.spec.price_decimals().max(match old.micros() {
            100_000 => 1,
            10_000 => 2,
            5_000 | 1_000 => 3,
            _ => 4,
        });
        let mut assets = Vec::new();
        for token in [m.spec.yes_token.clone(), m.spec.no_token.clone()] {
            let ev = json!({
                "event_type": "tick_size_change",
                "asset_id": token,
                "market": cid,
                "old_tick_size": fmt_price(old, d),
                "new_tick_size": fmt_price(tick, d),
                "timestamp": now_ms().to_string(),
            });
            assets.push((token, ev.to_string()));
        }
        for (token, json) in assets {
            crate::server::broadcast(&self.market_tx, MarketMsg::Event { assets: vec![token], json: Arc::new(json) });
        }
    }

    /// Resolve a market: cancel its orders, pay out its tokens.
    pub fn settle(&mut self, cid: &str, result: SettleResult) {
        let Some(m) = self.markets.get_mut(cid) else { return };
        m.closed = true;
        m.result = Some(result);
        let (yes, no) = (m.spec.yes_token.clone(), m.spec.no_token.clone());
        let ids: Vec<OrderId> =
            self.orders.iter().filter(|(_, o)| o.cid == cid && o.status == "LIVE").map(|(id, _)| *id).collect();
        for id in ids {
            if let Some(m) = self.markets.get_mut(cid) {
                m.book.cancel(id);
            }
            self.release(id);
            if let Some(o) = self.orders.get_mut(&id) {
                o.status = "CANCELED".into();
            }
        }
        if let Some(m) = self.markets.get_mut(cid) {
            m.maker_orders.clear();
            m.churn_orders.clear();
        }
        let (pay_yes, pay_no) = match result {
            SettleResult::Yes => (1_000_000, 0),
            SettleResult::No => (0, 1_000_000),
            SettleResult::Void => (500_000, 500_000),
        };
        for st in self.accounts.values_mut() {
            for (tok, pay) in [(&yes, pay_yes), (&no, pay_no)] {
                if let Some(q) = st.positions.remove(tok) {
                    st.cash += q.value_at(Price::from_micros_const(pay), Rounding::Down);
                }
            }
        }
        self.publish(cid);
        let winner = match result {
            SettleResult::Yes => Some(yes.clone()),
            SettleResult::No => Some(no.clone()),
            SettleResult::Void => None,
        };
        let ev = json!({
            "event_type": "market_resolved",
            "market": cid,
            "winning_asset_id": winner,
            "winning_outcome": match result { SettleResult::Yes => "Yes", SettleResult::No => "No", SettleResult::Void => "" },
            "timestamp": now_ms().to_string(),
        });
        crate::server::broadcast(
            &self.market_tx,
            MarketMsg::Event { assets: vec![yes, no], json: Arc::new(ev.to_string()) },
        );
    }
}

/// The parts of an order `move_funds` needs to undo one side of a trade.
fn undo_meta(owner: &str, token: &str, action: TokenSide) -> OrderMeta {
    OrderMeta {
        hash: String::new(),
        owner: owner.to_string(),
        maker_address: String::new(),
        cid: String::new(),
        token: token.to_string(),
        token_side: Side::Yes,
        action,
        price: Price::ZERO,
        original: Qty::ZERO,
        matched: Qty::ZERO,
        order_type: String::new(),
        status: String::new(),
        created_at: 0,
        expiration: 0,
        reserved: 0,
        trades: Vec::new(),
    }
}

fn maker_meta(spec: &MarketSpec, id: OrderId, side: BookSide, price: Price, qty: Qty) -> OrderMeta {
    OrderMeta {
        hash: format!("maker-{id}"),
        owner: MAKER.into(),
        maker_address: String::new(),
        cid: spec.condition_id.clone(),
        token: spec.yes_token.clone(),
        token_side: Side::Yes,
        action: if side == BookSide::Bid { TokenSide::Buy } else { TokenSide::Sell },
        price,
        original: qty,
        matched: Qty::ZERO,
        order_type: "GTC".into(),
        status: "LIVE".into(),
        created_at: 0,
        expiration: 0,
        reserved: 0,
        trades: Vec::new(),
    }
}
