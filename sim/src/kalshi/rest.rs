//! The REST half: Kalshi's paths and JSON, behind a gate that does what the
//! real edge does (latency, 429s, signature checks, per-key token buckets).

use std::collections::BTreeMap;
use std::sync::Arc;

use arbytron_sdk::{Price, Qty};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::auth::now_ms;
use super::exchange::{ApiError, OrderInput};
use super::{Inner, RequestRecord, fmt};
use crate::matching::{BookSide, SelfTrade, Tif};

const PREFIX: &str = "/trade-api/v2";

type Shared = Arc<Inner>;
type Q = Query<BTreeMap<String, String>>;

/// The authenticated key id, if the request was signed.
#[derive(Clone, Debug)]
pub struct Caller(pub Option<String>);

/// A per-key token bucket (no debt: a request that does not fit gets 429).
#[derive(Debug)]
pub struct Bucket {
    micro: i64,
    last: Instant,
}

fn err(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(e.body())).into_response()
}

fn bad_request(details: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"code": "bad_request", "message": "bad request", "details": details.into()})))
        .into_response()
}

fn too_many() -> Response {
    (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": "too many requests"}))).into_response()
}

pub fn router(inner: Shared) -> Router {
    let api = Router::new()
        .route("/exchange/status", get(exchange_status))
        .route("/series", get(series_list))
        .route("/series/{ticker}", get(series_one))
        .route("/events", get(events))
        .route("/events/{ticker}", get(event_one))
        .route("/markets", get(markets))
        .route("/markets/{ticker}", get(market_one))
        .route("/markets/{ticker}/orderbook", get(orderbook))
        .route("/portfolio/events/orders", post(create_order))
        .route("/portfolio/events/orders/batched", post(batch_create))
        .route("/portfolio/events/orders/{id}", delete(cancel_order))
        .route("/portfolio/orders", get(list_orders).post(v1_gone))
        .route("/portfolio/orders/{id}", get(order_one))
        .route("/portfolio/fills", get(fills))
        .route("/portfolio/positions", get(positions))
        .route("/portfolio/balance", get(balance));
    Router::new().nest(PREFIX, api).layer(middleware::from_fn_with_state(inner.clone(), gate)).with_state(inner)
}

/// What a request costs and which bucket pays: writes are order entry.
fn cost_of(method: &Method, path: &str, body: &[u8]) -> (bool, u32) {
    let rel = path.strip_prefix(PREFIX).unwrap_or(path);
    if rel.starts_with("/portfolio/events/orders") && *method != Method::GET {
        if rel.ends_with("/batched") && *method == Method::POST {
            let n = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("orders").and_then(Value::as_array).map(Vec::len))
                .unwrap_or(1);
            return (true, 10 * n.max(1) as u32);
        }
        if *method == Method::DELETE {
            return (true, 2);
        }
        return (true, 10);
    }
    (false, 10)
}

async fn gate(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let latency = s.ex.lock().faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 8 << 20).await else { return bad_request("body too large") };
    let path = parts.uri.path().to_string();
    let method = parts.method.clone();
    let (write, cost) = cost_of(&method, &path, &bytes);
    let mut record = RequestRecord {
        at: Instant::now(),
        key_id: None,
        method: method.to_string(),
        path: path.clone(),
        write,
        cost,
        over_budget: false,
        injected_429: false,
    };
    // Scripted 429 bursts come first: the real edge refuses before anything else.
    {
        let mut ex = s.ex.lock();
        if ex.faults.rate_limit_burst > 0 {
            ex.faults.rate_limit_burst -= 1;
            drop(ex);
            record.injected_429 = true;
            s.requests.lock().push(record);
            return too_many();
        }
    }
    let h = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let signed = h("KALSHI-ACCESS-KEY").is_some() || h("KALSHI-ACCESS-SIGNATURE").is_some();
    let needs_auth = path.starts_with(&format!("{PREFIX}/portfolio"));
    let caller = if signed || needs_auth {
        match s.keys.verify(
            h("KALSHI-ACCESS-KEY"),
            h("KALSHI-ACCESS-TIMESTAMP"),
            h("KALSHI-ACCESS-SIGNATURE"),
            method.as_str(),
            &path,
            now_ms(),
        ) {
            Ok(k) => Some(k),
            Err(f) => {
                s.requests.lock().push(record);
                return err(ApiError::new(401, "authentication_error", "authentication failed", f.details()));
            }
        }
    } else {
        None
    };
    record.key_id = caller.clone();
    if let Some(budget) = s.opts.rate_limits {
        let (rate, cap) =
            if write { (budget.write_per_s, budget.write_capacity) } else { (budget.read_per_s, budget.read_capacity) };
        let key = (caller.clone().unwrap_or_else(|| "anonymous".into()), write);
        let mut buckets = s.buckets.lock();
        let b = buckets.entry(key).or_insert_with(|| Bucket { micro: cap as i64 * 1_000_000, last: Instant::now() });
        let now = Instant::now();
        let refill = (now.saturating_duration_since(b.last).as_micros() as i64).saturating_mul(rate as i64);
        b.micro = (b.micro.saturating_add(refill)).min(cap as i64 * 1_000_000);
        b.last = now;
        if b.micro < cost as i64 * 1_000_000 {
            drop(buckets);
            record.over_budget = true;
            s.requests.lock().push(record);
            return too_many();
        }
        b.micro -= cost as i64 * 1_000_000;
    }
    s.requests.lock().push(record);
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(Caller(caller));
    next.run(req).await
}

/// Why a request was refused before reaching the exchange.
enum Refusal {
    Api(ApiError),
    /// An unparseable body: Kalshi answers with `code`/`message`/`details` at the top level.
    BadRequest(String),
}

impl Refusal {
    fn response(self) -> Response {
        match self {
            Refusal::Api(e) => err(e),
            Refusal::BadRequest(d) => bad_request(d),
        }
    }
}

fn owner(c: &Caller) -> Result<String, Refusal> {
    c.0.clone().ok_or_else(|| {
        Refusal::Api(ApiError::new(401, "authentication_error", "authentication failed", "MISSING_API_KEY_HEADERS"))
    })
}

// ------------------------------------------------------------------ paging

fn cursor_offset(q: &BTreeMap<String, String>) -> usize {
    q.get("cursor")
        .and_then(|c| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn page<T: Clone>(items: &[T], q: &BTreeMap<String, String>, default: usize, max: usize) -> (Vec<T>, String) {
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(default).clamp(1, max);
    let off = cursor_offset(q).min(items.len());
    let end = (off + limit).min(items.len());
    let cursor = if end < items.len() {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{end}"))
    } else {
        String::new()
    };
    (items[off..end].to_vec(), cursor)
}

// ------------------------------------------------------------- market data

fn status_matches(filter: Option<&String>, status: &str) -> bool {
    match filter.map(String::as_str) {
        None | Some("") => true,
        Some("open") => status == "active",
        Some("paused") => status == "inactive",
        Some("unopened") => status == "initialized",
        Some("closed") => status == "closed",
        Some("settled") => status == "finalized",
        Some(_) => false,
    }
}

fn market_json(m: &super::exchange::SimMarket) -> Value {
    let (yes, no) = m.levels(1);
    let bid = yes.last().map(|l| l.0).unwrap_or(Price::ZERO);
    let ask = no.last().map(|l| l.0.complement()).unwrap_or(Price::ONE);
    let s = &m.spec;
    json!({
        "ticker": s.ticker,
        "event_ticker": s.event,
        "market_type": "binary",
        "title": s.title,
        "yes_sub_title": s.outcome,
        "no_sub_title": format!("Not {}", s.outcome),
        "status": m.status,
        "result": m.result,
        "open_time": fmt::rfc3339(0),
        "close_time": fmt::rfc3339(s.close_time),
        "expected_expiration_time": fmt::rfc3339(s.close_time),
        "rules_primary": s.rules,
        "rules_secondary": "",
        "can_close_early": true,
        "price_level_structure": s.price_level_structure,
        "price_ranges": m.price_ranges().iter().map(|(a, b, st)| json!({"start": fmt::price(*a), "end": fmt::price(*b), "step": fmt::price(*st)})).collect::<Vec<_>>(),
        "fractional_trading_enabled": s.fractional,
        "yes_bid_dollars": fmt::price(bid),
        "yes_ask_dollars": fmt::price(ask),
        "no_bid_dollars": fmt::price(ask.complement()),
        "no_ask_dollars": fmt::price(bid.complement()),
        "last_price_dollars": fmt::price(m.fair),
        "notional_value_dollars": "1.0000",
        "volume_fp": "0.00",
        "open_interest_fp": "0.00",
        "liquidity_dollars": "0.0000",
    })
}

fn event_json(s: &Inner, event: &str, nested: bool) -> Option<Value> {
    let ex = s.ex.lock();
    let ms: Vec<&super::exchange::SimMarket> = ex.markets.values().filter(|m| m.spec.event == event).collect();
    let first = ms.first()?;
    let mut v = json!({
        "event_ticker": event,
        "series_ticker": first.spec.series,
        "title": first.spec.title,
        "sub_title": "",
        "mutually_exclusive": first.spec.mutually_exclusive,
        "collateral_return_type": if first.spec.mutually_exclusive { "MECNET" } else { "" },
        "strike_period": "",
        "available_on_brokers": false,
    });
    if nested {
        v["markets"] = Value::Array(ms.iter().map(|m| market_json(m)).collect());
    }
    Some(v)
}

async fn exchange_status() -> Json<Value> {
    Json(json!({"exchange_active": true, "trading_active": true}))
}

fn series_json(s: &Inner, ticker: &str) -> Option<Value> {
    let ex = s.ex.lock();
    let m = ex.markets.values().find(|m| m.spec.series == ticker)?;
    let multiplier: Value = serde_json::from_str(&m.spec.fee_multiplier).unwrap_or(json!(1));
    Some(json!({
        "ticker": ticker,
        "title": ticker,
        "category": "Economics",
        "frequency": "custom",
        "tags": [],
        "settlement_sources": [],
        "fee_type": m.spec.fee_type,
        "fee_multiplier": multiplier,
    }))
}

async fn series_one(State(s): State<Shared>, Path(t): Path<String>) -> Response {
    match series_json(&s, &t) {
        Some(v) => Json(json!({"series": v})).into_response(),
        None => err(ApiError::new(404, "not_found", "series not found", t)),
    }
}

async fn series_list(State(s): State<Shared>) -> Response {
    let names: Vec<String> = {
        let ex = s.ex.lock();
        let mut v: Vec<String> = ex.markets.values().map(|m| m.spec.series.clone()).collect();
        v.dedup();
        v
    };
    let list: Vec<Value> = names.iter().filter_map(|n| series_json(&s, n)).collect();
    Json(json!({"series": list})).into_response()
}

async fn events(State(s): State<Shared>, Query(q): Q) -> Response {
    let names: Vec<String> = {
        let ex = s.ex.lock();
        let mut names: Vec<String> = Vec::new();
        for m in ex.markets.values() {
            if q.get("series_ticker").is_some_and(|st| *st != m.spec.series) {
                continue;
            }
            if !status_matches(q.get("status"), &m.status) {
                continue;
            }
            if !names.contains(&m.spec.event) {
                names.push(m.spec.event.clone());
            }
        }
        names
    };
    let (pg, cursor) = page(&names, &q, 200, 200);
    let nested = q.get("with_nested_markets").is_some_and(|v| v == "true");
    let list: Vec<Value> = pg.iter().filter_map(|e| event_json(&s, e, nested)).collect();
    Json(json!({"events": list, "cursor": cursor})).into_response()
}

async fn event_one(State(s): State<Shared>, Path(t): Path<String>) -> Response {
    match event_json(&s, &t, true) {
        Some(v) => {
            let markets = v["markets"].clone();
            Json(json!({"event": v, "markets": markets})).into_response()
        }
        None => err(ApiError::new(404, "not_found", "event not found", t)),
    }
}

async fn markets(State(s): State<Shared>, Query(q): Q) -> Response {
    let list: Vec<Value> = {
        let ex = s.ex.lock();
        let tickers: Option<Vec<&str>> = q.get("tickers").map(|t| t.split(',').collect());
        ex.markets
            .values()
            .filter(|m| q.get("event_ticker").is_none_or(|e| *e == m.spec.event))
            .filter(|m| q.get("series_ticker").is_none_or(|e| *e == m.spec.series))
            .filter(|m| tickers.as_ref().is_none_or(|t| t.contains(&m.spec.ticker.as_str())))
            .filter(|m| status_matches(q.get("status"), &m.status))
            .map(market_json)
            .collect()
    };
    let (pg, cursor) = page(&list, &q, 100, 1000);
    Json(json!({"markets": pg, "cursor": cursor})).into_response()
}

async fn market_one(State(s): State<Shared>, Path(t): Path<String>) -> Response {
    let ex = s.ex.lock();
    match ex.markets.get(&t) {
        Some(m) => Json(json!({"market": market_json(m)})).into_response(),
        None => err(ApiError::new(404, "not_found", "market not found", t)),
    }
}

async fn orderbook(State(s): State<Shared>, Path(t): Path<String>, Query(q): Q) -> Response {
    let depth = q.get("depth").and_then(|d| d.parse::<i64>().ok()).unwrap_or(0);
    let depth = if depth <= 0 { usize::MAX } else { depth.min(100) as usize };
    let ex = s.ex.lock();
    let Some(m) = ex.markets.get(&t) else { return err(ApiError::new(404, "not_found", "market not found", t)) };
    let (yes, no) = m.levels(depth);
    let lv =
        |v: Vec<(Price, Qty)>| v.into_iter().map(|(p, q)| json!([fmt::price(p), fmt::count(q)])).collect::<Vec<_>>();
    Json(json!({"orderbook_fp": {"yes_dollars": lv(yes), "no_dollars": lv(no)}})).into_response()
}

// ----------------------------------------------------------------- orders

fn parse_order(v: &Value) -> Result<OrderInput, Refusal> {
    let obj = v.as_object().ok_or_else(|| Refusal::BadRequest("body must be a JSON object".into()))?;
    let str_field = |k: &str| -> Result<Option<&str>, Refusal> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Refusal::BadRequest(format!("{k}: expected a string"))),
        }
    };
    let invalid = |d: &str| Refusal::Api(ApiError::new(400, "invalid_order", "invalid order", d));
    let ticker = str_field("ticker")?
        .ok_or_else(|| Refusal::Api(ApiError::new(400, "missing_parameters", "missing parameters", "ticker")))?;
    let side = match str_field("side")? {
        Some("bid") => BookSide::Bid,
        Some("ask") => BookSide::Ask,
        Some(other) => return Err(invalid(&format!("side must be bid or ask, not {other}"))),
        None => return Err(invalid("side is required")),
    };
    let price = Price::parse(str_field("price")?.ok_or_else(|| invalid("price is required"))?)
        .map_err(|e| invalid(&format!("price: {e}")))?;
    let count = Qty::parse_non_negative(str_field("count")?.ok_or_else(|| invalid("count is required"))?)
        .map_err(|e| invalid(&format!("count: {e}")))?;
    let tif = match str_field("time_in_force")? {
        Some("fill_or_kill") => Tif::FillOrKill,
        Some("immediate_or_cancel") => Tif::ImmediateOrCancel,
        Some("good_till_canceled") => Tif::GoodTillCanceled,
        other => return Err(invalid(&format!("time_in_force {other:?} is not supported"))),
    };
    let self_trade = match str_field("self_trade_prevention_type")? {
        Some("taker_at_cross") => SelfTrade::CancelTaker,
        Some("maker") => SelfTrade::CancelMaker,
        other => return Err(invalid(&format!("self_trade_prevention_type {other:?} is not supported"))),
    };
    Ok(OrderInput {
        ticker: ticker.to_string(),
        side,
        price,
        count,
        tif,
        self_trade,
        client_order_id: str_field("client_order_id")?.filter(|c| !c.is_empty()).map(str::to_string),
        post_only: obj.get("post_only").and_then(Value::as_bool).unwrap_or(false),
    })
}

async fn create_order(State(s): State<Shared>, Extension(c): Extension<Caller>, body: axum::body::Bytes) -> Response {
    let owner = match owner(&c) {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return bad_request("malformed JSON body") };
    let input = match parse_order(&v) {
        Ok(i) => i,
        Err(r) => return r.response(),
    };
    let delay = {
        let mut ex = s.ex.lock();
        crate::server::take(&mut ex.faults.delay_requests).then_some(ex.faults.delay_ms)
    };
    if let Some(ms) = delay {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let result = {
        let mut ex = s.ex.lock();
        if crate::server::take(&mut ex.faults.drop_requests) {
            return crate::server::lost_response();
        }
        let r = ex.place(&owner, input);
        if crate::server::take(&mut ex.faults.drop_responses) {
            return crate::server::lost_response();
        }
        r
    };
    match result {
        Ok(resp) => (StatusCode::CREATED, Json(resp)).into_response(),
        Err(e) => err(e),
    }
}

async fn batch_create(State(s): State<Shared>, Extension(c): Extension<Caller>, body: axum::body::Bytes) -> Response {
    let owner = match owner(&c) {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return bad_request("malformed JSON body") };
    let Some(orders) = v.get("orders").and_then(Value::as_array) else {
        return bad_request("orders: expected an array");
    };
    if crate::server::take(&mut s.ex.lock().faults.drop_requests) {
        return crate::server::lost_response();
    }
    let mut out = Vec::new();
    for o in orders {
        let coid = o.get("client_order_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let item = match parse_order(o) {
            Err(_) => {
                json!({"client_order_id": coid, "error": {"code": "invalid_order", "message": "invalid order", "details": "unparseable order"}})
            }
            Ok(input) => match s.ex.lock().place(&owner, input) {
                Ok(mut resp) => {
                    resp["client_order_id"] = json!(coid);
                    resp
                }
                Err(e) => {
                    json!({"client_order_id": coid, "error": {"code": e.code, "message": e.message, "details": e.details}})
                }
            },
        };
        out.push(item);
    }
    if crate::server::take(&mut s.ex.lock().faults.drop_responses) {
        return crate::server::lost_response();
    }
    (StatusCode::CREATED, Json(json!({"orders": out}))).into_response()
}

async fn cancel_order(State(s): State<Shared>, Extension(c): Extension<Caller>, Path(id): Path<String>) -> Response {
    let owner = match owner(&c) {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    let result = s.ex.lock().cancel(&owner, &id);
    match result {
        Ok((rec, reduced)) => Json(json!({
            "order_id": rec.uuid,
            "client_order_id": rec.client_order_id.unwrap_or_default(),
            "reduced_by": fmt::count(reduced),
            "ts_ms": now_ms(),
        }))
        .into_response(),
        Err(e) => err(e),
    }
}

async fn v1_gone() -> Response {
    err(ApiError::new(
        410,
        "deprecated_v1_order_endpoint",
        "this endpoint is deprecated",
        "use POST /portfolio/events/orders",
    ))
}

async fn list_orders(State(s): State<Shared>, Extension(c): Extension<Caller>, Query(q): Q) -> Response {
    let owner = match owner(&c) {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    let list: Vec<Value> = {
        let ex = s.ex.lock();
        let mut v: Vec<_> = ex
            .orders
            .iter()
            .filter(|(_, r)| r.owner == owner)
            .filter(|(_, r)| q.get("ticker").is_none_or(|t| *t == r.ticker))
            .filter(|(_, r)| q.get("status").is_none_or(|st| st == r.status))
            .collect();
        // Newest first, as Kalshi lists them.
        v.sort_by_key(|(id, _)| std::cmp::Reverse(**id));
        v.into_iter().map(|(_, r)| r.json()).collect()
    };
    let (pg, cursor) = page(&list, &q, 100, 1000);
    Json(json!({"orders": pg, "cursor": cursor})).into_response()
}

async fn order_one(State(s): State<Shared>, Extension(c): Extension<Caller>, Path(id): Path<String>) -> Response {
    let owner = match owner(&c) {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    let ex = s.ex.lock();
    match ex.order_ids.get(&id).and_then(|i| ex.orders.get(i)).filter(|r| r.owner == owner) {
        Some(r) => Json(json!({"order": r.json()})).into_response(),
        None => err(ApiError::new(404, "not_found", "order not found", id)),
    }
}

async fn fills(State(s): State<Shared>, Extension(c): Extension<Caller>, Query(q): Q) -> Response {
    let owner = match owner(&c) {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    let min_ts = q.get("min_ts").and_then(|t| t.parse::<i64>().ok());
    let list: Vec<Value> = {
        let ex = s.ex.lock();
        ex.accounts
            .get(&owner)
            .map(|a| {
                a.fills
                    .iter()
                    .rev()
                    .filter(|f| q.get("ticker").is_none_or(|t| *t == f.ticker))
                    .filter(|f| q.get("order_id").is_none_or(|o| *o == f.order_uuid))
                    .filter(|f| min_ts.is_none_or(|m| f.ts_ms / 1000 >= m))
                    .map(|f| f.rest_json())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (pg, cursor) = page(&list, &q, 100, 1000);
    Json(json!({"fills": pg, "cursor": cursor})).into_response()
}

async fn positions(State(s): State<Shared>, Extension(c): Extension<Caller>, Query(q): Q) -> Response {
    let owner = match owner(&c) {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    let list: Vec<Value> = {
        let ex = s.ex.lock();
        ex.accounts
            .get(&owner)
            .map(|a| {
                a.positions
                    .iter()
                    .filter(|(t, _)| q.get("ticker").is_none_or(|x| x == *t))
                    .map(|(t, p)| {
                        json!({
                            "ticker": t,
                            "position_fp": fmt::count(p.yes),
                            "market_exposure_dollars": fmt::dollars(p.cost.max(arbytron_sdk::Money::ZERO)),
                            "realized_pnl_dollars": fmt::dollars(p.realized),
                            "fees_paid_dollars": fmt::dollars(p.fees_paid),
                            "total_traded_dollars": fmt::dollars(p.traded),
                            "last_updated_ts": fmt::rfc3339(p.updated_ms),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (pg, cursor) = page(&list, &q, 100, 1000);
    Json(json!({"market_positions": pg, "event_positions": [], "cursor": cursor})).into_response()
}

async fn balance(State(s): State<Shared>, Extension(c): Extension<Caller>, _h: HeaderMap) -> Response {
    let owner = match owner(&c) {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    let cash = s.ex.lock().accounts.get(&owner).map(|a| a.cash).unwrap_or_default();
    Json(json!({
        "balance": fmt::cents(cash),
        "balance_dollars": fmt::dollars(cash),
        "portfolio_value": fmt::cents(cash),
        "updated_ts": now_ms() / 1000,
    }))
    .into_response()
}
