//! The WebSocket half: signed upgrade, subscribe/unsubscribe/update_subscription,
//! snapshots and deltas with a `seq` per subscription, ticker, fill and
//! lifecycle channels, pings, and the scripted disconnect/gap/freeze faults.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::auth::now_ms;
use super::exchange::{ApiError, Event};
use super::{Inner, fmt};

const PATH: &str = "/trade-api/ws/v2";

type Shared = Arc<Inner>;

pub fn router(inner: Shared) -> Router {
    Router::new().route(PATH, get(upgrade)).with_state(inner)
}

async fn upgrade(State(s): State<Shared>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match s.keys.verify(
        h("KALSHI-ACCESS-KEY"),
        h("KALSHI-ACCESS-TIMESTAMP"),
        h("KALSHI-ACCESS-SIGNATURE"),
        "GET",
        PATH,
        now_ms(),
    ) {
        Ok(key) => ws.on_upgrade(move |socket| connection(socket, s, key)),
        Err(f) => {
            let e = ApiError::new(401, "authentication_error", "authentication failed", f.details());
            (StatusCode::UNAUTHORIZED, axum::Json(e.body())).into_response()
        }
    }
}

struct Sub {
    channel: String,
    /// `None`: every market.
    tickers: Option<BTreeSet<String>>,
    use_yes_price: bool,
    seq: u64,
}

impl Sub {
    fn has(&self, ticker: &str) -> bool {
        self.tickers.as_ref().is_none_or(|t| t.contains(ticker))
    }
}

struct Conn {
    socket: WebSocket,
    s: Shared,
    key: String,
    subs: BTreeMap<u64, Sub>,
    next_sid: u64,
    /// Per (sid, ticker): the event number its last snapshot already includes.
    snap: HashMap<(u64, String), u64>,
}

impl Conn {
    async fn send(&mut self, v: Value) -> bool {
        self.socket.send(Message::Text(v.to_string().into())).await.is_ok()
    }

    async fn error(&mut self, id: Option<u64>, code: i64, msg: &str) -> bool {
        self.send(json!({"id": id.unwrap_or(0), "type": "error", "msg": {"code": code, "msg": msg}})).await
    }

    async fn snapshot(&mut self, sid: u64, ticker: &str, id: Option<u64>) -> bool {
        let snap = self.s.ex.lock().snapshot(ticker);
        let Some((yes, no, gseq)) = snap else { return self.error(id, 16, "Market not found").await };
        let Some(sub) = self.subs.get_mut(&sid) else { return true };
        self.snap.insert((sid, ticker.to_string()), gseq);
        sub.seq += 1;
        let flip = sub.use_yes_price;
        let mut msg = json!({"market_ticker": ticker, "market_id": ticker});
        if !yes.is_empty() {
            msg["yes_dollars_fp"] = yes.iter().map(|(p, q)| json!([fmt::price(*p), fmt::count(*q)])).collect();
        }
        if !no.is_empty() {
            msg["no_dollars_fp"] = no
                .iter()
                .map(|(p, q)| json!([fmt::price(if flip { p.complement() } else { *p }), fmt::count(*q)]))
                .collect();
        }
        let mut v = json!({"type": "orderbook_snapshot", "sid": sid, "seq": sub.seq, "msg": msg});
        if let Some(id) = id {
            v["id"] = json!(id);
        }
        self.send(v).await
    }

    fn tickers_param(params: &Value) -> Option<Vec<String>> {
        if let Some(t) = params.get("market_ticker").and_then(Value::as_str) {
            return Some(vec![t.to_string()]);
        }
        params
            .get("market_tickers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
    }

    /// Returns false when the connection should close.
    async fn command(&mut self, text: &str) -> bool {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return self.error(None, 1, "Unable to process message").await;
        };
        let id = v.get("id").and_then(Value::as_u64);
        let params = v.get("params").cloned().unwrap_or(Value::Null);
        match v.get("cmd").and_then(Value::as_str) {
            Some("subscribe") => {
                let Some(channels) = params.get("channels").and_then(Value::as_array) else {
                    return self.error(id, 3, "Channels required").await;
                };
                let channels: Vec<String> = channels.iter().filter_map(Value::as_str).map(str::to_string).collect();
                let tickers = Self::tickers_param(&params);
                let use_yes_price = params.get("use_yes_price").and_then(Value::as_bool).unwrap_or(false);
                let missing = tickers.as_ref().and_then(|ts| {
                    let ex = self.s.ex.lock();
                    ts.iter().find(|t| !ex.markets.contains_key(*t)).cloned()
                });
                if let Some(missing) = missing {
                    return self.error(id, 16, &format!("Market {missing} not found")).await;
                }
                for ch in channels {
                    let known = [
                        "orderbook_delta",
                        "ticker",
                        "fill",
                        "market_lifecycle_v2",
                        "trade",
                        "user_orders",
                        "market_positions",
                    ];
                    if !known.contains(&ch.as_str()) {
                        if !self.error(id, 8, "Unknown channel name").await {
                            return false;
                        }
                        continue;
                    }
                    if ch == "orderbook_delta" && tickers.as_ref().is_none_or(Vec::is_empty) {
                        if !self.error(id, 14, "Market ticker required").await {
                            return false;
                        }
                        continue;
                    }
                    let sid = self.next_sid;
                    self.next_sid += 1;
                    let filter = match ch.as_str() {
                        "fill" | "market_lifecycle_v2" | "user_orders" | "market_positions" => None,
                        _ => tickers.clone().map(|t| t.into_iter().collect()),
                    };
                    self.subs.insert(sid, Sub { channel: ch.clone(), tickers: filter, use_yes_price, seq: 0 });
                    if !self
                        .send(json!({"id": id.unwrap_or(0), "type": "subscribed", "msg": {"channel": ch, "sid": sid}}))
                        .await
                    {
                        return false;
                    }
                    if ch == "orderbook_delta" {
                        for t in tickers.clone().unwrap_or_default() {
                            if !self.snapshot(sid, &t, None).await {
                                return false;
                            }
                        }
                    }
                }
                true
            }
            Some("unsubscribe") => {
                let sids: Vec<u64> = params
                    .get("sids")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                for sid in sids {
                    if let Some(mut sub) = self.subs.remove(&sid) {
                        sub.seq += 1;
                        if !self
                            .send(json!({"id": id.unwrap_or(0), "sid": sid, "seq": sub.seq, "type": "unsubscribed"}))
                            .await
                        {
                            return false;
                        }
                    }
                }
                true
            }
            Some("update_subscription") => {
                let sid = params.get("sid").and_then(Value::as_u64).or_else(|| {
                    params.get("sids").and_then(Value::as_array).and_then(|a| a.first()).and_then(Value::as_u64)
                });
                let Some(sid) = sid.filter(|s| self.subs.contains_key(s)) else {
                    return self.error(id, 6, "Subscription not found").await;
                };
                let tickers = Self::tickers_param(&params).unwrap_or_default();
                match params.get("action").and_then(Value::as_str) {
                    Some("get_snapshot") => {
                        for t in tickers {
                            if !self.snapshot(sid, &t, id).await {
                                return false;
                            }
                        }
                        true
                    }
                    Some(action @ ("add_markets" | "delete_markets")) => {
                        let add = action == "add_markets";
                        let Some(sub) = self.subs.get_mut(&sid) else { return true };
                        let set = sub.tickers.get_or_insert_with(BTreeSet::new);
                        for t in &tickers {
                            if add {
                                set.insert(t.clone());
                            } else {
                                set.remove(t);
                            }
                        }
                        sub.seq += 1;
                        let all: Vec<String> = set.iter().cloned().collect();
                        let reply = json!({"id": id.unwrap_or(0), "sid": sid, "seq": sub.seq, "type": "ok", "msg": {"market_tickers": all}});
                        let is_book = sub.channel == "orderbook_delta";
                        if !self.send(reply).await {
                            return false;
                        }
                        if add && is_book {
                            for t in tickers {
                                if !self.snapshot(sid, &t, None).await {
                                    return false;
                                }
                            }
                        }
                        true
                    }
                    _ => self.error(id, 2, "Params required").await,
                }
            }
            Some("list_subscriptions") => {
                let list: Vec<Value> =
                    self.subs.iter().map(|(sid, s)| json!({"sid": sid, "channel": s.channel})).collect();
                self.send(json!({"id": id.unwrap_or(0), "type": "ok", "msg": {"subscriptions": list}})).await
            }
            _ => self.error(id, 5, "Unknown command").await,
        }
    }

    /// Returns false when the connection should close.
    async fn event(&mut self, e: &Event) -> bool {
        let mut out = Vec::new();
        match e {
            Event::Delta { gseq, ticker, no, price, delta, ts_ms } => {
                for (sid, sub) in self.subs.iter_mut() {
                    if sub.channel != "orderbook_delta" || !sub.has(ticker) {
                        continue;
                    }
                    // Already contained in the snapshot this subscription got.
                    if self.snap.get(&(*sid, ticker.clone())).is_none_or(|s| gseq <= s) {
                        continue;
                    }
                    sub.seq += 1;
                    let p = if *no && sub.use_yes_price { price.complement() } else { *price };
                    out.push(json!({"type": "orderbook_delta", "sid": sid, "seq": sub.seq, "msg": {
                        "market_ticker": ticker, "market_id": ticker,
                        "price_dollars": fmt::price(p), "delta_fp": fmt::count(*delta),
                        "side": if *no { "no" } else { "yes" },
                        "ts": fmt::rfc3339(*ts_ms), "ts_ms": ts_ms,
                    }}));
                }
            }
            Event::Ticker { ticker, msg } => {
                for (sid, sub) in &self.subs {
                    if sub.channel == "ticker" && sub.has(ticker) {
                        out.push(json!({"type": "ticker", "sid": sid, "msg": msg}));
                    }
                }
            }
            Event::Fill { owner, msg } => {
                if *owner == self.key {
                    for (sid, sub) in &self.subs {
                        if sub.channel == "fill" {
                            out.push(json!({"type": "fill", "sid": sid, "msg": msg}));
                        }
                    }
                }
            }
            Event::Lifecycle { msg } => {
                for (sid, sub) in self.subs.iter_mut() {
                    if sub.channel == "market_lifecycle_v2" {
                        sub.seq += 1;
                        out.push(json!({"type": "market_lifecycle_v2", "sid": sid, "seq": sub.seq, "msg": msg}));
                    }
                }
            }
            Event::SeqGap => {
                for sub in self.subs.values_mut() {
                    sub.seq += 1;
                }
            }
            Event::Disconnect => return false,
            Event::Freeze { .. } => {}
        }
        for v in out {
            if !self.send(v).await {
                return false;
            }
        }
        true
    }
}

async fn connection(socket: WebSocket, s: Shared, key: String) {
    let mut rx = s.tx.subscribe();
    let ping_every = s.opts.ping_interval;
    let mut c = Conn { socket, s, key, subs: BTreeMap::new(), next_sid: 1, snap: HashMap::new() };
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    let mut frozen_until: Option<Instant> = None;
    loop {
        let frozen = frozen_until.is_some_and(|t| Instant::now() < t);
        let thaw = frozen_until.unwrap_or_else(Instant::now);
        tokio::select! {
            m = c.socket.recv(), if !frozen => match m {
                Some(Ok(Message::Text(t))) => {
                    if !c.command(t.as_str()).await {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            ev = rx.recv(), if !frozen => match ev {
                Ok(e) => {
                    if let Event::Freeze { ms } = *e {
                        frozen_until = Some(Instant::now() + std::time::Duration::from_millis(ms));
                        continue;
                    }
                    if !c.event(&e).await {
                        break;
                    }
                }
                // Too slow to keep up: Kalshi drops such a client.
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
            },
            _ = ping.tick(), if !frozen => {
                if c.socket.send(Message::Ping(axum::body::Bytes::from_static(b"heartbeat"))).await.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(thaw), if frozen => { frozen_until = None; }
        }
    }
    crate::server::close(&mut c.socket).await;
}
