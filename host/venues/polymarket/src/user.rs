//! Our trades: the user channel, their settlement states, and a ledger that
//! never counts a trade the chain refused.
//!
//! A Polymarket trade is MATCHED by the operator, then MINED and CONFIRMED on
//! chain, or RETRYING and maybe FAILED. Only CONFIRMED is final; FAILED means
//! it never happened. The same trade id arrives once per state.

use std::collections::HashMap;
use std::sync::Arc;

use arbytron_integration::ws::{self, Conn, Flow, Why};
use tokio::sync::mpsc;

use arbytron_model::venue::{Action, FillEvent, FillState, VenuePosition};
use arbytron_model::{FeeSchedule, MarketKey, Money, Price, Qty, Side};
use arbytron_sdk::Rounding;

use crate::amounts::OrderSide;
use crate::clob::ClobClient;
use crate::config::Config;
use crate::markets::{Registry, VENUE};
use crate::metrics;
use crate::signing::ApiCreds;
use crate::wire::{UserEvent, WireTrade, decimal_text, decode_events, timestamp_ms};

const SOURCE: &str = "polymarket-ws-user";

/// Ten billion shares: no real fill comes near it.
const MAX_FILL: Qty = Qty::from_contracts(10_000_000_000);

pub fn parse_state(s: &str) -> Option<FillState> {
    let s = s.trim().to_ascii_uppercase();
    let s = s.strip_prefix("TRADE_STATUS_").unwrap_or(&s);
    match s {
        "MATCHED" => Some(FillState::Matched),
        "MINED" => Some(FillState::Mined),
        "CONFIRMED" => Some(FillState::Confirmed),
        "RETRYING" => Some(FillState::Retrying),
        "FAILED" => Some(FillState::Failed),
        _ => None,
    }
}

/// Seconds or milliseconds, as the venue mixes them, to milliseconds.
fn to_ms(v: i64) -> i64 {
    if v < 100_000_000_000 { v.saturating_mul(1000) } else { v }
}

/// The taker fee the venue charges on one fill: the trade's own `fee_rate_bps`
/// when present, else the market's schedule.
fn taker_fee(trade_rate_bps: Option<&serde_json::Value>, schedule: FeeSchedule, qty: Qty, price: Price) -> Money {
    let exponent = match schedule {
        FeeSchedule::Polymarket { exponent, .. } => exponent,
        _ => 1,
    };
    let from_trade = trade_rate_bps.and_then(decimal_text).and_then(|s| s.trim().parse::<u32>().ok());
    let schedule = match from_trade {
        Some(0) => FeeSchedule::None,
        Some(bps) => FeeSchedule::Polymarket { rate_ppm: bps.saturating_mul(100), exponent },
        None => schedule,
    };
    schedule.taker_fee(qty, price)
}

/// Our fills in one venue trade (one as taker, or one per maker order of ours).
pub fn fills_from_trade(
    t: &WireTrade,
    api_key: &str,
    maker_address: Option<&str>,
    registry: &Registry,
) -> Result<Vec<FillEvent>, String> {
    let state = parse_state(&t.status).ok_or_else(|| format!("unknown trade status {:?}", t.status))?;
    let ts = [&t.match_time, &t.matchtime, &t.last_update, &t.timestamp]
        .into_iter()
        .find_map(timestamp_ms)
        .map(to_ms)
        .unwrap_or_else(crate::http::unix_millis);
    let taker_side = OrderSide::parse(&t.side).ok_or_else(|| format!("bad side {:?}", t.side))?;
    let ours = |owner: &str, address: &str| {
        owner == api_key || maker_address.is_some_and(|a| !a.is_empty() && a.eq_ignore_ascii_case(address))
    };
    let we_are_maker = match t.trader_side.as_deref() {
        Some("MAKER") => true,
        Some("TAKER") => false,
        _ => !ours(&t.owner, "") && t.maker_orders.iter().any(|m| ours(&m.owner, &m.maker_address)),
    };
    let mut out = Vec::new();
    let mut push = |trade_id: String,
                    order_id: &str,
                    asset: &str,
                    side: OrderSide,
                    size: &str,
                    price: &str,
                    fee_rate: Option<&serde_json::Value>,
                    taker: bool|
     -> Result<(), String> {
        let token = registry.token(asset).ok_or_else(|| format!("unknown asset {asset}"))?;
        let quantity = Qty::parse_non_negative(size).map_err(|e| format!("size: {e}"))?;
        // Far beyond any real trade; keeps every sum the ledger takes exact.
        if quantity > MAX_FILL {
            return Err(format!("size {quantity} is implausible"));
        }
        let price = Price::parse(price).map_err(|e| format!("price: {e}"))?;
        let schedule = registry.get(&token.market.symbol).map(|i| i.fee).unwrap_or_default();
        let fee = if taker { taker_fee(fee_rate, schedule, quantity, price) } else { Money::ZERO };
        out.push(FillEvent {
            venue: VENUE,
            trade_id,
            venue_order_id: order_id.to_string(),
            client_order_id: None,
            market: token.market,
            side: token.side,
            action: match side {
                OrderSide::Buy => Action::Buy,
                OrderSide::Sell => Action::Sell,
            },
            quantity,
            price,
            fee,
            state,
            ts,
        });
        Ok(())
    };
    if we_are_maker {
        for m in t.maker_orders.iter().filter(|m| ours(&m.owner, &m.maker_address)) {
            let side = match m.side.as_deref().and_then(OrderSide::parse) {
                Some(s) => s,
                // Same token as the taker: the other side of it. The other
                // token: the same side (a mint or a merge).
                None if m.asset_id == t.asset_id => match taker_side {
                    OrderSide::Buy => OrderSide::Sell,
                    OrderSide::Sell => OrderSide::Buy,
                },
                None => taker_side,
            };
            push(
                format!("{}/{}", t.id, m.order_id),
                &m.order_id,
                &m.asset_id,
                side,
                &m.matched_amount,
                &m.price,
                None,
                false,
            )?;
        }
    } else {
        push(
            t.id.clone(),
            &t.taker_order_id,
            &t.asset_id,
            taker_side,
            &t.size,
            &t.price,
            t.fee_rate_bps.as_ref(),
            true,
        )?;
    }
    Ok(out)
}

/// What a ledger did with an event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LedgerChange {
    /// Already known in this state, or arriving after the trade was final.
    Ignored,
    /// First sight of the trade (it now counts, unless it arrived FAILED).
    New,
    /// A later state; the fill still counts.
    Advanced,
    /// The trade FAILED: what it added is taken back out.
    Reverted,
}

/// Positions and cash from fills, counting a trade from MATCHED until it
/// FAILS; split into what is final (CONFIRMED) and what is still pending.
#[derive(Clone, Debug, Default)]
pub struct FillLedger {
    fills: HashMap<String, FillEvent>,
}

/// One market's position as the ledger sees it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerPosition {
    /// YES contracts (NO negative) from CONFIRMED trades.
    pub confirmed: Qty,
    /// YES contracts from trades matched but not yet final.
    pub pending: Qty,
    /// Cash from CONFIRMED trades (paid negative), fees included.
    pub confirmed_cash: Money,
    pub pending_cash: Money,
}

impl LedgerPosition {
    /// Everything that has not failed: what risk must count.
    pub fn exposure(&self) -> Qty {
        self.confirmed + self.pending
    }
}

fn signed_yes(f: &FillEvent) -> Qty {
    match (f.side, f.action) {
        (Side::Yes, Action::Buy) | (Side::No, Action::Sell) => f.quantity,
        (Side::Yes, Action::Sell) | (Side::No, Action::Buy) => -f.quantity,
    }
}

fn cash(f: &FillEvent) -> Money {
    match f.action {
        Action::Buy => -f.quantity.value_at(f.price, Rounding::Up) - f.fee,
        Action::Sell => f.quantity.value_at(f.price, Rounding::Down) - f.fee,
    }
}

impl FillLedger {
    pub fn new() -> FillLedger {
        FillLedger::default()
    }

    pub fn apply(&mut self, ev: &FillEvent) -> LedgerChange {
        match self.fills.get_mut(&ev.trade_id) {
            None => {
                self.fills.insert(ev.trade_id.clone(), ev.clone());
                LedgerChange::New
            }
            Some(known) if known.state.is_final() || known.state == ev.state => LedgerChange::Ignored,
            Some(known) => {
                known.state = ev.state;
                if ev.state == FillState::Failed { LedgerChange::Reverted } else { LedgerChange::Advanced }
            }
        }
    }

    pub fn state(&self, trade_id: &str) -> Option<FillState> {
        self.fills.get(trade_id).map(|f| f.state)
    }

    pub fn position(&self, market: &MarketKey) -> LedgerPosition {
        let mut p = LedgerPosition::default();
        for f in self.fills.values().filter(|f| &f.market == market) {
            match f.state {
                FillState::Failed => {}
                FillState::Confirmed => {
                    p.confirmed += signed_yes(f);
                    p.confirmed_cash += cash(f);
                }
                _ => {
                    p.pending += signed_yes(f);
                    p.pending_cash += cash(f);
                }
            }
        }
        p
    }

    /// Positions counting every fill that has not failed, nonzero only.
    pub fn positions(&self) -> Vec<VenuePosition> {
        let mut by_market: HashMap<&MarketKey, Qty> = HashMap::new();
        for f in self.fills.values().filter(|f| f.state != FillState::Failed) {
            *by_market.entry(&f.market).or_default() += signed_yes(f);
        }
        let mut out: Vec<VenuePosition> = by_market
            .into_iter()
            .filter(|(_, q)| !q.is_zero())
            .map(|(m, q)| VenuePosition { market: m.clone(), yes_position: q })
            .collect();
        out.sort_by(|a, b| a.market.cmp(&b.market));
        out
    }
}

pub fn subscribe_message(creds: &ApiCreds, markets: &[String]) -> String {
    serde_json::json!({
        "auth": {
            "apiKey": creds.api_key,
            "secret": creds.secret.expose(),
            "passphrase": creds.passphrase.expose(),
        },
        "markets": markets,
        "type": "user",
    })
    .to_string()
}

/// Decode one user-channel frame into our fills; malformed frames are counted and dropped.
pub fn decode_user_frame(text: &str, api_key: &str, maker: Option<&str>, registry: &Registry) -> Vec<FillEvent> {
    let events = match decode_events::<UserEvent>(text) {
        Ok(e) => e,
        Err(_) => {
            arbytron_telemetry::malformed(SOURCE, "decode", text);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for ev in events {
        if let UserEvent::Trade(t) = ev {
            match fills_from_trade(&t, api_key, maker, registry) {
                Ok(f) => out.extend(f),
                Err(reason) => arbytron_telemetry::malformed(SOURCE, "trade", &format!("{reason}: {}", t.id)),
            }
        }
    }
    out
}

/// The user channel as a WebSocket handler.
struct UserChannel {
    creds: ApiCreds,
    maker: String,
    clob: Arc<ClobClient>,
    registry: Arc<Registry>,
    tx: mpsc::Sender<FillEvent>,
    first: bool,
}

impl ws::Handler for UserChannel {
    async fn on_open(&mut self, conn: &mut Conn<'_>) -> Flow {
        if let Err(e) = conn.send_text(subscribe_message(&self.creds, &[])).await {
            return Flow::Reconnect(Why::failed("send", e.to_string()));
        }
        // State changes that happened while we were away.
        if !self.first {
            catch_up(&self.clob, &self.creds.api_key, &self.maker, &self.registry, &self.tx).await;
        }
        self.first = false;
        conn.healthy();
        Flow::Continue
    }

    async fn on_text(&mut self, text: &str, _conn: &mut Conn<'_>) -> Flow {
        for f in decode_user_frame(text, &self.creds.api_key, Some(&self.maker), &self.registry) {
            metrics::FILLS.with_label_values(&[state_label(f.state)]).inc();
            if self.tx.send(f).await.is_err() {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    fn is_heartbeat(&self, text: &str) -> bool {
        crate::wire::is_heartbeat(text)
    }

    async fn on_disconnect(&mut self, _why: &Why) -> Flow {
        if self.tx.is_closed() { Flow::Stop } else { Flow::Continue }
    }
}

/// Stream our fills into `tx` until it closes; on every reconnect, catch up
/// from `/data/trades` so no state change is lost while disconnected.
pub async fn run_user_channel(
    cfg: Config,
    creds: ApiCreds,
    maker: String,
    clob: Arc<ClobClient>,
    registry: Arc<Registry>,
    tx: mpsc::Sender<FillEvent>,
) {
    let ws_cfg = crate::feed::ws_config(&cfg, "user");
    let watch = tx.clone();
    let mut channel = UserChannel { creds, maker, clob, registry, tx, first: true };
    ws::run(&ws_cfg, &mut channel, async move { watch.closed().await }).await;
}

async fn catch_up(clob: &ClobClient, api_key: &str, maker: &str, registry: &Registry, tx: &mpsc::Sender<FillEvent>) {
    match clob.trades(&[]).await {
        Ok(trades) => {
            for t in trades {
                match fills_from_trade(&t, api_key, Some(maker), registry) {
                    Ok(fills) => {
                        for f in fills {
                            if tx.send(f).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(reason) => arbytron_telemetry::malformed("polymarket-rest", "trade", &reason),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not catch up on trades after reconnect"),
    }
}

pub fn state_label(s: FillState) -> &'static str {
    match s {
        FillState::Matched => "matched",
        FillState::Mined => "mined",
        FillState::Confirmed => "confirmed",
        FillState::Retrying => "retrying",
        FillState::Failed => "failed",
    }
}
