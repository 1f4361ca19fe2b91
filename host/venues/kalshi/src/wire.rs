//! Kalshi's JSON shapes (REST and WebSocket), as of the 2026 fixed-point API.
//!
//! Amounts stay strings here and are parsed exactly where they are converted
//! into the model, so a bad value is reported with its field, not as a float.
//! Everything optional in practice is `Option`/`default`, so a missing field
//! never fails a whole page; fields we rely on are checked at conversion.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"error":{"code","message","details"}}`, or the same three at the top level
/// (unparseable request bodies), or `{"error":"too many requests"}` (429).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: String,
}

impl ErrorBody {
    /// Read `error.code` first and fall back to a top-level `code`.
    pub fn into_api_error(self) -> ApiError {
        match self.error {
            Some(Value::Object(map)) => {
                let s = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                ApiError { code: s("code"), message: s("message"), details: s("details") }
            }
            Some(Value::String(msg)) => ApiError { code: String::new(), message: msg, details: String::new() },
            _ => ApiError {
                code: self.code.unwrap_or_default(),
                message: self.message.unwrap_or_default(),
                details: self.details.unwrap_or_default(),
            },
        }
    }
}

// ---------------------------------------------------------------- market data

#[derive(Debug, Clone, Deserialize)]
pub struct SeriesResponse {
    pub series: Series,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Series {
    pub ticker: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub fee_type: String,
    /// A double on the wire; read as its JSON text and parsed exactly.
    #[serde(default)]
    pub fee_multiplier: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventsPage {
    #[serde(default)]
    pub events: Vec<Event>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub event_ticker: String,
    #[serde(default)]
    pub series_ticker: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub sub_title: String,
    #[serde(default)]
    pub mutually_exclusive: bool,
    #[serde(default)]
    pub markets: Option<Vec<Market>>,
    #[serde(default)]
    pub fee_type_override: Option<String>,
    #[serde(default)]
    pub fee_multiplier_override: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MarketsPage {
    #[serde(default)]
    pub markets: Vec<Market>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MarketResponse {
    pub market: Market,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct PriceRange {
    pub start: String,
    pub end: String,
    pub step: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Market {
    pub ticker: String,
    #[serde(default)]
    pub event_ticker: String,
    #[serde(default)]
    pub market_type: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub yes_sub_title: String,
    #[serde(default)]
    pub no_sub_title: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub close_time: Option<String>,
    #[serde(default)]
    pub rules_primary: String,
    #[serde(default)]
    pub price_level_structure: String,
    #[serde(default)]
    pub price_ranges: Vec<PriceRange>,
    #[serde(default)]
    pub fractional_trading_enabled: Option<bool>,
    #[serde(default)]
    pub yes_bid_dollars: Option<String>,
    #[serde(default)]
    pub yes_ask_dollars: Option<String>,
}

/// One `[price, count]` level. Current books send two strings (`["0.4200","13.00"]`);
/// transitional ones sent a dollar string with an integer count, and legacy
/// ones integer cents with an integer count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLevel {
    pub price: Value,
    pub count: Value,
}

impl<'de> Deserialize<'de> for RawLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawLevel, D::Error> {
        let (price, count) = <(Value, Value)>::deserialize(d)?;
        Ok(RawLevel { price, count })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderbookFp {
    #[serde(default)]
    pub yes_dollars: Option<Vec<RawLevel>>,
    #[serde(default)]
    pub no_dollars: Option<Vec<RawLevel>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderbookLegacy {
    #[serde(default)]
    pub yes: Option<Vec<RawLevel>>,
    #[serde(default)]
    pub no: Option<Vec<RawLevel>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderbookResponse {
    #[serde(default)]
    pub orderbook_fp: Option<OrderbookFp>,
    #[serde(default)]
    pub orderbook: Option<OrderbookLegacy>,
}

// ------------------------------------------------------------------- orders

/// `POST /portfolio/events/orders` body (V2: one YES book, one YES price).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreateOrderV2 {
    pub ticker: String,
    /// `bid` buys YES, `ask` sells YES (buying NO at 1 - price).
    pub side: String,
    pub count: String,
    pub price: String,
    pub time_in_force: String,
    pub self_trade_prevention_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<i64>,
}

/// The flat V2 create response.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
pub struct CreateOrderResponse {
    pub order_id: String,
    #[serde(default)]
    pub client_order_id: Option<String>,
    pub fill_count: String,
    pub remaining_count: String,
    #[serde(default)]
    pub average_fill_price: Option<String>,
    #[serde(default)]
    pub average_fee_paid: Option<String>,
    #[serde(default)]
    pub ts_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchCreateRequest<'a> {
    pub orders: &'a [CreateOrderV2],
}

#[derive(Debug, Clone, Deserialize)]
pub struct BatchCreateResponse {
    #[serde(default)]
    pub orders: Vec<BatchItem>,
}

/// One element of a batch answer: the created order's fields, or an `error`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchItem {
    #[serde(default)]
    pub client_order_id: Option<String>,
    #[serde(default)]
    pub error: Option<ApiError>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CancelResponse {
    pub order_id: String,
    #[serde(default)]
    pub client_order_id: Option<String>,
    #[serde(default)]
    pub reduced_by: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrdersPage {
    #[serde(default)]
    pub orders: Vec<Order>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderResponse {
    pub order: Order,
}

/// The order object of `GET /portfolio/orders`.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub order_id: String,
    #[serde(default)]
    pub client_order_id: Option<String>,
    pub ticker: String,
    /// `resting`, `canceled`, `executed`.
    #[serde(default)]
    pub status: String,
    /// `yes` / `no`: the contract this order buys.
    #[serde(default)]
    pub outcome_side: String,
    /// `bid` / `ask` on the YES book.
    #[serde(default)]
    pub book_side: String,
    #[serde(default)]
    pub yes_price_dollars: Option<String>,
    #[serde(default)]
    pub fill_count_fp: Option<String>,
    #[serde(default)]
    pub remaining_count_fp: Option<String>,
    #[serde(default)]
    pub initial_count_fp: Option<String>,
    #[serde(default)]
    pub taker_fees_dollars: Option<String>,
    #[serde(default)]
    pub maker_fees_dollars: Option<String>,
    #[serde(default)]
    pub taker_fill_cost_dollars: Option<String>,
    #[serde(default)]
    pub maker_fill_cost_dollars: Option<String>,
}

// ---------------------------------------------------------------- portfolio

#[derive(Debug, Clone, Deserialize)]
pub struct FillsPage {
    #[serde(default)]
    pub fills: Vec<Fill>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A REST fill (`/portfolio/fills`).
#[derive(Debug, Clone, Deserialize)]
pub struct Fill {
    #[serde(alias = "trade_id")]
    pub fill_id: String,
    pub order_id: String,
    #[serde(alias = "market_ticker")]
    pub ticker: String,
    pub count_fp: String,
    pub yes_price_dollars: String,
    #[serde(default)]
    pub is_taker: bool,
    #[serde(default)]
    pub fee_cost: Option<String>,
    #[serde(default)]
    pub outcome_side: String,
    #[serde(default)]
    pub book_side: String,
    #[serde(default)]
    pub ts: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PositionsPage {
    #[serde(default)]
    pub market_positions: Vec<MarketPosition>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MarketPosition {
    pub ticker: String,
    /// Signed: + YES, - NO.
    pub position_fp: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Balance {
    /// Integer cents.
    #[serde(default)]
    pub balance: Option<i64>,
    #[serde(default)]
    pub balance_dollars: Option<String>,
}

// ---------------------------------------------------------------- WebSocket

/// Every server message: `{type, id?, sid?, seq?, msg?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct WsEnvelope {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub sid: Option<u64>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub msg: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WsSnapshot {
    pub market_ticker: String,
    #[serde(default)]
    pub yes_dollars_fp: Option<Vec<RawLevel>>,
    #[serde(default)]
    pub no_dollars_fp: Option<Vec<RawLevel>>,
    /// Transitional shapes, read only when the `_fp` arrays are absent.
    #[serde(default)]
    pub yes_dollars: Option<Vec<RawLevel>>,
    #[serde(default)]
    pub no_dollars: Option<Vec<RawLevel>>,
    #[serde(default)]
    pub yes: Option<Vec<RawLevel>>,
    #[serde(default)]
    pub no: Option<Vec<RawLevel>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WsDelta {
    pub market_ticker: String,
    pub price_dollars: String,
    pub delta_fp: String,
    pub side: String,
    #[serde(default)]
    pub ts_ms: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WsFill {
    pub trade_id: String,
    pub order_id: String,
    #[serde(default)]
    pub client_order_id: Option<String>,
    pub market_ticker: String,
    #[serde(default)]
    pub is_taker: bool,
    pub yes_price_dollars: String,
    pub count_fp: String,
    #[serde(default)]
    pub fee_cost: Option<String>,
    #[serde(default)]
    pub outcome_side: String,
    #[serde(default)]
    pub book_side: String,
    #[serde(default)]
    pub ts_ms: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WsLifecycle {
    pub market_ticker: String,
    pub event_type: String,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub is_deactivated: Option<bool>,
    /// Unix seconds.
    #[serde(default)]
    pub close_ts: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WsError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub msg: String,
}
