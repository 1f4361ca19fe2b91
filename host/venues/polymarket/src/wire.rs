//! The venue's JSON, as it arrives. Every type here is only a shape; turning it
//! into exact numbers and model types happens in the modules that use it, where
//! a bad value is counted and dropped.
//!
//! Numbers the venue sends as strings stay strings here, and fields that are
//! sometimes strings and sometimes numbers (`tick_size`, Gamma's
//! `orderPriceMinTickSize`) are kept as raw JSON values.

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- Gamma

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GammaEvent {
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub neg_risk: Option<bool>,
    #[serde(default)]
    pub enable_neg_risk: Option<bool>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub markets: Vec<GammaMarket>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GammaMarket {
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default)]
    pub question: Option<String>,
    #[serde(default)]
    pub condition_id: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub group_item_title: Option<String>,
    /// JSON arrays inside strings: `"[\"Yes\", \"No\"]"`.
    #[serde(default)]
    pub outcomes: Option<String>,
    #[serde(default)]
    pub outcome_prices: Option<String>,
    #[serde(default)]
    pub clob_token_ids: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub closed: Option<bool>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub accepting_orders: Option<bool>,
    #[serde(default)]
    pub enable_order_book: Option<bool>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub order_price_min_tick_size: Option<Value>,
    #[serde(default)]
    pub order_min_size: Option<Value>,
    #[serde(default)]
    pub neg_risk: Option<bool>,
    #[serde(default)]
    pub fees_enabled: Option<bool>,
    #[serde(default)]
    pub fee_schedule: Option<GammaFeeSchedule>,
    #[serde(default)]
    pub uma_resolution_status: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GammaFeeSchedule {
    #[serde(default)]
    pub rate: Option<Value>,
    #[serde(default)]
    pub exponent: Option<Value>,
    #[serde(default)]
    pub taker_only: Option<bool>,
    #[serde(default)]
    pub rebate_rate: Option<Value>,
}

/// Ids arrive as strings on some endpoints and numbers on others.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(serde::de::Error::custom("expected a string or a number")),
    }
}

/// A JSON value that should hold a decimal: its text, whether string or number.
pub fn decimal_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------- CLOB REST

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct WireLevel {
    pub price: String,
    pub size: String,
}

/// `GET /book` and the market channel's `book` event share this shape.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WireBook {
    #[serde(default)]
    pub market: String,
    pub asset_id: String,
    #[serde(default)]
    pub timestamp: Option<Value>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub bids: Vec<WireLevel>,
    #[serde(default)]
    pub asks: Vec<WireLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_order_size: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_size: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neg_risk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trade_price: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VersionResponse {
    pub version: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TickSizeResponse {
    pub minimum_tick_size: Value,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NegRiskResponse {
    pub neg_risk: bool,
}

/// `GET /clob-markets/{conditionId}`: the compact V2 market record.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ClobMarket {
    #[serde(default)]
    pub c: String,
    #[serde(default)]
    pub t: Vec<ClobToken>,
    #[serde(default)]
    pub mts: Option<Value>,
    #[serde(default)]
    pub mos: Option<Value>,
    #[serde(default)]
    pub nr: Option<bool>,
    #[serde(default)]
    pub fd: Option<ClobFee>,
    #[serde(default)]
    pub ao: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ClobToken {
    pub t: String,
    #[serde(default)]
    pub o: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ClobFee {
    #[serde(default)]
    pub r: Option<Value>,
    #[serde(default)]
    pub e: Option<Value>,
    #[serde(default)]
    pub to: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ApiKeyResponse {
    #[serde(rename = "apiKey")]
    pub api_key: String,
    pub secret: String,
    pub passphrase: String,
}

/// `POST /order` (and each element of `POST /orders`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OrderResponse {
    #[serde(default)]
    pub success: bool,
    #[serde(default, alias = "error_msg", rename = "errorMsg")]
    pub error_msg: String,
    #[serde(default, rename = "orderID")]
    pub order_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, rename = "makingAmount")]
    pub making_amount: String,
    #[serde(default, rename = "takingAmount")]
    pub taking_amount: String,
    #[serde(default, rename = "transactionsHashes")]
    pub transactions_hashes: Vec<String>,
    #[serde(default, rename = "tradeIDs")]
    pub trade_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CancelResponse {
    #[serde(default)]
    pub canceled: Vec<String>,
    #[serde(default)]
    pub not_canceled: serde_json::Map<String, Value>,
}

/// Cursor-paged list (`/data/orders`, `/data/trades`): first `MA==`, last `LTE=`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub next_cursor: String,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub count: Option<u64>,
}

pub const FIRST_CURSOR: &str = "MA==";
pub const END_CURSOR: &str = "LTE=";

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WireOpenOrder {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub maker_address: String,
    #[serde(default)]
    pub market: String,
    pub asset_id: String,
    pub side: String,
    pub original_size: String,
    #[serde(default)]
    pub size_matched: String,
    pub price: String,
    #[serde(default)]
    pub associate_trades: Vec<String>,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub created_at: Option<Value>,
    #[serde(default)]
    pub expiration: Option<Value>,
    #[serde(default)]
    pub order_type: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WireMakerOrder {
    pub order_id: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub maker_address: String,
    pub matched_amount: String,
    pub price: String,
    #[serde(default)]
    pub fee_rate_bps: Option<Value>,
    pub asset_id: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub side: Option<String>,
}

/// A trade, from `/data/trades` or the user channel's `trade` event.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WireTrade {
    pub id: String,
    #[serde(default)]
    pub taker_order_id: String,
    #[serde(default)]
    pub market: String,
    pub asset_id: String,
    pub side: String,
    pub size: String,
    #[serde(default)]
    pub fee_rate_bps: Option<Value>,
    pub price: String,
    pub status: String,
    #[serde(default)]
    pub match_time: Option<Value>,
    #[serde(default)]
    pub matchtime: Option<Value>,
    #[serde(default)]
    pub last_update: Option<Value>,
    #[serde(default)]
    pub outcome: String,
    /// The taker's API key.
    #[serde(default)]
    pub owner: String,
    /// The API key this copy of the trade is for (user channel).
    #[serde(default)]
    pub trade_owner: Option<String>,
    #[serde(default)]
    pub maker_address: String,
    #[serde(default)]
    pub maker_orders: Vec<WireMakerOrder>,
    #[serde(default)]
    pub transaction_hash: Option<String>,
    #[serde(default)]
    pub trader_side: Option<String>,
    #[serde(default)]
    pub timestamp: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct BalanceResponse {
    pub balance: Value,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

// ---------------------------------------------------------------- WebSocket

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct WirePriceChange {
    pub asset_id: String,
    pub price: String,
    /// The level's new total; `"0"` removes it.
    pub size: String,
    pub side: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_bid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_ask: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WirePriceChangeMsg {
    #[serde(default)]
    pub market: String,
    #[serde(default)]
    pub timestamp: Option<Value>,
    #[serde(default)]
    pub price_changes: Vec<WirePriceChange>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WireTickSizeChange {
    pub asset_id: String,
    #[serde(default)]
    pub market: String,
    #[serde(default)]
    pub old_tick_size: Option<Value>,
    pub new_tick_size: Value,
    #[serde(default)]
    pub timestamp: Option<Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WireLastTrade {
    pub asset_id: String,
    #[serde(default)]
    pub market: String,
    pub price: String,
    #[serde(default)]
    pub side: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub fee_rate_bps: Option<Value>,
    #[serde(default)]
    pub timestamp: Option<Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WireMarketResolved {
    #[serde(default)]
    pub market: String,
    #[serde(default)]
    pub winning_asset_id: Option<String>,
    #[serde(default)]
    pub winning_outcome: Option<String>,
    #[serde(default)]
    pub timestamp: Option<Value>,
}

/// One market-channel event.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "event_type", rename_all = "snake_case")]
pub enum MarketEvent {
    Book(WireBook),
    PriceChange(WirePriceChangeMsg),
    TickSizeChange(WireTickSizeChange),
    LastTradePrice(WireLastTrade),
    MarketResolved(WireMarketResolved),
    /// `best_bid_ask`, `new_market` and whatever comes next: not needed for books.
    #[serde(other)]
    Other,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WireOrderEvent {
    pub id: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub asset_id: String,
    #[serde(default)]
    pub market: String,
    #[serde(default)]
    pub side: String,
    #[serde(default)]
    pub price: String,
    #[serde(default)]
    pub original_size: String,
    #[serde(default)]
    pub size_matched: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub timestamp: Option<Value>,
}

/// One user-channel event.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "event_type", rename_all = "snake_case")]
pub enum UserEvent {
    Trade(Box<WireTrade>),
    Order(Box<WireOrderEvent>),
    #[serde(other)]
    Other,
}

/// Why a frame could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not JSON or wrong shape: {0}")]
    Json(String),
    #[error("empty frame")]
    Empty,
}

/// Decode a frame that may hold one event or a JSON array of them.
///
/// `PONG` and other bare heartbeats are not events: they decode to nothing.
pub fn decode_events<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, DecodeError> {
    let t = text.trim_start();
    match t.as_bytes().first() {
        None => Err(DecodeError::Empty),
        Some(b'[') => serde_json::from_str::<Vec<T>>(t).map_err(|e| DecodeError::Json(e.to_string())),
        Some(b'{') => serde_json::from_str::<T>(t).map(|e| vec![e]).map_err(|e| DecodeError::Json(e.to_string())),
        _ if is_heartbeat(t) => Ok(Vec::new()),
        _ => Err(DecodeError::Json("neither an object nor an array".into())),
    }
}

/// The server's heartbeat answers.
pub fn is_heartbeat(text: &str) -> bool {
    matches!(text.trim(), "PONG" | "PING")
}

/// A timestamp that may be a number or a numeric string (ms).
pub fn timestamp_ms(v: &Option<Value>) -> Option<i64> {
    match v.as_ref()? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parse one of Gamma's JSON-array-in-a-string fields.
pub fn string_array(field: &Option<String>) -> Result<Vec<String>, String> {
    let s = field.as_deref().ok_or("missing")?;
    let values: Vec<Value> = serde_json::from_str(s).map_err(|e| format!("not a JSON array: {e}"))?;
    values.into_iter().map(|v| decimal_text(&v).ok_or_else(|| "array element is not a string".to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_single_and_batched_frames() {
        let one = r#"{"event_type":"price_change","market":"0xabc","timestamp":"1","price_changes":[{"asset_id":"1","price":".48","size":"0","side":"BUY"}]}"#;
        let evs: Vec<MarketEvent> = decode_events(one).unwrap();
        assert!(matches!(&evs[0], MarketEvent::PriceChange(m) if m.price_changes[0].price == ".48"));
        let many = format!("[{one},{{\"event_type\":\"best_bid_ask\",\"market\":\"x\"}}]");
        let evs: Vec<MarketEvent> = decode_events(&many).unwrap();
        assert_eq!(evs.len(), 2);
        assert!(matches!(evs[1], MarketEvent::Other));
        assert!(decode_events::<MarketEvent>("PONG").unwrap().is_empty());
        assert!(decode_events::<MarketEvent>("{\"event_type\":\"book\"}").is_err());
        assert!(decode_events::<MarketEvent>("nope").is_err());
    }

    #[test]
    fn gamma_string_arrays_double_decode() {
        let m: GammaMarket = serde_json::from_str(
            r#"{"id":"559651","outcomes":"[\"Yes\", \"No\"]","clobTokenIds":"[\"123\", \"456\"]","outcomePrices":"[\"0.5\",\"0.5\"]"}"#,
        )
        .unwrap();
        assert_eq!(string_array(&m.outcomes).unwrap(), vec!["Yes", "No"]);
        assert_eq!(string_array(&m.clob_token_ids).unwrap(), vec!["123", "456"]);
        assert!(string_array(&Some("[1,".into())).is_err());
        assert!(string_array(&None).is_err());
    }
}
