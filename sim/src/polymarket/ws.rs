//! The WebSocket host: `/ws/market` (books by asset) and `/ws/user` (our
//! trades and orders, authenticated in the subscribe message).
//!
//! A connection opened before a `Freeze` fault goes silent (no events, no
//! PONG) until the freeze ends, holding what it would have sent and sending
//! it late, as a stalled TCP connection would; connections opened after the
//! fault are unaffected. `Disconnect` closes every connection.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::Shared;
use super::state::{BookDelta, Control, MarketMsg};
use crate::matching::BookSide;

type S = Arc<Shared>;

/// A connection may hold this many frames while frozen before it is dropped.
const MAX_HELD: usize = 100_000;

pub fn router(s: S) -> Router {
    Router::new().route("/ws/market", get(market)).route("/ws/user", get(user)).with_state(s)
}

async fn market(State(s): State<S>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| market_conn(socket, s))
}

async fn user(State(s): State<S>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| user_conn(socket, s))
}

/// Outgoing frames, held while the connection is frozen.
struct Out {
    epoch: u64,
    held: VecDeque<String>,
}

impl Out {
    fn new(s: &S) -> Out {
        Out { epoch: s.freeze.lock().0, held: VecDeque::new() }
    }

    /// Until when this connection is frozen, if it is.
    fn frozen_until(&self, s: &S) -> Option<Instant> {
        let f = s.freeze.lock();
        f.1.filter(|until| self.epoch < f.0 && Instant::now() < *until)
    }

    /// Queue a frame and send whatever may be sent; `false` when the connection is gone.
    async fn send(
        &mut self,
        s: &S,
        tx: &mut futures::stream::SplitSink<WebSocket, Message>,
        frame: Option<String>,
    ) -> bool {
        if let Some(f) = frame {
            self.held.push_back(f);
        }
        if self.held.len() > MAX_HELD {
            return false;
        }
        if self.frozen_until(s).is_some() {
            return true;
        }
        while let Some(f) = self.held.pop_front() {
            if tx.send(Message::Text(f.into())).await.is_err() {
                return false;
            }
        }
        true
    }
}

fn fmt_price(p: arbytron_sdk::Price, d: u32) -> String {
    p.to_decimal_string(d).unwrap_or_else(|_| p.to_string())
}

/// The `price_change` event of `delta` for the subscribed tokens, if any.
fn price_change(delta: &BookDelta, subs: &HashMap<String, u64>) -> Option<String> {
    let want = |token: &str| subs.get(token).is_some_and(|snap| delta.seq > *snap);
    let (yes, no) = (want(&delta.yes_token), want(&delta.no_token));
    if !yes && !no {
        return None;
    }
    let d = delta.price_decimals;
    let size = |q: arbytron_sdk::Qty| q.to_decimal_string(2).unwrap_or_else(|_| q.to_string());
    let best_yes = (delta.best.0.map(|p| fmt_price(p, d)), delta.best.1.map(|p| fmt_price(p, d)));
    let best_no =
        (delta.best.1.map(|p| fmt_price(p.complement(), d)), delta.best.0.map(|p| fmt_price(p.complement(), d)));
    let mut changes = Vec::new();
    for &(side, price, qty) in &delta.changes {
        if yes {
            changes.push(json!({
                "asset_id": delta.yes_token,
                "price": fmt_price(price, d),
                "size": size(qty),
                "side": if side == BookSide::Bid { "BUY" } else { "SELL" },
                "best_bid": best_yes.0.clone().unwrap_or_default(),
                "best_ask": best_yes.1.clone().unwrap_or_default(),
            }));
        }
        if no {
            // A YES bid at p is a NO ask at 1 - p, and the reverse.
            changes.push(json!({
                "asset_id": delta.no_token,
                "price": fmt_price(price.complement(), d),
                "size": size(qty),
                "side": if side == BookSide::Bid { "SELL" } else { "BUY" },
                "best_bid": best_no.0.clone().unwrap_or_default(),
                "best_ask": best_no.1.clone().unwrap_or_default(),
            }));
        }
    }
    Some(
        json!({
            "event_type": "price_change",
            "market": delta.cid,
            "timestamp": delta.ts.to_string(),
            "price_changes": changes,
        })
        .to_string(),
    )
}

async fn market_conn(socket: WebSocket, s: S) {
    let (mut tx, mut rx) = socket.split();
    let mut out = Out::new(&s);
    let mut control = s.venue.lock().control_tx.subscribe();
    let mut feed: Option<tokio::sync::broadcast::Receiver<MarketMsg>> = None;
    // Token -> the delta sequence its snapshot already includes.
    let mut subs: HashMap<String, u64> = HashMap::new();
    loop {
        let thaw = out.frozen_until(&s).filter(|_| !out.held.is_empty());
        tokio::select! {
            frame = rx.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                if text.trim() == "PING" {
                    if !out.send(&s, &mut tx, Some("PONG".into())).await { return; }
                    continue;
                }
                let Ok(req) = serde_json::from_str::<Value>(&text) else {
                    if !out.send(&s, &mut tx, Some(json!({"error": "invalid message"}).to_string())).await { return; }
                    continue;
                };
                let assets: Vec<String> = req
                    .get("assets_ids")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                if req.get("operation").and_then(Value::as_str) == Some("unsubscribe") {
                    for a in &assets {
                        subs.remove(a);
                    }
                    continue;
                }
                if assets.len() > 500 {
                    let _ = out.send(&s, &mut tx, Some(json!({"error": "too many assets (500 max)"}).to_string())).await;
                    return;
                }
                // Snapshot and subscribe under the venue lock: the feed then
                // carries exactly the changes after these snapshots.
                let snapshots: Vec<Value> = {
                    let v = s.venue.lock();
                    if feed.is_none() {
                        feed = Some(v.market_tx.subscribe());
                    }
                    let mut snaps = Vec::new();
                    for a in &assets {
                        if let Some(mut b) = v.book_json(a) {
                            b["event_type"] = json!("book");
                            snaps.push(b);
                            subs.insert(a.clone(), v.seq);
                        }
                    }
                    snaps
                };
                if !snapshots.is_empty() && !out.send(&s, &mut tx, Some(Value::Array(snapshots).to_string())).await {
                    return;
                }
            }
            msg = async { match feed.as_mut() { Some(f) => f.recv().await, None => std::future::pending().await } } => {
                let frame = match msg {
                    Ok(MarketMsg::Delta(d)) => price_change(&d, &subs),
                    Ok(MarketMsg::Event { assets, json }) => {
                        assets.iter().any(|a| subs.contains_key(a)).then(|| json.as_str().to_string())
                    }
                    // Too slow to keep up: the client must resync from snapshots.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                };
                if frame.is_some() && !out.send(&s, &mut tx, frame).await {
                    return;
                }
            }
            c = control.recv() => {
                if matches!(c, Ok(Control::Disconnect) | Err(RecvError::Closed)) {
                    crate::server::close(&mut tx).await;
                    return;
                }
            }
            _ = async { match thaw { Some(t) => tokio::time::sleep_until(t.into()).await, None => std::future::pending().await } } => {
                if !out.send(&s, &mut tx, None).await { return; }
            }
        }
    }
}

/// Counts an authenticated user connection for as long as it lives.
struct Counted(S);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.user_connections.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

async fn user_conn(socket: WebSocket, s: S) {
    let mut _counted: Option<Counted> = None;
    let (mut tx, mut rx) = socket.split();
    let mut out = Out::new(&s);
    let mut control = s.venue.lock().control_tx.subscribe();
    let mut feed: Option<tokio::sync::broadcast::Receiver<super::state::UserMsg>> = None;
    let mut api_key = String::new();
    let mut markets: HashSet<String> = HashSet::new();
    loop {
        let thaw = out.frozen_until(&s).filter(|_| !out.held.is_empty());
        tokio::select! {
            frame = rx.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                if text.trim() == "PING" {
                    if !out.send(&s, &mut tx, Some("PONG".into())).await { return; }
                    continue;
                }
                let req: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let auth = req.get("auth");
                let field = |k: &str| auth.and_then(|a| a.get(k)).and_then(Value::as_str).unwrap_or_default().to_string();
                let (key, secret, pass) = (field("apiKey"), field("secret"), field("passphrase"));
                let ok = {
                    let v = s.venue.lock();
                    let ok = v.accounts.get(&key).and_then(|a| a.account.as_ref()).is_some_and(|a| {
                        a.secret.matches(&secret) && a.passphrase.matches(&pass)
                    });
                    if ok && feed.is_none() {
                        feed = Some(v.user_tx.subscribe());
                    }
                    ok
                };
                if !ok {
                    let refusal = json!({"error": "Unauthorized: invalid credentials"}).to_string();
                    if tx.send(Message::Text(refusal.into())).await.is_err() {
                        return;
                    }
                    crate::server::close(&mut tx).await;
                    return;
                }
                if _counted.is_none() {
                    s.user_connections.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    _counted = Some(Counted(s.clone()));
                }
                api_key = key;
                markets = req
                    .get("markets")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
            }
            msg = async { match feed.as_mut() { Some(f) => f.recv().await, None => std::future::pending().await } } => {
                match msg {
                    Ok(m) if m.api_key == api_key => {
                        let wanted = markets.is_empty() || serde_json::from_str::<Value>(&m.json).ok()
                            .and_then(|v| v.get("market").and_then(Value::as_str).map(|c| markets.contains(c)))
                            .unwrap_or(true);
                        if wanted && !out.send(&s, &mut tx, Some(m.json.as_str().to_string())).await {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
            c = control.recv() => {
                if matches!(c, Ok(Control::Disconnect) | Err(RecvError::Closed)) {
                    crate::server::close(&mut tx).await;
                    return;
                }
            }
            _ = async { match thaw { Some(t) => tokio::time::sleep_until(t.into()).await, None => std::future::pending().await } } => {
                if !out.send(&s, &mut tx, None).await { return; }
            }
        }
    }
}
