//! The simulated exchange's state: markets with price-time-priority books,
//! makers, accounts, orders, fills, faults; and the events the WebSocket
//! side streams. One lock guards it all, so every change and the events it
//! emits are ordered, and a snapshot is consistent with the event stream
//! (events carry a global sequence number; a snapshot records the last one).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arbytron_sdk::{FeeSchedule, Money, Price, Qty, Rounding};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::auth::now_ms;
use super::fmt;
use super::{MarketSpec, Options};
use crate::maker::{self, MakerConfig};
use crate::matching::{BookSide, NewOrder, OrderBook, RejectReason, SelfTrade, Tif};
use crate::scenario::{Fault, SettleResult};

/// Price levels, `(price, size)`, as Kalshi lists them.
pub type Levels = Vec<(Price, Qty)>;

/// Owner name of the simulated market makers.
pub const MAKER: &str = "sim-maker";
/// Owner name of the random-activity generator.
pub const NOISE: &str = "sim-noise";

/// What the WebSocket side streams.
#[derive(Debug, Clone)]
pub enum Event {
    /// A level change; `no` levels are at NO-leg prices.
    Delta {
        gseq: u64,
        ticker: String,
        no: bool,
        price: Price,
        delta: Qty,
        ts_ms: i64,
    },
    Ticker {
        ticker: String,
        msg: Value,
    },
    Fill {
        owner: String,
        msg: Value,
    },
    Lifecycle {
        msg: Value,
    },
    Disconnect,
    SeqGap,
    Freeze {
        ms: u64,
    },
}

/// A Kalshi error answer: HTTP status, code, message, details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: &str, details: impl Into<String>) -> ApiError {
        ApiError { status, code: code.into(), message: message.into(), details: details.into() }
    }

    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
    }
}

#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub reject_orders: u32,
    pub drop_requests: u32,
    pub drop_responses: u32,
    pub delay_requests: u32,
    pub delay_ms: u64,
    pub partial: Option<(u32, u32)>,
    pub rate_limit_burst: u32,
    pub latency_ms: u64,
}

#[derive(Debug, Clone)]
pub struct OrderRec {
    pub uuid: String,
    pub owner: String,
    pub ticker: String,
    pub client_order_id: Option<String>,
    pub side: BookSide,
    pub price: Price,
    pub initial: Qty,
    pub filled: Qty,
    pub remaining: Qty,
    /// `resting`, `canceled`, `executed`.
    pub status: &'static str,
    /// Costs in the order's outcome side (bid buys YES, ask buys NO).
    pub taker_cost: Money,
    pub maker_cost: Money,
    pub taker_fees: Money,
    pub maker_fees: Money,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl OrderRec {
    pub fn json(&self) -> Value {
        let (outcome, yes, no) = match self.side {
            BookSide::Bid => ("yes", self.price, self.price.complement()),
            BookSide::Ask => ("no", self.price, self.price.complement()),
        };
        json!({
            "order_id": self.uuid,
            "client_order_id": self.client_order_id.clone().unwrap_or_default(),
            "ticker": self.ticker,
            "status": self.status,
            "outcome_side": outcome,
            "book_side": match self.side { BookSide::Bid => "bid", BookSide::Ask => "ask" },
            "type": "limit",
            "yes_price_dollars": fmt::price(yes),
            "no_price_dollars": fmt::price(no),
            "fill_count_fp": fmt::count(self.filled),
            "remaining_count_fp": fmt::count(self.remaining),
            "initial_count_fp": fmt::count(self.initial),
            "taker_fees_dollars": fmt::dollars(self.taker_fees),
            "maker_fees_dollars": fmt::dollars(self.maker_fees),
            "taker_fill_cost_dollars": fmt::dollars(self.taker_cost),
            "maker_fill_cost_dollars": fmt::dollars(self.maker_cost),
            "created_time": fmt::rfc3339(self.created_ms),
            "last_update_time": fmt::rfc3339(self.updated_ms),
            "self_trade_prevention_type": "taker_at_cross",
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Position {
    /// Signed: + YES, - NO.
    pub yes: Qty,
    pub fees_paid: Money,
    pub traded: Money,
    /// Net cash put into this market (collateral included, fees excluded): returned on a void.
    pub cost: Money,
    pub realized: Money,
    pub updated_ms: i64,
}

#[derive(Debug, Clone)]
pub struct FillRec {
    pub trade_id: String,
    pub order_uuid: String,
    pub client_order_id: Option<String>,
    pub ticker: String,
    pub count: Qty,
    pub yes_price: Price,
    pub is_taker: bool,
    pub fee: Money,
    pub side: BookSide,
    pub post_position: Qty,
    pub ts_ms: i64,
}

impl FillRec {
    pub fn rest_json(&self) -> Value {
        json!({
            "fill_id": self.trade_id,
            "trade_id": self.trade_id,
            "order_id": self.order_uuid,
            "ticker": self.ticker,
            "market_ticker": self.ticker,
            "count_fp": fmt::count(self.count),
            "yes_price_dollars": fmt::price(self.yes_price),
            "no_price_dollars": fmt::price(self.yes_price.complement()),
            "is_taker": self.is_taker,
            "fee_cost": fmt::dollars(self.fee),
            "outcome_side": if self.side == BookSide::Bid { "yes" } else { "no" },
            "book_side": if self.side == BookSide::Bid { "bid" } else { "ask" },
            "created_time": fmt::rfc3339(self.ts_ms),
            "ts": self.ts_ms / 1000,
            "subaccount_number": 0,
        })
    }

    pub fn ws_json(&self) -> Value {
        json!({
            "trade_id": self.trade_id,
            "order_id": self.order_uuid,
            "client_order_id": self.client_order_id.clone().unwrap_or_default(),
            "market_ticker": self.ticker,
            "is_taker": self.is_taker,
            "yes_price_dollars": fmt::price(self.yes_price),
            "count_fp": fmt::count(self.count),
            "fee_cost": fmt::dollars(self.fee),
            "post_position_fp": fmt::count(self.post_position),
            "outcome_side": if self.side == BookSide::Bid { "yes" } else { "no" },
            "book_side": if self.side == BookSide::Bid { "bid" } else { "ask" },
            "ts_ms": self.ts_ms,
            "subaccount": 0,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Account {
    pub cash: Money,
    pub positions: BTreeMap<String, Position>,
    pub fills: Vec<FillRec>,
}

pub struct SimMarket {
    pub spec: MarketSpec,
    pub book: OrderBook,
    pub fee: FeeSchedule,
    /// `active`, `inactive`, `closed`, `finalized`.
    pub status: String,
    pub result: String,
    pub fair: Price,
    /// Resting bids at YES prices, and asks as NO bids at NO prices: what was last streamed.
    yes_levels: BTreeMap<Price, Qty>,
    no_levels: BTreeMap<Price, Qty>,
}

impl SimMarket {
    /// The market's price bands, from its price level structure.
    pub fn price_ranges(&self) -> Vec<(Price, Price, Price)> {
        let p = Price::from_micros_const;
        match self.spec.price_level_structure.as_str() {
            "deci_cent" => vec![(p(0), p(1_000_000), p(1_000))],
            "tapered_deci_cent" => {
                vec![
                    (p(0), p(100_000), p(1_000)),
                    (p(100_000), p(900_000), p(10_000)),
                    (p(900_000), p(1_000_000), p(1_000)),
                ]
            }
            _ => vec![(p(0), p(1_000_000), p(10_000))],
        }
    }

    fn on_grid(&self, price: Price) -> bool {
        self.price_ranges()
            .iter()
            .any(|(a, b, s)| price >= *a && price <= *b && (price.micros() - a.micros()) % s.micros() == 0)
    }

    /// The coarsest step: makers quote on it so their quotes are valid everywhere.
    fn maker_tick(&self) -> i64 {
        self.price_ranges().iter().map(|r| r.2.micros()).max().unwrap_or(10_000)
    }

    pub fn levels(&self, depth: usize) -> (Levels, Levels) {
        // Kalshi lists bids ascending, best last.
        let yes: Vec<_> = self.yes_levels.iter().rev().take(depth).map(|(p, q)| (*p, *q)).collect();
        let no: Vec<_> = self.no_levels.iter().rev().take(depth).map(|(p, q)| (*p, *q)).collect();
        (yes.into_iter().rev().collect(), no.into_iter().rev().collect())
    }
}

/// A parsed V2 order.
#[derive(Debug, Clone)]
pub struct OrderInput {
    pub ticker: String,
    pub side: BookSide,
    pub price: Price,
    pub count: Qty,
    pub tif: Tif,
    pub self_trade: SelfTrade,
    pub client_order_id: Option<String>,
    pub post_only: bool,
}

pub struct Exchange {
    rng: ChaCha8Rng,
    pub markets: BTreeMap<String, SimMarket>,
    pub accounts: HashMap<String, Account>,
    pub orders: HashMap<u64, OrderRec>,
    pub order_ids: HashMap<String, u64>,
    next_id: u64,
    gseq: u64,
    pub faults: Faults,
    pub tx: broadcast::Sender<Arc<Event>>,
    pub deltas_sent: u64,
    maker: MakerConfig,
    noise_orders: Vec<(String, u64)>,
}

fn fee_for(spec: &MarketSpec) -> FeeSchedule {
    FeeSchedule::kalshi(&spec.series, &spec.fee_type, &spec.fee_multiplier).unwrap_or(FeeSchedule::None)
}

impl Exchange {
    pub fn new(opts: &Options, tx: broadcast::Sender<Arc<Event>>) -> Exchange {
        let mut ex = Exchange {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            markets: BTreeMap::new(),
            accounts: opts
                .accounts
                .iter()
                .map(|(k, m)| (k.clone(), Account { cash: *m, ..Account::default() }))
                .collect(),
            orders: HashMap::new(),
            order_ids: HashMap::new(),
            next_id: 1,
            gseq: 0,
            faults: Faults::default(),
            tx,
            deltas_sent: 0,
            maker: opts.makers.clone(),
            noise_orders: Vec::new(),
        };
        for spec in &opts.markets {
            ex.markets.insert(
                spec.ticker.clone(),
                SimMarket {
                    fee: fee_for(spec),
                    book: OrderBook::new(),
                    status: if spec.status.is_empty() { "active".into() } else { spec.status.clone() },
                    result: String::new(),
                    fair: spec.fair,
                    yes_levels: BTreeMap::new(),
                    no_levels: BTreeMap::new(),
                    spec: spec.clone(),
                },
            );
        }
        let tickers: Vec<String> = ex.markets.keys().cloned().collect();
        for t in tickers {
            ex.requote(&t);
        }
        ex
    }

    fn emit(&mut self, e: Event) {
        crate::server::broadcast(&self.tx, Arc::new(e));
    }

    /// A deterministic UUID-shaped id.
    fn uuid(&mut self) -> String {
        let a: u128 = self.rng.r#gen();
        let h = format!("{a:032x}");
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    /// Stream the difference between the book and what was last streamed.
    fn sync_levels(&mut self, ticker: &str) {
        let Some(m) = self.markets.get_mut(ticker) else { return };
        let (bids, asks) = m.book.depth();
        let yes: BTreeMap<Price, Qty> = bids.into_iter().collect();
        let no: BTreeMap<Price, Qty> = asks.into_iter().map(|(p, q)| (p.complement(), q)).collect();
        let mut changes = Vec::new();
        for (is_no, old, new) in [(false, &m.yes_levels, &yes), (true, &m.no_levels, &no)] {
            for (p, q) in new {
                let before = old.get(p).copied().unwrap_or_default();
                if before != *q {
                    changes.push((is_no, *p, *q - before));
                }
            }
            for (p, q) in old {
                if !new.contains_key(p) {
                    changes.push((is_no, *p, -*q));
                }
            }
        }
        // Removals first, as a matching engine reports a match: every
        // intermediate book a client rebuilds is then uncrossed.
        changes.sort_by_key(|c| c.2.is_positive());
        let top_changed = m.yes_levels.last_key_value() != yes.last_key_value()
            || m.no_levels.last_key_value() != no.last_key_value();
        m.yes_levels = yes;
        m.no_levels = no;
        let ts_ms = now_ms();
        for (no, price, delta) in changes {
            self.gseq += 1;
            self.deltas_sent += 1;
            let gseq = self.gseq;
            self.emit(Event::Delta { gseq, ticker: ticker.to_string(), no, price, delta, ts_ms });
        }
        if top_changed {
            let msg = self.ticker_msg(ticker);
            self.emit(Event::Ticker { ticker: ticker.to_string(), msg });
        }
    }

    fn ticker_msg(&self, ticker: &str) -> Value {
        let Some(m) = self.markets.get(ticker) else { return Value::Null };
        let bid = m.yes_levels.last_key_value().map(|(p, q)| (*p, *q)).unwrap_or((Price::ZERO, Qty::ZERO));
        let ask = m.no_levels.last_key_value().map(|(p, q)| (p.complement(), *q)).unwrap_or((Price::ONE, Qty::ZERO));
        let ts = now_ms();
        json!({
            "market_ticker": ticker,
            "price_dollars": fmt::price(m.fair),
            "yes_bid_dollars": fmt::price(bid.0),
            "yes_ask_dollars": fmt::price(ask.0),
            "yes_bid_size_fp": fmt::count(bid.1),
            "yes_ask_size_fp": fmt::count(ask.1),
            "ts": ts / 1000,
            "ts_ms": ts,
        })
    }

    /// A snapshot of a market's levels and the event number it is consistent with.
    pub fn snapshot(&self, ticker: &str) -> Option<(Levels, Levels, u64)> {
        let m = self.markets.get(ticker)?;
        let (yes, no) = m.levels(usize::MAX);
        Some((yes, no, self.gseq))
    }

    // ----------------------------------------------------------- makers / noise

    /// Replace the makers' quotes with a ladder around the market's fair value.
    pub fn requote(&mut self, ticker: &str) {
        let cfg = self.maker.clone();
        let Some(m) = self.markets.get_mut(ticker) else { return };
        if m.status != "active" {
            return;
        }
        m.book.cancel_all_of(MAKER);
        let quotes = maker::quotes(&cfg, m.fair, m.maker_tick());
        for (side, price, qty) in quotes {
            let id = self.next_id;
            self.next_id += 1;
            let order = NewOrder::quote(MAKER, side, price, qty, SelfTrade::CancelMaker);
            if let Some(m) = self.markets.get_mut(ticker)
                && let Ok(r) = m.book.submit(id, order)
            {
                let trades = r.trades.clone();
                self.settle_trades(ticker, &trades, None);
            }
        }
        self.sync_levels(ticker);
    }

    pub fn set_fair(&mut self, ticker: &str, fair: Price) -> bool {
        let Some(m) = self.markets.get_mut(ticker) else { return false };
        m.fair = fair;
        self.requote(ticker);
        true
    }

    /// One random book change (for tests that need many deltas): a resting
    /// order placed near fair (which may trade), or a cancel. Deterministic per seed.
    pub fn random_step(&mut self, ticker: &str) {
        let Some(m) = self.markets.get(ticker) else { return };
        let fair = m.fair.micros();
        let tick = m.maker_tick();
        let cancel = !self.noise_orders.is_empty() && self.rng.gen_bool(0.4);
        if cancel {
            let i = self.rng.gen_range(0..self.noise_orders.len());
            let (t, id) = self.noise_orders.swap_remove(i);
            if let Some(m) = self.markets.get_mut(&t) {
                m.book.cancel(id);
            }
            self.sync_levels(&t);
            return;
        }
        let side = if self.rng.gen_bool(0.5) { BookSide::Bid } else { BookSide::Ask };
        let offset = self.rng.gen_range(-8i64..=8) * tick;
        let price = (fair + offset).clamp(tick, 1_000_000 - tick);
        let price = Price::from_micros_const(price - price % tick);
        let qty = Qty::from_hundredths(self.rng.gen_range(1..=2000));
        let id = self.next_id;
        self.next_id += 1;
        let order = NewOrder {
            owner: NOISE.into(),
            client_order_id: None,
            side,
            price,
            qty,
            tif: Tif::GoodTillCanceled,
            self_trade: SelfTrade::CancelMaker,
            post_only: false,
        };
        if let Some(m) = self.markets.get_mut(ticker)
            && let Ok(r) = m.book.submit(id, order)
        {
            if r.resting.is_positive() {
                self.noise_orders.push((ticker.to_string(), id));
            }
            let trades = r.trades.clone();
            self.settle_trades(ticker, &trades, None);
        }
        self.sync_levels(ticker);
    }

    // ----------------------------------------------------------------- orders

    fn account_cash(&self, owner: &str) -> Money {
        self.accounts.get(owner).map(|a| a.cash).unwrap_or_default()
    }

    /// Cash an order could need at most: the cost of the exposure it adds, plus the taker fee.
    fn max_cost(&self, owner: &str, o: &OrderInput, fee: &FeeSchedule) -> Money {
        let pos = self.accounts.get(owner).and_then(|a| a.positions.get(&o.ticker)).map(|p| p.yes).unwrap_or_default();
        let (closing, unit) = match o.side {
            BookSide::Bid => ((-pos).max(Qty::ZERO).min(o.count), o.price),
            BookSide::Ask => (pos.max(Qty::ZERO).min(o.count), o.price.complement()),
        };
        (o.count - closing).value_at(unit, Rounding::Up) + fee.taker_fee(o.count, o.price)
    }

    pub fn fault(&mut self, f: Fault) {
        match f {
            Fault::Disconnect => self.emit(Event::Disconnect),
            Fault::SeqGap => self.emit(Event::SeqGap),
            Fault::Freeze { ms } => self.emit(Event::Freeze { ms }),
            Fault::RateLimitBurst { count } => self.faults.rate_limit_burst += count,
            Fault::Latency { ms } => self.faults.latency_ms = ms,
            Fault::RejectOrders { count } => self.faults.reject_orders += count,
            Fault::PartialFills { count, ppm } => self.faults.partial = Some((count, ppm.min(1_000_000))),
            Fault::DropOrderRequests { count } => self.faults.drop_requests += count,
            Fault::DropOrderResponses { count } => self.faults.drop_responses += count,
            Fault::DelayOrderRequests { count, ms } => {
                self.faults.delay_requests += count;
                self.faults.delay_ms = ms;
            }
            // Polymarket-only faults mean nothing here.
            Fault::EngineRestart { .. } | Fault::FailTrades { .. } => {}
        }
    }

    /// Place a V2 order for `owner`; the V2 create response on success.
    pub fn place(&mut self, owner: &str, o: OrderInput) -> Result<Value, ApiError> {
        if self.faults.reject_orders > 0 {
            self.faults.reject_orders -= 1;
            return Err(ApiError::new(400, "order_rejected", "order rejected", "simulated rejection"));
        }
        let Some(m) = self.markets.get(&o.ticker) else {
            return Err(ApiError::new(404, "market_not_found", "market not found", o.ticker.clone()));
        };
        if m.status != "active" {
            return Err(ApiError::new(400, "market_closed", "market is not open for trading", m.status.clone()));
        }
        if !m.on_grid(o.price) || o.price <= Price::ZERO || o.price >= Price::ONE {
            return Err(ApiError::new(
                400,
                "invalid_order",
                "invalid order",
                "price is not on the market's price grid",
            ));
        }
        if !o.count.is_positive() || o.count.micros() % 10_000 != 0 {
            return Err(ApiError::new(
                400,
                "invalid_order",
                "invalid order",
                "count must be a positive multiple of 0.01",
            ));
        }
        if !m.spec.fractional && o.count.micros() % 1_000_000 != 0 {
            return Err(ApiError::new(400, "invalid_order", "invalid order", "fractional contracts are not enabled"));
        }
        if let Some(c) = &o.client_order_id
            && self.orders.values().any(|r| r.owner == owner && r.client_order_id.as_ref() == Some(c))
        {
            return Err(ApiError::new(409, "order_already_exists", "order already exists", c.clone()));
        }
        let fee = m.fee;
        if self.max_cost(owner, &o, &fee) > self.account_cash(owner) {
            return Err(ApiError::new(400, "insufficient_balance", "insufficient balance", ""));
        }
        // A partial-fill fault lets only part of a taker order match; the rest is cancelled.
        let mut qty = o.count;
        let mut tif = o.tif;
        if let Some((count, ppm)) = self.faults.partial {
            let part = Qty::from_micros((o.count.micros() as i128 * ppm as i128 / 1_000_000) as i64).floor_to(10_000);
            self.faults.partial = if count > 1 { Some((count - 1, ppm)) } else { None };
            qty = part;
            tif = Tif::ImmediateOrCancel;
        }
        let id = self.next_id;
        self.next_id += 1;
        let uuid = self.uuid();
        let now = now_ms();
        let mut rec = OrderRec {
            uuid: uuid.clone(),
            owner: owner.to_string(),
            ticker: o.ticker.clone(),
            client_order_id: o.client_order_id.clone(),
            side: o.side,
            price: o.price,
            initial: o.count,
            filled: Qty::ZERO,
            remaining: Qty::ZERO,
            status: "canceled",
            taker_cost: Money::ZERO,
            maker_cost: Money::ZERO,
            taker_fees: Money::ZERO,
            maker_fees: Money::ZERO,
            created_ms: now,
            updated_ms: now,
        };
        let result = if qty.is_positive() {
            let m = self
                .markets
                .get_mut(&o.ticker)
                .ok_or_else(|| ApiError::new(404, "market_not_found", "market not found", ""))?;
            match m.book.submit(
                id,
                NewOrder {
                    owner: owner.to_string(),
                    client_order_id: o.client_order_id.clone(),
                    side: o.side,
                    price: o.price,
                    qty,
                    tif,
                    self_trade: o.self_trade,
                    post_only: o.post_only,
                },
            ) {
                Ok(r) => Some(r),
                // Kalshi kills an unfillable FOK: accepted, nothing filled, nothing rests.
                Err(RejectReason::FillOrKillUnfilled) => None,
                Err(RejectReason::PostOnlyWouldCross) => {
                    return Err(ApiError::new(400, "invalid_order", "invalid order", "post only cross"));
                }
                Err(e) => return Err(ApiError::new(400, "invalid_order", "invalid order", e.to_string())),
            }
        } else {
            None
        };
        let (trades, resting) = match &result {
            Some(r) => (r.trades.clone(), r.resting),
            None => (Vec::new(), Qty::ZERO),
        };
        rec.remaining = resting;
        rec.status = if resting.is_positive() {
            "resting"
        } else if trades.iter().map(|t| t.qty).sum::<Qty>() == o.count {
            "executed"
        } else {
            "canceled"
        };
        self.orders.insert(id, rec);
        self.order_ids.insert(uuid.clone(), id);
        self.settle_trades(&o.ticker, &trades, Some((id, fee)));
        if let Some(r) = &result {
            for gone in &r.cancelled_makers {
                if let Some(rec) = self.orders.get_mut(gone) {
                    rec.status = "canceled";
                    rec.remaining = Qty::ZERO;
                }
            }
        }
        self.sync_levels(&o.ticker);
        let rec = &self.orders[&id];
        let mut resp = json!({
            "order_id": rec.uuid,
            "client_order_id": rec.client_order_id.clone().unwrap_or_default(),
            "fill_count": fmt::count(rec.filled),
            "remaining_count": fmt::count(rec.remaining),
            "ts_ms": now,
        });
        if rec.filled.is_positive() {
            // Per-contract averages (YES price; fee), to 6 decimals, rounded down.
            let yes_value: Money = trades.iter().map(|t| t.qty.value_at(t.price, Rounding::Down)).sum();
            if let (Some(avg), Some(avg_fee)) = (
                yes_value.per_contract(rec.filled, Rounding::Down),
                rec.taker_fees.per_contract(rec.filled, Rounding::Down),
            ) {
                resp["average_fill_price"] = json!(avg.to_decimal_string(6).unwrap_or_default());
                resp["average_fee_paid"] = json!(avg_fee.to_decimal_string(6).unwrap_or_default());
            }
        }
        Ok(resp)
    }

    /// Book the trades of one match: positions, cash, fees, order records, fill messages.
    /// `taker`: the incoming order's id and fee schedule, when it belongs to an account.
    fn settle_trades(&mut self, ticker: &str, trades: &[crate::matching::Trade], taker: Option<(u64, FeeSchedule)>) {
        if trades.is_empty() {
            return;
        }
        let now = now_ms();
        let fee_sched = self.markets.get(ticker).map(|m| m.fee).unwrap_or_default();
        // The taker pays Kalshi's formula on the whole order, rounded up to the cent
        // once (the per-order rounding accumulator); each fill shows its share.
        let taker_fee_total = match &taker {
            Some((_, fee)) => exact_fee_ceil_cent(fee, trades, false),
            None => Money::ZERO,
        };
        let mut taker_fee_left = taker_fee_total;
        for (i, t) in trades.iter().enumerate() {
            let last = i + 1 == trades.len();
            if let Some((taker_id, _)) = &taker {
                let fee = if last {
                    taker_fee_left
                } else {
                    exact_fee_ceil(&fee_sched, t.qty, t.price, false, 100).min(taker_fee_left)
                };
                taker_fee_left -= fee;
                self.book_fill(*taker_id, ticker, t.qty, t.price, true, fee, now);
            }
            let maker_is_account = self.accounts.contains_key(&t.maker_owner);
            if maker_is_account {
                let fee = fee_sched.maker_fee(t.qty, t.price);
                self.book_fill(t.maker_order, ticker, t.qty, t.price, false, fee, now);
            }
        }
    }

    /// One side of one trade for an account's order.
    #[allow(clippy::too_many_arguments)]
    fn book_fill(
        &mut self,
        order_id: u64,
        ticker: &str,
        qty: Qty,
        yes_price: Price,
        is_taker: bool,
        fee: Money,
        now: i64,
    ) {
        let trade_id = self.uuid();
        let Some(rec) = self.orders.get_mut(&order_id) else { return };
        let side = rec.side;
        let owner = rec.owner.clone();
        let outcome_price = if side == BookSide::Bid { yes_price } else { yes_price.complement() };
        let cost = qty.value_at(outcome_price, Rounding::Up);
        rec.filled += qty;
        if is_taker {
            rec.taker_cost += cost;
            rec.taker_fees += fee;
        } else {
            rec.maker_cost += cost;
            rec.maker_fees += fee;
            rec.remaining -= qty;
            if rec.remaining.is_zero() {
                rec.status = "executed";
            }
        }
        rec.updated_ms = now;
        let coid = rec.client_order_id.clone();
        let uuid = rec.uuid.clone();
        let Some(acct) = self.accounts.get_mut(&owner) else { return };
        let pos = acct.positions.entry(ticker.to_string()).or_default();
        let old_collateral = (-pos.yes).max(Qty::ZERO).payout();
        let cash_before = acct.cash;
        match side {
            BookSide::Bid => {
                acct.cash -= qty.value_at(yes_price, Rounding::Up);
                pos.yes += qty;
            }
            BookSide::Ask => {
                acct.cash += qty.value_at(yes_price, Rounding::Down);
                pos.yes -= qty;
            }
        }
        let new_collateral = (-pos.yes).max(Qty::ZERO).payout();
        acct.cash -= new_collateral - old_collateral;
        pos.cost += cash_before - acct.cash;
        acct.cash -= fee;
        pos.fees_paid += fee;
        pos.traded += qty.value_at(yes_price, Rounding::Up);
        pos.updated_ms = now;
        let fill = FillRec {
            trade_id,
            order_uuid: uuid,
            client_order_id: coid,
            ticker: ticker.to_string(),
            count: qty,
            yes_price,
            is_taker,
            fee,
            side,
            post_position: pos.yes,
            ts_ms: now,
        };
        let msg = fill.ws_json();
        acct.fills.push(fill);
        self.emit(Event::Fill { owner, msg });
    }

    /// Cancel an account's resting order; the amount cancelled.
    pub fn cancel(&mut self, owner: &str, uuid: &str) -> Result<(OrderRec, Qty), ApiError> {
        let id = *self
            .order_ids
            .get(uuid)
            .ok_or_else(|| ApiError::new(404, "not_found", "order not found", uuid.to_string()))?;
        let rec = self.orders.get(&id).ok_or_else(|| ApiError::new(404, "not_found", "order not found", ""))?;
        if rec.owner != owner {
            return Err(ApiError::new(404, "not_found", "order not found", uuid.to_string()));
        }
        if rec.status != "resting" {
            return Err(ApiError::new(400, "order_not_resting", "order is not resting", rec.status.to_string()));
        }
        let ticker = rec.ticker.clone();
        if let Some(m) = self.markets.get_mut(&ticker) {
            if m.status != "active" {
                return Err(ApiError::new(400, "MARKET_INACTIVE", "market is not active", ""));
            }
            m.book.cancel(id);
        }
        let rec = self.orders.get_mut(&id).ok_or_else(|| ApiError::new(404, "not_found", "order not found", ""))?;
        let reduced = rec.remaining;
        rec.remaining = Qty::ZERO;
        rec.status = "canceled";
        rec.updated_ms = now_ms();
        let out = rec.clone();
        self.sync_levels(&ticker);
        Ok((out, reduced))
    }

    /// Resolve a market: cancel its resting orders, pay out positions.
    pub fn settle(&mut self, ticker: &str, result: SettleResult) -> bool {
        let Some(m) = self.markets.get_mut(ticker) else { return false };
        m.status = "finalized".into();
        m.result = match result {
            SettleResult::Yes => "yes",
            SettleResult::No => "no",
            SettleResult::Void => "void",
        }
        .into();
        let owners: Vec<String> = self.accounts.keys().cloned().collect();
        if let Some(m) = self.markets.get_mut(ticker) {
            m.book.cancel_all_of(MAKER);
            m.book.cancel_all_of(NOISE);
            for o in &owners {
                m.book.cancel_all_of(o);
            }
        }
        for rec in self.orders.values_mut().filter(|r| r.ticker == ticker && r.status == "resting") {
            rec.status = "canceled";
            rec.remaining = Qty::ZERO;
        }
        for acct in self.accounts.values_mut() {
            if let Some(pos) = acct.positions.get_mut(ticker) {
                let payout = match result {
                    SettleResult::Yes => pos.yes.max(Qty::ZERO).payout(),
                    SettleResult::No => (-pos.yes).max(Qty::ZERO).payout(),
                    SettleResult::Void => pos.cost.max(Money::ZERO),
                };
                acct.cash += payout;
                pos.realized += payout - pos.cost - pos.fees_paid;
                pos.yes = Qty::ZERO;
                pos.cost = Money::ZERO;
            }
        }
        self.sync_levels(ticker);
        let r = match result {
            SettleResult::Yes => "yes",
            SettleResult::No => "no",
            SettleResult::Void => "void",
        };
        let ts = now_ms() / 1000;
        self.emit(Event::Lifecycle {
            msg: json!({"market_ticker": ticker, "event_type": "determined", "result": r, "determination_ts": ts}),
        });
        self.emit(Event::Lifecycle {
            msg: json!({"market_ticker": ticker, "event_type": "settled", "settled_ts": ts}),
        });
        true
    }
}

/// Kalshi's fee on a set of fills at once, rounded up to the cent.
fn exact_fee_ceil_cent(fee: &FeeSchedule, trades: &[crate::matching::Trade], maker: bool) -> Money {
    // Sum exactly at scale 1e-28 dollars (coef 1e-6 x mult 1e-6 x qty 1e-6 x p(1-p) 1e-12 ... ) then ceil once.
    let FeeSchedule::Kalshi { taker_ppm, maker_ppm, multiplier_ppm } = *fee else {
        return trades
            .iter()
            .map(|t| if maker { fee.maker_fee(t.qty, t.price) } else { fee.taker_fee(t.qty, t.price) })
            .sum();
    };
    let coef = if maker { maker_ppm } else { taker_ppm } as i128 * multiplier_ppm as i128;
    let num: i128 = trades.iter().map(|t| coef * t.price.variance_micros2() * t.qty.micros().max(0) as i128).sum();
    // dollars = num / 1e30; cents = num / 1e28.
    let cents = arbytron_sdk::money::div_round(num, 10i128.pow(28), Rounding::Up);
    Money::from_micros((cents * 10_000) as i64)
}

/// The fee of one fill rounded up to `step` micro-dollars ($0.0001 = 100).
fn exact_fee_ceil(fee: &FeeSchedule, qty: Qty, price: Price, maker: bool, step: i64) -> Money {
    let FeeSchedule::Kalshi { taker_ppm, maker_ppm, multiplier_ppm } = *fee else { return Money::ZERO };
    let coef = if maker { maker_ppm } else { taker_ppm } as i128 * multiplier_ppm as i128;
    let num = coef * price.variance_micros2() * qty.micros().max(0) as i128;
    // micro-dollars = num / 1e24
    let units = arbytron_sdk::money::div_round(num, 10i128.pow(24) * step as i128, Rounding::Up);
    Money::from_micros((units * step as i128) as i64)
}
