//! Our fills as they happen: the private `fill` WebSocket channel, with a REST
//! backfill after every reconnect so a dropped connection loses nothing.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use arbytron_model::venue::{FillEvent, FillState};
use arbytron_model::{MarketKey, Money, Price, Qty, Venue};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::auth::Signer;
use crate::config::KalshiConfig;
use crate::convert::{self, BookSide};
use crate::decode::{self, FillMsg, WsMessage};
use crate::intents::Intents;
use crate::metrics;
use crate::rest::RestClient;
use crate::ws;

/// Trade ids already delivered, so a backfill never repeats a fill. Bounded.
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    const CAP: usize = 100_000;

    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        self.set.insert(id.to_string());
        self.order.push_back(id.to_string());
        if self.order.len() > Seen::CAP
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

pub(crate) fn fill_event(f: &FillMsg, intents: &Intents) -> FillEvent {
    let book_side = if f.book_side == "ask" { BookSide::Ask } else { BookSide::Bid };
    let (side, _) = intents
        .lookup(Some(&f.order_id), f.client_order_id.as_deref())
        .unwrap_or_else(|| crate::exec::default_intent(&f.outcome_side, &f.book_side));
    let (action, price) = convert::from_v2(book_side, f.yes_price, side);
    FillEvent {
        venue: Venue::Kalshi,
        trade_id: f.trade_id.clone(),
        venue_order_id: f.order_id.clone(),
        client_order_id: f.client_order_id.clone(),
        market: MarketKey::new(Venue::Kalshi, f.ticker.clone()),
        side,
        action,
        quantity: f.count,
        price,
        fee: f.fee,
        // Kalshi fills are final when reported.
        state: FillState::Confirmed,
        ts: f.ts_ms.unwrap_or_else(crate::auth::now_ms),
    }
}

fn rest_fill(f: &crate::wire::Fill) -> Option<FillMsg> {
    Some(FillMsg {
        trade_id: f.fill_id.clone(),
        order_id: f.order_id.clone(),
        client_order_id: None,
        ticker: f.ticker.clone(),
        is_taker: f.is_taker,
        yes_price: Price::parse(&f.yes_price_dollars).ok()?,
        count: Qty::parse_non_negative(&f.count_fp).ok()?,
        fee: f.fee_cost.as_deref().map(Money::parse).transpose().ok()?.unwrap_or(Money::ZERO),
        outcome_side: f.outcome_side.clone(),
        book_side: f.book_side.clone(),
        ts_ms: f.ts.map(|s| s.saturating_mul(1000)),
    })
}

/// Run until `tx`'s receiver is dropped.
pub(crate) async fn run(
    cfg: Arc<KalshiConfig>,
    signer: Arc<Signer>,
    rest: RestClient,
    intents: Arc<Intents>,
    tx: mpsc::Sender<FillEvent>,
) {
    let mut seen = Seen { set: HashSet::new(), order: VecDeque::new() };
    let mut attempt = 0u32;
    let mut last_ts_ms: Option<i64> = None;
    let mut first = true;
    loop {
        if tx.is_closed() {
            return;
        }
        let mut conn = match ws::connect(&cfg, &signer).await {
            Ok(c) => c,
            Err(e) => {
                metrics::FEED_RECONNECTS.with_label_values(&["kalshi", "fills_connect"]).inc();
                tracing::warn!(error = %e, "kalshi fill stream: connect failed");
                tokio::select! {
                    _ = tokio::time::sleep(cfg.reconnect.delay(attempt)) => {}
                    _ = tx.closed() => return,
                }
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        let sub = json!({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill"]}}).to_string();
        if conn.send(Message::text(sub)).await.is_err() {
            continue;
        }
        // Fills that happened while we were away.
        if !first {
            let since = last_ts_ms.map(|ms| ms / 1000 - 1);
            match rest.fills(None, since).await {
                Ok(fills) => {
                    let mut fills: Vec<FillMsg> = fills.iter().filter_map(rest_fill).collect();
                    fills.sort_by_key(|f| f.ts_ms);
                    for f in fills {
                        if seen.insert(&f.trade_id) && tx.send(fill_event(&f, &intents)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "kalshi fill backfill failed"),
            }
        }
        first = false;
        loop {
            let frame = tokio::select! {
                f = tokio::time::timeout(cfg.silence_timeout, conn.next()) => f,
                _ = tx.closed() => return,
            };
            match frame {
                Ok(Some(Ok(Message::Text(t)))) => match decode::decode(t.as_str(), false) {
                    Ok(WsMessage::Fill(f)) => {
                        attempt = 0;
                        last_ts_ms = last_ts_ms.max(f.ts_ms);
                        if seen.insert(&f.trade_id) && tx.send(fill_event(&f, &intents)).await.is_err() {
                            return;
                        }
                    }
                    Ok(WsMessage::Error { code, msg, .. }) => {
                        tracing::warn!(code, msg, "kalshi fill stream error");
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => arbytron_telemetry::malformed("kalshi-ws", e.reason, t.as_str()),
                },
                Ok(Some(Ok(Message::Ping(p)))) => {
                    if conn.send(Message::Pong(p)).await.is_err() {
                        break;
                    }
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => break,
                Ok(Some(Ok(_))) => {}
            }
        }
        metrics::FEED_RECONNECTS.with_label_values(&["kalshi", "fills"]).inc();
        tokio::select! {
            _ = tokio::time::sleep(cfg.reconnect.delay(attempt)) => {}
            _ = tx.closed() => return,
        }
        attempt = attempt.saturating_add(1);
    }
}
