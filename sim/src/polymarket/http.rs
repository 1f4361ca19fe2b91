//! Gamma and CLOB REST routes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use serde_json::{Value, json};

use super::Shared;
use super::auth;
use super::state::{ApiError, Venue, now_ms};

type S = Arc<Shared>;
type Q = Query<Vec<(String, String)>>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = (status, Json(json!({ "error": self.message }))).into_response();
        if let Some(v) = self.retry_after_s.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            r.headers_mut().insert("retry-after", v);
        }
        r
    }
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn decimal(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------- Gamma

pub fn gamma_router(s: S) -> Router {
    Router::new().route("/events", get(events)).route("/markets", get(markets)).with_state(s)
}

fn gamma_market(v: &Venue, index: usize, cid: &str) -> Option<Value> {
    let m = v.markets.get(cid)?;
    let spec = &m.spec;
    let d = spec.price_decimals();
    let fair = m.fair.to_decimal_string(6).unwrap_or_default();
    let fair_no = m.fair.complement().to_decimal_string(6).unwrap_or_default();
    let (best_bid, best_ask) =
        (m.book.best(crate::matching::BookSide::Bid), m.book.best(crate::matching::BookSide::Ask));
    let end = chrono::DateTime::from_timestamp_millis(spec.end_date_ms).map(|t| t.to_rfc3339()).unwrap_or_default();
    let outcome_prices = match m.result {
        Some(crate::scenario::SettleResult::Yes) => r#"["1", "0"]"#.to_string(),
        Some(crate::scenario::SettleResult::No) => r#"["0", "1"]"#.to_string(),
        Some(crate::scenario::SettleResult::Void) => r#"["0.5", "0.5"]"#.to_string(),
        None => format!(r#"["{fair}", "{fair_no}"]"#),
    };
    let rate = arbytron_sdk::money::format_micros_full(spec.fee_rate_ppm as i64);
    Some(json!({
        "id": (500_000 + index).to_string(),
        "question": spec.question,
        "conditionId": spec.condition_id,
        "slug": spec.question.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
        "description": spec.description,
        "groupItemTitle": spec.outcome,
        "outcomes": r#"["Yes", "No"]"#,
        "outcomePrices": outcome_prices,
        "clobTokenIds": format!(r#"["{}", "{}"]"#, spec.yes_token, spec.no_token),
        "active": true,
        "closed": m.closed,
        "archived": false,
        "acceptingOrders": !m.closed,
        "enableOrderBook": true,
        "endDate": end,
        "orderPriceMinTickSize": decimal(&spec.tick.to_decimal_string(d).unwrap_or_default()),
        "orderMinSize": decimal(&arbytron_sdk::money::format_micros_full(spec.min_size.micros())),
        "negRisk": spec.neg_risk,
        "feesEnabled": spec.fee_rate_ppm > 0,
        "feeType": "politics_fees",
        "feeSchedule": { "exponent": spec.fee_exponent, "rate": decimal(&rate), "takerOnly": true, "rebateRate": 0.25 },
        "makerBaseFee": 1000,
        "takerBaseFee": 1000,
        "umaResolutionStatus": if m.result.is_some() { "resolved" } else { "" },
        "bestBid": best_bid.map(|p| decimal(&p.to_string())),
        "bestAsk": best_ask.map(|p| decimal(&p.to_string())),
        "marketMakerAddress": "",
    }))
}

fn page(q: &[(String, String)]) -> (usize, usize) {
    let limit = param(q, "limit").and_then(|l| l.parse().ok()).unwrap_or(100usize).clamp(1, 500);
    let offset = param(q, "offset").and_then(|o| o.parse().ok()).unwrap_or(0usize);
    (limit, offset)
}

async fn events(State(s): State<S>, Query(q): Q) -> Json<Value> {
    let v = s.venue.lock();
    let mut slugs: Vec<String> = Vec::new();
    for m in v.markets.values() {
        if !slugs.contains(&m.spec.event_slug) {
            slugs.push(m.spec.event_slug.clone());
        }
    }
    let closed = param(&q, "closed");
    let events: Vec<Value> = slugs
        .iter()
        .filter(|slug| param(&q, "slug").is_none_or(|s| s == slug.as_str()))
        .filter_map(|slug| {
            let cids: Vec<(usize, &String)> = v
                .markets
                .iter()
                .enumerate()
                .filter(|(_, (_, m))| &m.spec.event_slug == slug)
                .map(|(i, (c, _))| (i, c))
                .collect();
            let all_closed = cids.iter().all(|(_, c)| v.markets[*c].closed);
            if closed == Some("false") && all_closed {
                return None;
            }
            let first = &v.markets[cids[0].1].spec;
            let markets: Vec<Value> = cids.iter().filter_map(|(i, c)| gamma_market(&v, *i, c)).collect();
            Some(json!({
                "id": (90_000 + slugs.iter().position(|s| s == slug).unwrap_or(0)).to_string(),
                "ticker": slug,
                "slug": slug,
                "title": first.event_title,
                "description": first.description,
                "active": true,
                "closed": all_closed,
                "archived": false,
                "negRisk": first.neg_risk,
                "enableNegRisk": first.neg_risk,
                "negRiskAugmented": false,
                "endDate": chrono::DateTime::from_timestamp_millis(first.end_date_ms).map(|t| t.to_rfc3339()),
                "liquidity": 0,
                "volume": 0,
                "markets": markets,
            }))
        })
        .collect();
    let (limit, offset) = page(&q);
    Json(Value::Array(events.into_iter().skip(offset).take(limit).collect()))
}

async fn markets(State(s): State<S>, Query(q): Q) -> Json<Value> {
    let v = s.venue.lock();
    let wanted: Vec<&str> = q.iter().filter(|(k, _)| k == "condition_ids").map(|(_, c)| c.as_str()).collect();
    let all: Vec<Value> = v
        .markets
        .keys()
        .enumerate()
        .filter(|(_, c)| wanted.is_empty() || wanted.contains(&c.as_str()))
        .filter_map(|(i, c)| gamma_market(&v, i, c))
        .collect();
    let (limit, offset) = page(&q);
    Json(Value::Array(all.into_iter().skip(offset).take(limit).collect()))
}

// ---------------------------------------------------------------- CLOB

pub fn clob_router(s: S) -> Router {
    Router::new()
        .route("/ok", get(|| async { Json(json!("OK")) }))
        .route("/time", get(|| async { Json(json!(now_ms() / 1000)) }))
        .route("/version", get(version))
        .route("/book", get(book))
        .route("/books", post(books))
        .route("/tick-size", get(tick_size))
        .route("/neg-risk", get(neg_risk))
        .route("/clob-markets/{cid}", get(clob_market))
        .route("/auth/api-key", post(create_key))
        .route("/auth/derive-api-key", get(derive_key))
        .route("/order", post(post_order).delete(cancel_order))
        .route("/orders", post(post_orders).delete(cancel_orders))
        .route("/cancel-all", delete(cancel_all))
        .route("/data/orders", get(data_orders))
        .route("/data/order/{id}", get(data_order))
        .route("/data/trades", get(data_trades))
        .route("/balance-allowance", get(balance))
        .layer(middleware::from_fn_with_state(s.clone(), faults))
        .with_state(s)
}

/// Rate-limit bursts and added latency apply to every CLOB request.
async fn faults(State(s): State<S>, req: Request, next: Next) -> Response {
    let (limited, latency) = {
        let mut v = s.venue.lock();
        let limited = v.faults.rate_limit > 0;
        if limited {
            v.faults.rate_limit -= 1;
        }
        (limited, v.faults.latency_ms)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if limited {
        return ApiError::new(429, "Too Many Requests").into_response();
    }
    next.run(req).await
}

async fn version(State(s): State<S>) -> Json<Value> {
    Json(json!({ "version": s.venue.lock().cfg.version }))
}

fn no_book() -> ApiError {
    ApiError::new(404, "No orderbook exists for the requested token id")
}

async fn book(State(s): State<S>, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let token = param(&q, "token_id").ok_or_else(|| ApiError::bad("token_id is required"))?;
    s.venue.lock().book_json(token).map(Json).ok_or_else(no_book)
}

async fn books(State(s): State<S>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let req: Vec<Value> = serde_json::from_slice(&body).map_err(|_| ApiError::bad("Invalid payload"))?;
    let v = s.venue.lock();
    let out: Vec<Value> =
        req.iter().filter_map(|r| r.get("token_id").and_then(Value::as_str)).filter_map(|t| v.book_json(t)).collect();
    Ok(Json(Value::Array(out)))
}

fn market_of<'a>(v: &'a Venue, q: &[(String, String)]) -> Result<&'a super::state::SimMarket, ApiError> {
    let token = param(q, "token_id").ok_or_else(|| ApiError::bad("token_id is required"))?;
    let (cid, _) = v.tokens.get(token).ok_or_else(no_book)?;
    v.markets.get(cid).ok_or_else(no_book)
}

async fn tick_size(State(s): State<S>, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let v = s.venue.lock();
    let m = market_of(&v, &q)?;
    let d = m.spec.price_decimals();
    Ok(Json(json!({ "minimum_tick_size": decimal(&m.spec.tick.to_decimal_string(d).unwrap_or_default()) })))
}

async fn neg_risk(State(s): State<S>, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let v = s.venue.lock();
    Ok(Json(json!({ "neg_risk": market_of(&v, &q)?.spec.neg_risk })))
}

async fn clob_market(State(s): State<S>, Path(cid): Path<String>) -> Result<Json<Value>, ApiError> {
    let v = s.venue.lock();
    let m = v.markets.get(&cid).ok_or_else(|| ApiError::new(404, "market not found"))?;
    let sp = &m.spec;
    Ok(Json(json!({
        "c": sp.condition_id,
        "t": [{ "t": sp.yes_token, "o": "Yes" }, { "t": sp.no_token, "o": "No" }],
        "mts": decimal(&sp.tick.to_decimal_string(sp.price_decimals()).unwrap_or_default()),
        "mos": decimal(&arbytron_sdk::money::format_micros_full(sp.min_size.micros())),
        "nr": sp.neg_risk,
        "fd": { "r": decimal(&arbytron_sdk::money::format_micros_full(sp.fee_rate_ppm as i64)), "e": sp.fee_exponent, "to": true },
        "mbf": 1000,
        "tbf": 1000,
        "ao": !m.closed,
        "sd": 0,
    })))
}

// ---------------------------------------------------------------- auth

fn header<'a>(h: &'a HeaderMap, k: &str) -> Result<&'a str, ApiError> {
    h.get(k).and_then(|v| v.to_str().ok()).ok_or_else(|| ApiError::new(401, format!("Unauthorized: missing {k}")))
}

/// Check the L1 headers; returns the proven address and nonce.
fn l1(s: &S, h: &HeaderMap) -> Result<(alloy::primitives::Address, u64), ApiError> {
    let chain = s.venue.lock().cfg.chain_id;
    let ts = header(h, "POLY_TIMESTAMP")?;
    check_time(ts)?;
    auth::verify_l1(chain, header(h, "POLY_ADDRESS")?, header(h, "POLY_SIGNATURE")?, ts, header(h, "POLY_NONCE")?)
        .map_err(|e| ApiError::new(401, format!("Invalid L1 Request headers: {e}")))
}

fn check_time(ts: &str) -> Result<(), ApiError> {
    let t: i64 = ts.parse().map_err(|_| ApiError::new(401, "Unauthorized: bad POLY_TIMESTAMP"))?;
    if (now_ms() / 1000 - t).abs() > 300 {
        return Err(ApiError::new(401, "Unauthorized: POLY_TIMESTAMP too far from server time"));
    }
    Ok(())
}

/// Credentials for an address: the configured account's, or new ones derived
/// from the address and nonce (an account with no cash).
fn creds_for(s: &S, addr: alloy::primitives::Address, nonce: u64) -> Value {
    let mut v = s.venue.lock();
    if let Some(a) = v.account_by_address(addr).filter(|_| nonce == 0) {
        return json!({ "apiKey": a.api_key, "secret": a.secret.expose(), "passphrase": a.passphrase.expose() });
    }
    let seed = alloy::primitives::keccak256(format!("{}:{addr}:{nonce}", v.cfg.seed));
    let h = hex::encode(seed);
    let api_key = format!("{}-{}-4{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32]);
    let secret = base64::engine::general_purpose::URL_SAFE.encode(&seed[..]);
    let passphrase = h[32..].to_string();
    if !v.accounts.contains_key(&api_key) {
        v.add_account(super::state::Account {
            address: addr,
            funder: None,
            api_key: api_key.clone(),
            secret: arbytron_integration::Secret::new(secret.clone()),
            passphrase: arbytron_integration::Secret::new(passphrase.clone()),
            cash: arbytron_sdk::Money::ZERO,
        });
    }
    json!({ "apiKey": api_key, "secret": secret, "passphrase": passphrase })
}

async fn create_key(State(s): State<S>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (addr, nonce) = l1(&s, &h)?;
    Ok(Json(creds_for(&s, addr, nonce)))
}

async fn derive_key(State(s): State<S>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (addr, nonce) = l1(&s, &h)?;
    Ok(Json(creds_for(&s, addr, nonce)))
}

/// Verify the L2 headers over the exact request; returns the API key.
fn l2(s: &S, h: &HeaderMap, method: &Method, uri: &Uri, body: &[u8]) -> Result<String, ApiError> {
    let key = header(h, "POLY_API_KEY")?;
    let ts = header(h, "POLY_TIMESTAMP")?;
    check_time(ts)?;
    let v = s.venue.lock();
    let account = v
        .accounts
        .get(key)
        .and_then(|a| a.account.as_ref())
        .ok_or_else(|| ApiError::new(401, "Unauthorized/Invalid api key"))?;
    if header(h, "POLY_PASSPHRASE")? != account.passphrase.expose() {
        return Err(ApiError::new(401, "Unauthorized/Invalid api key"));
    }
    let addr: alloy::primitives::Address =
        header(h, "POLY_ADDRESS")?.parse().map_err(|_| ApiError::new(401, "Unauthorized: bad POLY_ADDRESS"))?;
    if addr != account.address {
        return Err(ApiError::new(401, "Unauthorized: POLY_ADDRESS does not own this API key"));
    }
    if !auth::verify_hmac(account.secret.expose(), ts, method.as_str(), uri.path(), body, header(h, "POLY_SIGNATURE")?)
    {
        return Err(ApiError::new(401, "Unauthorized: invalid signature"));
    }
    Ok(key.to_string())
}

// ---------------------------------------------------------------- orders

fn restart_gate(s: &S) -> Result<(), ApiError> {
    let v = s.venue.lock();
    if let Some(until) = v.faults.restart_until {
        let now = Instant::now();
        if now < until {
            let secs = (until - now).as_millis().div_ceil(1000) as u64;
            return Err(ApiError {
                status: 425,
                message: "Too Early: the matching engine is restarting".into(),
                retry_after_s: Some(secs.max(1)),
            });
        }
    }
    Ok(())
}

fn place_one(s: &S, api_key: &str, item: &Value) -> Result<Value, ApiError> {
    let owner = item.get("owner").and_then(Value::as_str).unwrap_or_default();
    if owner != api_key {
        return Err(ApiError::bad("the order owner must be the API key used to post it"));
    }
    let order = item.get("order").ok_or_else(|| ApiError::bad("Invalid order payload"))?;
    let parsed = auth::parse_order(order).map_err(ApiError::bad)?;
    let order_type = item.get("orderType").and_then(Value::as_str).unwrap_or("GTC");
    let post_only = item.get("postOnly").and_then(Value::as_bool).unwrap_or(false);
    let submitted = s.venue.lock().submit(api_key, &parsed, order_type, post_only)?;
    s.kick_lifecycle();
    Ok(submitted.response)
}

async fn post_order(State(s): State<S>, h: HeaderMap, m: Method, uri: Uri, body: Bytes) -> Response {
    s.order_posts.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    if crate::server::take(&mut s.venue.lock().faults.drop_requests) {
        return crate::server::lost_response();
    }
    let delay = {
        let mut v = s.venue.lock();
        crate::server::take(&mut v.faults.delay_requests).then_some(v.faults.delay_ms)
    };
    if let Some(ms) = delay {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let answer = post_order_inner(&s, &h, &m, &uri, &body);
    if crate::server::take(&mut s.venue.lock().faults.drop_responses) {
        return crate::server::lost_response();
    }
    answer.map(Json).into_response()
}

fn post_order_inner(s: &S, h: &HeaderMap, m: &Method, uri: &Uri, body: &Bytes) -> Result<Value, ApiError> {
    let key = l2(s, h, m, uri, body)?;
    restart_gate(s)?;
    let item: Value = serde_json::from_slice(body).map_err(|_| ApiError::bad("Invalid order payload"))?;
    place_one(s, &key, &item)
}

async fn post_orders(
    State(s): State<S>,
    h: HeaderMap,
    m: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = l2(&s, &h, &m, &uri, &body)?;
    restart_gate(&s)?;
    let items: Vec<Value> = serde_json::from_slice(&body).map_err(|_| ApiError::bad("Invalid order payload"))?;
    if items.is_empty() || items.len() > 15 {
        return Err(ApiError::bad("a batch holds 1 to 15 orders"));
    }
    let out: Vec<Value> = items
        .iter()
        .map(|item| match place_one(&s, &key, item) {
            Ok(v) => v,
            Err(e) => json!({ "success": false, "errorMsg": e.message, "orderID": "", "status": "",
                              "makingAmount": "", "takingAmount": "" }),
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

fn cancel_many(s: &S, key: &str, ids: &[String]) -> Value {
    let mut v = s.venue.lock();
    let mut canceled = Vec::new();
    let mut not = serde_json::Map::new();
    for id in ids {
        match v.cancel(key, id) {
            Ok(()) => canceled.push(id.clone()),
            Err(reason) => {
                not.insert(id.clone(), Value::String(reason));
            }
        }
    }
    json!({ "canceled": canceled, "not_canceled": not })
}

async fn cancel_order(
    State(s): State<S>,
    h: HeaderMap,
    m: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = l2(&s, &h, &m, &uri, &body)?;
    let req: Value = serde_json::from_slice(&body).map_err(|_| ApiError::bad("Invalid payload"))?;
    let id = req.get("orderID").and_then(Value::as_str).ok_or_else(|| ApiError::bad("orderID is required"))?;
    Ok(Json(cancel_many(&s, &key, &[id.to_string()])))
}

async fn cancel_orders(
    State(s): State<S>,
    h: HeaderMap,
    m: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = l2(&s, &h, &m, &uri, &body)?;
    let ids: Vec<String> = serde_json::from_slice(&body).map_err(|_| ApiError::bad("Invalid payload"))?;
    Ok(Json(cancel_many(&s, &key, &ids)))
}

async fn cancel_all(
    State(s): State<S>,
    h: HeaderMap,
    m: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = l2(&s, &h, &m, &uri, &body)?;
    let ids: Vec<String> = {
        let v = s.venue.lock();
        v.orders.values().filter(|o| o.owner == key && o.status == "LIVE").map(|o| o.hash.clone()).collect()
    };
    Ok(Json(cancel_many(&s, &key, &ids)))
}

/// One page of `items` from the cursor (base64 of an offset; `LTE=` ends).
fn paged(items: Vec<Value>, q: &[(String, String)], page: usize) -> Result<Value, ApiError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let cursor = param(q, "next_cursor").unwrap_or("MA==");
    let offset: usize = b64
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::bad("invalid next_cursor"))?;
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(offset).take(page).collect();
    let end = offset + data.len();
    let next = if end >= total { "LTE=".to_string() } else { b64.encode(end.to_string()) };
    Ok(json!({ "limit": page, "count": data.len(), "next_cursor": next, "data": data }))
}

async fn data_orders(
    State(s): State<S>,
    h: HeaderMap,
    m: Method,
    uri: Uri,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    let key = l2(&s, &h, &m, &uri, b"")?;
    let v = s.venue.lock();
    let mut live: Vec<(&u64, &super::state::OrderMeta)> = v
        .orders
        .iter()
        .filter(|(_, o)| o.owner == key && o.status == "LIVE")
        .filter(|(_, o)| param(&q, "market").is_none_or(|c| c == o.cid))
        .filter(|(_, o)| param(&q, "asset_id").is_none_or(|a| a == o.token))
        .filter(|(_, o)| param(&q, "id").is_none_or(|i| i == o.hash))
        .collect();
    live.sort_by_key(|(id, _)| **id);
    let items = live.into_iter().map(|(_, o)| v.order_json(o)).collect();
    paged(items, &q, v.cfg.page_size).map(Json)
}

async fn data_order(
    State(s): State<S>,
    h: HeaderMap,
    m: Method,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = l2(&s, &h, &m, &uri, b"")?;
    let v = s.venue.lock();
    let o = v
        .order_ids
        .get(&id)
        .and_then(|i| v.orders.get(i))
        .filter(|o| o.owner == key)
        .ok_or_else(|| ApiError::new(404, "order not found"))?;
    Ok(Json(v.order_json(o)))
}

async fn data_trades(
    State(s): State<S>,
    h: HeaderMap,
    m: Method,
    uri: Uri,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    let key = l2(&s, &h, &m, &uri, b"")?;
    let v = s.venue.lock();
    let items = v
        .trades
        .iter()
        .filter(|t| t.taker_owner == key || t.maker_owner == key)
        .filter(|t| param(&q, "id").is_none_or(|i| i == t.id))
        .filter(|t| param(&q, "market").is_none_or(|c| c == t.cid))
        .map(|t| v.trade_json(t, Some(&key), false))
        .collect();
    paged(items, &q, v.cfg.page_size).map(Json)
}

async fn balance(State(s): State<S>, h: HeaderMap, m: Method, uri: Uri, Query(q): Q) -> Result<Json<Value>, ApiError> {
    let key = l2(&s, &h, &m, &uri, b"")?;
    let v = s.venue.lock();
    let st = v.accounts.get(&key).ok_or_else(|| ApiError::new(401, "Unauthorized/Invalid api key"))?;
    let units = match param(&q, "asset_type") {
        Some("CONDITIONAL") => {
            let token = param(&q, "token_id").unwrap_or_default();
            st.positions.get(token).copied().unwrap_or_default().micros()
        }
        _ => (st.cash - st.reserved_cash).micros(),
    };
    Ok(Json(json!({ "balance": units.to_string(), "allowances": {} })))
}
