//! The market-data WebSocket: signed connect, subscriptions, per-`sid`
//! sequence checks, books from snapshots and deltas, resyncs, staleness,
//! pings, silence detection and reconnects.
//!
//! Every book is either *fresh* (built from a snapshot plus every delta since,
//! with no sequence gap, and uncrossed) or *stale*; only fresh books are
//! published as books, and consumers hear `Feed{Stale}` the moment we stop
//! vouching for one. A book that crosses after a delta is held back (stale)
//! while later deltas may uncross it, and resynced if they do not.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbytron_model::venue::{UpdateSink, VenueError};
use arbytron_model::{FeedState, MarketKey, MarketStatus, MarketUpdate, Side, Venue, now_ms};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::auth::{self, Signer};
use crate::book::LocalBook;
use crate::config::KalshiConfig;
use crate::decode::{self, WsMessage};
use crate::metrics;
use crate::rest::unavailable;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SOURCE: &str = "kalshi-ws";

/// Open a WebSocket with the upgrade request signed like a REST call.
pub async fn connect(cfg: &KalshiConfig, signer: &Signer) -> Result<Ws, VenueError> {
    let (_, ws_url) = cfg.environment.urls();
    let path = url::Url::parse(&ws_url).map_err(|e| unavailable(format!("WS URL {ws_url:?}: {e}")))?.path().to_string();
    let mut req = ws_url.as_str().into_client_request().map_err(|e| unavailable(format!("WS request: {e}")))?;
    let h = signer.headers("GET", &path);
    let headers = req.headers_mut();
    for (name, value) in
        [(auth::HEADER_KEY, h.key), (auth::HEADER_TIMESTAMP, h.timestamp), (auth::HEADER_SIGNATURE, h.signature)]
    {
        let v = HeaderValue::from_str(&value).map_err(|_| unavailable("unencodable auth header"))?;
        headers.insert(name, v);
    }
    let connecting = tokio_tungstenite::connect_async(req);
    match tokio::time::timeout(cfg.request_timeout, connecting).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) if resp.status().as_u16() == 401 => {
            let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).to_string()).unwrap_or_default();
            Err(VenueError::Auth { venue: Venue::Kalshi, message: format!("WebSocket upgrade refused: {body}") })
        }
        Ok(Err(e)) => Err(unavailable(format!("WS connect: {e}"))),
        Err(_) => Err(unavailable("WS connect timed out")),
    }
}

/// One market's feed state.
#[derive(Debug)]
struct MarketState {
    book: Option<LocalBook>,
    fresh: bool,
    last_update: Instant,
    /// When we asked for a fresh snapshot (resync in progress).
    resync_since: Option<Instant>,
    /// Since when the synced book has been crossed (not published meanwhile).
    crossed_since: Option<Instant>,
}

/// Why a session ended.
enum End {
    SinkClosed,
    Failed(&'static str, String),
}

/// Stream books for `tickers` into `sink` until it closes.
pub struct BookFeed {
    cfg: Arc<KalshiConfig>,
    signer: Arc<Signer>,
    tickers: Vec<String>,
    sink: UpdateSink,
    markets: HashMap<String, MarketState>,
    stale_count: i64,
}

struct Session {
    next_id: u64,
    /// Subscription id -> channel.
    channels: HashMap<u64, String>,
    /// Last seq seen per sid.
    last_seq: HashMap<u64, u64>,
    book_sid: Option<u64>,
    /// Outstanding get_snapshot commands, by command id.
    pending_resync: HashMap<u64, Vec<String>>,
    got_snapshot: bool,
}

impl BookFeed {
    pub fn new(cfg: Arc<KalshiConfig>, signer: Arc<Signer>, tickers: Vec<String>, sink: UpdateSink) -> BookFeed {
        let markets = tickers
            .iter()
            .map(|t| {
                let m = MarketState {
                    book: None,
                    fresh: false,
                    last_update: Instant::now(),
                    resync_since: None,
                    crossed_since: None,
                };
                (t.clone(), m)
            })
            .collect();
        BookFeed { cfg, signer, tickers, sink, markets, stale_count: 0 }
    }

    /// Run until the sink closes. Publishes `Stale` for every market first:
    /// nothing is vouched for before its first snapshot.
    pub async fn run(mut self) -> Result<(), VenueError> {
        for t in self.tickers.clone() {
            self.stale_count += 1;
            metrics::BOOK_STALE.with_label_values(&["kalshi"]).inc();
            if !self.publish(MarketUpdate::Feed { market: key(&t), state: FeedState::Stale, venue_ts: now_ms() }).await
            {
                {
                    self.finish();
                    return Ok(());
                }
            }
        }
        let mut attempt = 0u32;
        loop {
            let end = match connect(&self.cfg, &self.signer).await {
                Ok(ws) => {
                    let (end, healthy) = self.session(ws).await;
                    if healthy {
                        attempt = 0;
                    }
                    end
                }
                Err(VenueError::Auth { message, .. }) => End::Failed("auth", message),
                Err(e) => End::Failed("connect", e.to_string()),
            };
            match end {
                End::SinkClosed => {
                    self.finish();
                    return Ok(());
                }
                End::Failed(reason, detail) => {
                    metrics::FEED_RECONNECTS.with_label_values(&["kalshi", reason]).inc();
                    tracing::warn!(reason, detail, attempt, "kalshi market feed lost; reconnecting");
                    for t in self.tickers.clone() {
                        if !self.mark_stale(&t).await {
                            {
                                self.finish();
                                return Ok(());
                            }
                        }
                    }
                    let delay = self.cfg.reconnect.delay(attempt);
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.sink.closed() => {
                            self.finish();
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        metrics::BOOK_STALE.with_label_values(&["kalshi"]).sub(self.stale_count);
        self.stale_count = 0;
    }

    async fn publish(&self, u: MarketUpdate) -> bool {
        self.sink.send(u).await.is_ok()
    }

    /// Publish `Fresh` for every book in sync. Returns false if the sink is gone.
    async fn vouch(&self) -> bool {
        let venue_ts = now_ms();
        let fresh: Vec<String> = self
            .markets
            .iter()
            .filter(|(_, m)| m.fresh && m.book.is_some() && m.resync_since.is_none())
            .map(|(t, _)| t.clone())
            .collect();
        for t in fresh {
            if !self.publish(MarketUpdate::Feed { market: key(&t), state: FeedState::Fresh, venue_ts }).await {
                return false;
            }
        }
        true
    }

    /// Stop vouching for a book: drop it and tell consumers. Returns false if the sink is gone.
    async fn mark_stale(&mut self, ticker: &str) -> bool {
        let Some(m) = self.markets.get_mut(ticker) else { return true };
        m.book = None;
        m.crossed_since = None;
        if !m.fresh {
            return true;
        }
        m.fresh = false;
        self.stale_count += 1;
        metrics::BOOK_STALE.with_label_values(&["kalshi"]).inc();
        self.publish(MarketUpdate::Feed { market: key(ticker), state: FeedState::Stale, venue_ts: now_ms() }).await
    }

    /// Returns (why it ended, whether it got far enough to reset the backoff).
    async fn session(&mut self, mut ws: Ws) -> (End, bool) {
        let mut s = Session {
            next_id: 1,
            channels: HashMap::new(),
            last_seq: HashMap::new(),
            book_sid: None,
            pending_resync: HashMap::new(),
            got_snapshot: false,
        };
        let subs = [
            json!({"channels": ["orderbook_delta"], "market_tickers": self.tickers, "use_yes_price": self.cfg.use_yes_price}),
            json!({"channels": ["ticker"], "market_tickers": self.tickers}),
            json!({"channels": ["market_lifecycle_v2"]}),
        ];
        for params in subs {
            if let Err(e) = send_cmd(&mut ws, &mut s, "subscribe", params).await {
                return (End::Failed("send", e), false);
            }
        }
        for m in self.markets.values_mut() {
            m.resync_since = Some(Instant::now());
        }
        let tick = (self.cfg.stale_after / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let mut check = tokio::time::interval(tick);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One deadline across loop turns: the periodic check must not reset it.
        let mut last_frame = Instant::now();
        let end = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(last_frame + self.cfg.silence_timeout) => {
                    break End::Failed("silence", format!("no frame for {:?}", self.cfg.silence_timeout));
                }
                frame = ws.next() => {
                    last_frame = Instant::now();
                    let frame = match frame {
                        None => break End::Failed("closed", "stream ended".into()),
                        Some(Err(e)) => break End::Failed("error", e.to_string()),
                        Some(Ok(f)) => f,
                    };
                    match frame {
                        Message::Text(t) => {
                            if let Some(end) = self.on_text(&mut ws, &mut s, t.as_str()).await {
                                break end;
                            }
                        }
                        Message::Ping(p) => {
                            if let Err(e) = ws.send(Message::Pong(p)).await {
                                break End::Failed("send", e.to_string());
                            }
                            // The connection is alive and every synced book is
                            // current, however quiet: vouch for them (consumers
                            // age books by the last vouch, not the last change).
                            if !self.vouch().await {
                                break End::SinkClosed;
                            }
                        }
                        Message::Close(c) => break End::Failed("closed", format!("server closed: {c:?}")),
                        Message::Binary(b) => {
                            arbytron_telemetry::malformed(SOURCE, "binary_frame", &String::from_utf8_lossy(&b));
                        }
                        Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                _ = check.tick() => {
                    if let Some(end) = self.check_staleness(&mut ws, &mut s).await {
                        break end;
                    }
                }
                _ = self.sink.closed() => break End::SinkClosed,
            }
        };
        if let Err(e) = ws.close(None).await {
            tracing::debug!(error = %e, "kalshi WebSocket did not close cleanly");
        }
        (end, s.got_snapshot)
    }

    /// Books quiet for longer than `stale_after` are re-verified with a fresh
    /// snapshot; a resync that is not answered in that time ends the session.
    async fn check_staleness(&mut self, ws: &mut Ws, s: &mut Session) -> Option<End> {
        let limit = self.cfg.stale_after;
        let grace = limit.min(Duration::from_secs(1));
        let (mut quiet, mut crossed) = (Vec::new(), Vec::new());
        for (t, m) in &self.markets {
            if let Some(since) = m.resync_since {
                if since.elapsed() > limit {
                    return Some(End::Failed("resync_timeout", format!("{t}: no snapshot within {limit:?}")));
                }
            } else if m.crossed_since.is_some_and(|c| c.elapsed() > grace) {
                crossed.push(t.clone());
            } else if m.fresh && m.last_update.elapsed() > limit {
                quiet.push(t.clone());
            }
        }
        for (tickers, reason) in [(quiet, "quiet"), (crossed, "crossed")] {
            if tickers.is_empty() {
                continue;
            }
            for t in &tickers {
                if !self.mark_stale(t).await {
                    return Some(End::SinkClosed);
                }
            }
            if let Some(end) = self.resync(ws, s, tickers, reason).await {
                return Some(end);
            }
        }
        None
    }

    /// Ask for fresh snapshots of `tickers` on the book subscription.
    async fn resync(
        &mut self,
        ws: &mut Ws,
        s: &mut Session,
        tickers: Vec<String>,
        reason: &'static str,
    ) -> Option<End> {
        metrics::FEED_RESYNCS.with_label_values(&["kalshi", reason]).inc();
        let Some(sid) = s.book_sid else {
            return Some(End::Failed("resync", "no book subscription to resync".into()));
        };
        for t in &tickers {
            if let Some(m) = self.markets.get_mut(t) {
                m.resync_since = Some(Instant::now());
            }
        }
        let id = s.next_id;
        let params = json!({"sids": [sid], "action": "get_snapshot", "market_tickers": tickers});
        if let Err(e) = send_cmd(ws, s, "update_subscription", params).await {
            return Some(End::Failed("send", e));
        }
        s.pending_resync.insert(id, tickers);
        None
    }

    /// Seq check for one message on `sid`; true when messages were lost.
    fn gap(s: &mut Session, sid: u64, seq: Option<u64>) -> bool {
        let Some(seq) = seq else { return false };
        match s.last_seq.insert(sid, seq) {
            Some(prev) => prev.checked_add(1) != Some(seq),
            None => false,
        }
    }

    async fn on_gap(&mut self, ws: &mut Ws, s: &mut Session, sid: u64) -> Option<End> {
        metrics::FEED_GAPS.with_label_values(&["kalshi"]).inc();
        if Some(sid) != s.book_sid {
            // Lifecycle/ticker gaps lose no book state; statuses are re-read on the next discovery.
            tracing::warn!(sid, "kalshi sequence gap on a non-book subscription");
            return None;
        }
        tracing::warn!(sid, "kalshi book sequence gap; resyncing");
        let tickers = self.tickers.clone();
        for t in &tickers {
            if !self.mark_stale(t).await {
                return Some(End::SinkClosed);
            }
        }
        self.resync(ws, s, tickers, "gap").await
    }

    async fn on_text(&mut self, ws: &mut Ws, s: &mut Session, text: &str) -> Option<End> {
        let msg = match decode::decode(text, self.cfg.use_yes_price) {
            Ok(m) => m,
            Err(e) => {
                arbytron_telemetry::malformed(SOURCE, e.reason, text);
                tracing::debug!(detail = e.detail, "dropped kalshi message");
                return None;
            }
        };
        match msg {
            WsMessage::Subscribed { sid, channel, .. } => {
                if channel == "orderbook_delta" {
                    s.book_sid = Some(sid);
                }
                s.channels.insert(sid, channel);
            }
            WsMessage::Ok { sid: Some(sid), seq, .. } | WsMessage::Unsubscribed { sid: Some(sid), seq } => {
                if Self::gap(s, sid, seq) {
                    return self.on_gap(ws, s, sid).await;
                }
            }
            WsMessage::Ok { .. } | WsMessage::Unsubscribed { .. } => {}
            WsMessage::Error { id, code, msg } => {
                tracing::warn!(?id, code, msg, "kalshi WebSocket error");
                // 10 (channel error) and 25 (buffer overflow) are terminal, and a
                // refused resync leaves books we cannot vouch for: start over.
                if code == 10 || code == 25 || id.is_some_and(|id| s.pending_resync.contains_key(&id)) {
                    return Some(End::Failed("server_error", format!("code {code}: {msg}")));
                }
            }
            WsMessage::Snapshot { id, sid, seq, ticker, yes, no } => {
                if let Some(id) = id {
                    s.pending_resync.remove(&id);
                }
                if Self::gap(s, sid, seq)
                    && let Some(end) = self.on_gap(ws, s, sid).await
                {
                    return Some(end);
                }
                s.got_snapshot = true;
                return self.on_snapshot(&ticker, &yes, &no).await;
            }
            WsMessage::Delta { sid, seq, ticker, side, price, delta, ts_ms } => {
                if Self::gap(s, sid, seq) {
                    return self.on_gap(ws, s, sid).await;
                }
                if let Some(ts) = ts_ms {
                    metrics::FEED_LAG
                        .with_label_values(&["kalshi"])
                        .observe((now_ms().saturating_sub(ts).max(0)) as f64 / 1000.0);
                }
                let m = self.markets.get_mut(&ticker)?;
                // Deltas before the first (or the resync) snapshot are dropped.
                let book = m.book.as_mut()?;
                if let Err(e) = book.apply(side, price, delta) {
                    arbytron_telemetry::malformed(SOURCE, "bad_level", text);
                    tracing::warn!(ticker, error = %e, "bad kalshi delta; resyncing book");
                    if !self.mark_stale(&ticker).await {
                        return Some(End::SinkClosed);
                    }
                    return self.resync(ws, s, vec![ticker], "bad_delta").await;
                }
                m.last_update = Instant::now();
                return self.publish_book(&ticker, ts_ms.unwrap_or_else(now_ms)).await;
            }
            WsMessage::Lifecycle { sid, seq, ticker, event_type, result, deactivated } => {
                if let Some(sid) = sid
                    && Self::gap(s, sid, seq)
                    && let Some(end) = self.on_gap(ws, s, sid).await
                {
                    return Some(end);
                }
                if !self.markets.contains_key(&ticker) {
                    return None;
                }
                let status = match event_type.as_str() {
                    "deactivated" => Some(MarketStatus::Paused),
                    "activated" => Some(MarketStatus::Open),
                    // `settled` (the payout) usually carries no result: the
                    // `determined` before it did. Reading its absence as a void
                    // result would undo that, so only a result counts.
                    "settled" if result.is_empty() => None,
                    "determined" | "settled" => Some(MarketStatus::Settled {
                        result: match result.as_str() {
                            "yes" => Some(Side::Yes),
                            "no" => Some(Side::No),
                            _ => None,
                        },
                    }),
                    _ if deactivated == Some(true) => Some(MarketStatus::Paused),
                    _ => None,
                };
                if let Some(status) = status
                    && !self.publish(MarketUpdate::Status { market: key(&ticker), status, venue_ts: now_ms() }).await
                {
                    return Some(End::SinkClosed);
                }
            }
            WsMessage::Ticker { ts_ms, .. } => {
                if let Some(ts) = ts_ms {
                    metrics::FEED_LAG
                        .with_label_values(&["kalshi"])
                        .observe((now_ms().saturating_sub(ts).max(0)) as f64 / 1000.0);
                }
            }
            WsMessage::Other { sid: Some(sid), seq, .. } => {
                if Self::gap(s, sid, seq) {
                    return self.on_gap(ws, s, sid).await;
                }
            }
            WsMessage::Fill(_) | WsMessage::Other { .. } => {}
        }
        None
    }

    async fn on_snapshot(
        &mut self,
        ticker: &str,
        yes: &[(arbytron_model::Price, arbytron_model::Qty)],
        no: &[(arbytron_model::Price, arbytron_model::Qty)],
    ) -> Option<End> {
        let m = self.markets.get_mut(ticker)?;
        match LocalBook::from_snapshot(yes, no) {
            Ok(b) => {
                m.book = Some(b);
                m.last_update = Instant::now();
                m.resync_since = None;
                m.crossed_since = None;
            }
            Err(e) => {
                arbytron_telemetry::malformed(SOURCE, "bad_snapshot", &format!("{ticker}: {e}"));
                return None;
            }
        }
        let depth = self.cfg.book_depth;
        let book = match m.book.as_ref().map(|b| b.to_book(depth)) {
            Some(Ok(b)) => b,
            _ => {
                arbytron_telemetry::malformed(SOURCE, "crossed_snapshot", ticker);
                m.book = None;
                return None;
            }
        };
        let was_fresh = m.fresh;
        m.fresh = true;
        if !self.publish(MarketUpdate::Book { market: key(ticker), book, venue_ts: now_ms() }).await {
            return Some(End::SinkClosed);
        }
        if !was_fresh {
            self.stale_count -= 1;
            metrics::BOOK_STALE.with_label_values(&["kalshi"]).dec();
            if !self
                .publish(MarketUpdate::Feed { market: key(ticker), state: FeedState::Fresh, venue_ts: now_ms() })
                .await
            {
                return Some(End::SinkClosed);
            }
        }
        None
    }

    /// Publish a synced book after a change; a crossed book is withheld (and
    /// the market reported stale) until a later delta uncrosses it.
    async fn publish_book(&mut self, ticker: &str, venue_ts: i64) -> Option<End> {
        let depth = self.cfg.book_depth;
        let m = self.markets.get_mut(ticker)?;
        let local = m.book.as_ref()?;
        match local.to_book(depth) {
            Ok(book) => {
                m.crossed_since = None;
                let became_fresh = !m.fresh;
                m.fresh = true;
                if !self.publish(MarketUpdate::Book { market: key(ticker), book, venue_ts }).await {
                    return Some(End::SinkClosed);
                }
                if became_fresh {
                    self.stale_count -= 1;
                    metrics::BOOK_STALE.with_label_values(&["kalshi"]).dec();
                    let fresh = MarketUpdate::Feed { market: key(ticker), state: FeedState::Fresh, venue_ts: now_ms() };
                    if !self.publish(fresh).await {
                        return Some(End::SinkClosed);
                    }
                }
                None
            }
            Err(e) => {
                tracing::debug!(ticker, error = %e, "kalshi book crossed after a delta; holding it back");
                if m.crossed_since.is_none() {
                    m.crossed_since = Some(Instant::now());
                }
                if m.fresh {
                    m.fresh = false;
                    self.stale_count += 1;
                    metrics::BOOK_STALE.with_label_values(&["kalshi"]).inc();
                    let stale = MarketUpdate::Feed { market: key(ticker), state: FeedState::Stale, venue_ts: now_ms() };
                    if !self.publish(stale).await {
                        return Some(End::SinkClosed);
                    }
                }
                None
            }
        }
    }
}

fn key(ticker: &str) -> MarketKey {
    MarketKey::new(Venue::Kalshi, ticker)
}

async fn send_cmd(ws: &mut Ws, s: &mut Session, cmd: &str, params: serde_json::Value) -> Result<(), String> {
    let id = s.next_id;
    s.next_id += 1;
    let text = json!({"id": id, "cmd": cmd, "params": params}).to_string();
    ws.send(Message::text(text)).await.map_err(|e| e.to_string())
}
