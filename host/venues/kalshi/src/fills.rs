//! Our fills as they happen: the private `fill` WebSocket channel, with a REST
//! backfill after every reconnect so a dropped connection loses nothing.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use arbytron_integration::ws::{self as net, Conn, Flow, Why};
use arbytron_model::venue::{FillEvent, FillState};
use arbytron_model::{MarketKey, Money, Price, Qty, Venue};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::client::Request;

use crate::auth::Signer;
use crate::config::KalshiConfig;
use crate::convert::{self, BookSide};
use crate::decode::{self, FillMsg, WsMessage};
use crate::intents::Intents;
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

/// The private `fill` channel as a WebSocket handler.
struct FillFeed {
    cfg: Arc<KalshiConfig>,
    signer: Arc<Signer>,
    rest: RestClient,
    intents: Arc<Intents>,
    tx: mpsc::Sender<FillEvent>,
    seen: Seen,
    last_ts_ms: Option<i64>,
    first: bool,
}

impl FillFeed {
    /// Deliver a fill once; false when nobody listens any more.
    async fn deliver(&mut self, f: &FillMsg) -> bool {
        !self.seen.insert(&f.trade_id) || self.tx.send(fill_event(f, &self.intents)).await.is_ok()
    }

    /// Fills that happened while we were away, oldest first.
    async fn backfill(&mut self) -> bool {
        let since = self.last_ts_ms.map(|ms| ms / 1000 - 1);
        match self.rest.fills(None, since).await {
            Ok(fills) => {
                let mut fills: Vec<FillMsg> = fills.iter().filter_map(rest_fill).collect();
                fills.sort_by_key(|f| f.ts_ms);
                for f in &fills {
                    if !self.deliver(f).await {
                        return false;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "kalshi fill backfill failed"),
        }
        true
    }
}

impl net::Handler for FillFeed {
    fn request(&mut self, _url: &str) -> Result<Request, net::WsError> {
        ws::signed_request(&self.cfg, &self.signer)
    }

    async fn on_open(&mut self, conn: &mut Conn<'_>) -> Flow {
        let sub = json!({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill"]}}).to_string();
        if let Err(e) = conn.send_text(sub).await {
            return Flow::Reconnect(Why::failed("send", e.to_string()));
        }
        if !self.first && !self.backfill().await {
            return Flow::Stop;
        }
        self.first = false;
        conn.healthy();
        Flow::Continue
    }

    async fn on_text(&mut self, text: &str, _conn: &mut Conn<'_>) -> Flow {
        match decode::decode(text, false) {
            Ok(WsMessage::Fill(f)) => {
                self.last_ts_ms = self.last_ts_ms.max(f.ts_ms);
                if !self.deliver(&f).await {
                    return Flow::Stop;
                }
            }
            Ok(WsMessage::Error { code, msg, .. }) => {
                return Flow::Reconnect(Why::failed("server_error", format!("code {code}: {msg}")));
            }
            Ok(_) => {}
            Err(e) => arbytron_telemetry::malformed("kalshi-ws", e.reason, text),
        }
        Flow::Continue
    }

    async fn on_disconnect(&mut self, _why: &Why) -> Flow {
        if self.tx.is_closed() { Flow::Stop } else { Flow::Continue }
    }
}

/// Run until `tx`'s receiver is dropped; every reconnect backfills over REST.
pub(crate) async fn run(
    cfg: Arc<KalshiConfig>,
    signer: Arc<Signer>,
    rest: RestClient,
    intents: Arc<Intents>,
    tx: mpsc::Sender<FillEvent>,
) {
    let ws_cfg = ws::ws_config(&cfg, "fill", None);
    let watch = tx.clone();
    let mut feed = FillFeed {
        cfg,
        signer,
        rest,
        intents,
        tx,
        seen: Seen { set: HashSet::new(), order: VecDeque::new() },
        last_ts_ms: None,
        first: true,
    };
    net::run(&ws_cfg, &mut feed, async move { watch.closed().await }).await;
}
