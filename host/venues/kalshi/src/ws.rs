//! The market-data WebSocket: signed connect, subscriptions, per-`sid`
//! sequence checks, books from snapshots and deltas, resyncs and staleness.
//! The connection's life (pings, silence, reconnects with backoff) is the
//! integration layer's [`ws::run`]; this is Kalshi's [`ws::Handler`].
//!
//! Every book is either *fresh* (built from a snapshot plus every delta since,
//! with no sequence gap, and uncrossed) or *stale*; only fresh books are
//! published as books, and consumers hear `Feed{Stale}` the moment we stop
//! vouching for one. A book that crosses after a delta is held back (stale)
//! while later deltas may uncross it, and resynced if they do not.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbytron_integration::watchdog::{Bounds, Watchdog};
use arbytron_integration::ws::{self, Conn, Flow, Keepalive, Why, WsConfig, WsStream};
use arbytron_model::venue::{UpdateSink, VenueError};
use arbytron_model::{FeedState, MarketKey, MarketStatus, MarketUpdate, Side, Venue, now_ms};
use serde_json::json;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;

use crate::auth::Signer;
use crate::book::LocalBook;
use crate::config::KalshiConfig;
use crate::decode::{self, WsMessage};
use crate::metrics;
use crate::rest::unavailable;

const SOURCE: &str = "kalshi-ws";

/// The upgrade request for `cfg`'s WebSocket, signed like a REST call.
pub fn signed_request(cfg: &KalshiConfig, signer: &Signer) -> Result<Request, ws::WsError> {
    let (_, ws_url) = cfg.environment.urls();
    let path = url::Url::parse(&ws_url)
        .map_err(|e| ws::WsError::Request(format!("WS URL {ws_url:?}: {e}")))?
        .path()
        .to_string();
    let mut req = ws_url.as_str().into_client_request().map_err(|e| ws::WsError::Request(e.to_string()))?;
    let h = signer.headers("GET", &path).map_err(|e| ws::WsError::Request(e.to_string()))?;
    ws::set_header(&mut req, "kalshi-access-key", &h.key)?;
    ws::set_header(&mut req, "kalshi-access-timestamp", &h.timestamp)?;
    ws::set_header(&mut req, "kalshi-access-signature", &h.signature)?;
    Ok(req)
}

/// Open one signed WebSocket (the feeds reconnect through [`ws::run`]).
pub async fn connect(cfg: &KalshiConfig, signer: &Signer) -> Result<WsStream, VenueError> {
    let req = signed_request(cfg, signer).map_err(|e| unavailable(e.to_string()))?;
    ws::connect(req, cfg.request_timeout).await.map_err(|e| match e {
        e if e.is_auth() => VenueError::Auth { venue: Venue::Kalshi, message: e.to_string() },
        e => unavailable(e.to_string()),
    })
}

/// The connection settings every Kalshi channel shares: Kalshi pings us every
/// 10 s, so silence past `silence_timeout` is a dead connection.
pub(crate) fn ws_config(cfg: &KalshiConfig, channel: &'static str, tick: Option<Duration>) -> WsConfig {
    WsConfig {
        venue: "kalshi",
        channel,
        url: cfg.environment.urls().1,
        connect_timeout: cfg.request_timeout,
        keepalive: Keepalive::ServerPings,
        silence_timeout: cfg.silence_timeout,
        reconnect: cfg.reconnect,
        tick,
    }
}

/// One market's feed state.
#[derive(Debug)]
struct MarketState {
    book: Option<LocalBook>,
    fresh: bool,
    /// When we asked for a fresh snapshot (resync in progress).
    resync_since: Option<Instant>,
    /// Since when the synced book has been crossed (not published meanwhile).
    crossed_since: Option<Instant>,
}

/// Stream books for `tickers` into `sink` until it closes.
pub struct BookFeed {
    cfg: Arc<KalshiConfig>,
    signer: Arc<Signer>,
    tickers: Vec<String>,
    sink: UpdateSink,
    markets: HashMap<String, MarketState>,
    stale_count: i64,
    session: Session,
    /// When each book last changed: a fresh book quiet past `stale_after` is re-verified.
    quiet: Watchdog<String>,
}

#[derive(Default)]
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
                let m = MarketState { book: None, fresh: false, resync_since: None, crossed_since: None };
                (t.clone(), m)
            })
            .collect();
        let mut quiet = Watchdog::new(Bounds::fixed(cfg.stale_after));
        let now = Instant::now();
        for t in &tickers {
            quiet.watch(t.clone(), now);
        }
        BookFeed { cfg, signer, tickers, sink, markets, stale_count: 0, session: Session::default(), quiet }
    }

    /// Run until the sink closes. Publishes `Stale` for every market first:
    /// nothing is vouched for before its first snapshot.
    pub async fn run(mut self) -> Result<(), VenueError> {
        for t in self.tickers.clone() {
            self.stale_count += 1;
            metrics::BOOK_STALE.with_label_values(&["kalshi"]).inc();
            if !self.publish(MarketUpdate::Feed { market: key(&t), state: FeedState::Stale, venue_ts: now_ms() }).await
            {
                self.finish();
                return Ok(());
            }
        }
        let tick = (self.cfg.stale_after / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let cfg = ws_config(&self.cfg, "market", Some(tick));
        let sink = self.sink.clone();
        ws::run(&cfg, &mut self, async move { sink.closed().await }).await;
        self.finish();
        Ok(())
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

    /// Books quiet for longer than `stale_after` are re-verified with a fresh
    /// snapshot; a resync that is not answered in that time ends the session.
    async fn check_staleness(&mut self, conn: &mut Conn<'_>) -> Option<Flow> {
        let limit = self.cfg.stale_after;
        let grace = limit.min(Duration::from_secs(1));
        let overdue = self.quiet.overdue(Instant::now());
        let (mut quiet, mut crossed) = (Vec::new(), Vec::new());
        for (t, m) in &self.markets {
            if let Some(since) = m.resync_since {
                if since.elapsed() > limit {
                    return Some(Flow::Reconnect(Why::failed(
                        "resync_timeout",
                        format!("{t}: no snapshot within {limit:?}"),
                    )));
                }
            } else if m.crossed_since.is_some_and(|c| c.elapsed() > grace) {
                crossed.push(t.clone());
            } else if m.fresh && overdue.contains(t) {
                quiet.push(t.clone());
            }
        }
        for (tickers, reason) in [(quiet, "quiet"), (crossed, "crossed")] {
            if tickers.is_empty() {
                continue;
            }
            for t in &tickers {
                if !self.mark_stale(t).await {
                    return Some(Flow::Stop);
                }
            }
            if let Some(end) = self.resync(conn, tickers, reason).await {
                return Some(end);
            }
        }
        None
    }

    /// Ask for fresh snapshots of `tickers` on the book subscription.
    async fn resync(&mut self, conn: &mut Conn<'_>, tickers: Vec<String>, reason: &'static str) -> Option<Flow> {
        metrics::FEED_RESYNCS.with_label_values(&["kalshi", reason]).inc();
        let Some(sid) = self.session.book_sid else {
            return Some(Flow::Reconnect(Why::failed("resync", "no book subscription to resync")));
        };
        for t in &tickers {
            if let Some(m) = self.markets.get_mut(t) {
                m.resync_since = Some(Instant::now());
            }
        }
        let id = self.session.next_id;
        let params = json!({"sids": [sid], "action": "get_snapshot", "market_tickers": tickers});
        if let Err(e) = send_cmd(conn, &mut self.session, "update_subscription", params).await {
            return Some(Flow::Reconnect(Why::failed("send", e)));
        }
        self.session.pending_resync.insert(id, tickers);
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

    async fn on_gap(&mut self, conn: &mut Conn<'_>, sid: u64) -> Option<Flow> {
        metrics::FEED_GAPS.with_label_values(&["kalshi"]).inc();
        if Some(sid) != self.session.book_sid {
            // Lifecycle/ticker gaps lose no book state; statuses are re-read on the next discovery.
            tracing::warn!(sid, "kalshi sequence gap on a non-book subscription");
            return None;
        }
        tracing::warn!(sid, "kalshi book sequence gap; resyncing");
        let tickers = self.tickers.clone();
        for t in &tickers {
            if !self.mark_stale(t).await {
                return Some(Flow::Stop);
            }
        }
        self.resync(conn, tickers, "gap").await
    }

    async fn on_message(&mut self, conn: &mut Conn<'_>, text: &str) -> Option<Flow> {
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
                    self.session.book_sid = Some(sid);
                }
                self.session.channels.insert(sid, channel);
            }
            WsMessage::Ok { sid: Some(sid), seq, .. } | WsMessage::Unsubscribed { sid: Some(sid), seq } => {
                if Self::gap(&mut self.session, sid, seq) {
                    return self.on_gap(conn, sid).await;
                }
            }
            WsMessage::Ok { .. } | WsMessage::Unsubscribed { .. } => {}
            WsMessage::Error { id, code, msg } => {
                tracing::warn!(?id, code, msg, "kalshi WebSocket error");
                // 10 (channel error) and 25 (buffer overflow) are terminal, and a
                // refused resync leaves books we cannot vouch for: start over.
                if code == 10 || code == 25 || id.is_some_and(|id| self.session.pending_resync.contains_key(&id)) {
                    return Some(Flow::Reconnect(Why::failed("server_error", format!("code {code}: {msg}"))));
                }
            }
            WsMessage::Snapshot { id, sid, seq, ticker, yes, no } => {
                if let Some(id) = id {
                    self.session.pending_resync.remove(&id);
                }
                if Self::gap(&mut self.session, sid, seq)
                    && let Some(end) = self.on_gap(conn, sid).await
                {
                    return Some(end);
                }
                self.session.got_snapshot = true;
                return self.on_snapshot(&ticker, &yes, &no).await;
            }
            WsMessage::Delta { sid, seq, ticker, side, price, delta, ts_ms } => {
                if Self::gap(&mut self.session, sid, seq) {
                    return self.on_gap(conn, sid).await;
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
                        return Some(Flow::Stop);
                    }
                    return self.resync(conn, vec![ticker], "bad_delta").await;
                }
                self.quiet.touch(&ticker, Instant::now());
                return self.publish_book(&ticker, ts_ms.unwrap_or_else(now_ms)).await;
            }
            WsMessage::Lifecycle { sid, seq, ticker, event_type, result, deactivated } => {
                if let Some(sid) = sid
                    && Self::gap(&mut self.session, sid, seq)
                    && let Some(end) = self.on_gap(conn, sid).await
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
                    return Some(Flow::Stop);
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
                if Self::gap(&mut self.session, sid, seq) {
                    return self.on_gap(conn, sid).await;
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
    ) -> Option<Flow> {
        let m = self.markets.get_mut(ticker)?;
        match LocalBook::from_snapshot(yes, no) {
            Ok(b) => {
                m.book = Some(b);
                self.quiet.touch(&ticker.to_string(), Instant::now());
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
            return Some(Flow::Stop);
        }
        if !was_fresh {
            self.stale_count -= 1;
            metrics::BOOK_STALE.with_label_values(&["kalshi"]).dec();
            if !self
                .publish(MarketUpdate::Feed { market: key(ticker), state: FeedState::Fresh, venue_ts: now_ms() })
                .await
            {
                return Some(Flow::Stop);
            }
        }
        None
    }

    /// Publish a synced book after a change; a crossed book is withheld (and
    /// the market reported stale) until a later delta uncrosses it.
    async fn publish_book(&mut self, ticker: &str, venue_ts: i64) -> Option<Flow> {
        let depth = self.cfg.book_depth;
        let m = self.markets.get_mut(ticker)?;
        let local = m.book.as_ref()?;
        match local.to_book(depth) {
            Ok(book) => {
                m.crossed_since = None;
                let became_fresh = !m.fresh;
                m.fresh = true;
                if !self.publish(MarketUpdate::Book { market: key(ticker), book, venue_ts }).await {
                    return Some(Flow::Stop);
                }
                if became_fresh {
                    self.stale_count -= 1;
                    metrics::BOOK_STALE.with_label_values(&["kalshi"]).dec();
                    let fresh = MarketUpdate::Feed { market: key(ticker), state: FeedState::Fresh, venue_ts: now_ms() };
                    if !self.publish(fresh).await {
                        return Some(Flow::Stop);
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
                        return Some(Flow::Stop);
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

async fn send_cmd(conn: &mut Conn<'_>, s: &mut Session, cmd: &str, params: serde_json::Value) -> Result<(), String> {
    let id = s.next_id;
    s.next_id += 1;
    let text = json!({"id": id, "cmd": cmd, "params": params}).to_string();
    conn.send_text(text).await.map_err(|e| e.to_string())
}

impl ws::Handler for BookFeed {
    fn request(&mut self, _url: &str) -> Result<Request, ws::WsError> {
        signed_request(&self.cfg, &self.signer)
    }

    async fn on_open(&mut self, conn: &mut Conn<'_>) -> Flow {
        self.session = Session { next_id: 1, ..Session::default() };
        let subs = [
            json!({"channels": ["orderbook_delta"], "market_tickers": self.tickers, "use_yes_price": self.cfg.use_yes_price}),
            json!({"channels": ["ticker"], "market_tickers": self.tickers}),
            json!({"channels": ["market_lifecycle_v2"]}),
        ];
        for params in subs {
            if let Err(e) = send_cmd(conn, &mut self.session, "subscribe", params).await {
                return Flow::Reconnect(Why::failed("send", e));
            }
        }
        for m in self.markets.values_mut() {
            m.resync_since = Some(Instant::now());
        }
        Flow::Continue
    }

    async fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) -> Flow {
        let flow = self.on_message(conn, text).await.unwrap_or(Flow::Continue);
        if self.session.got_snapshot {
            conn.healthy();
        }
        flow
    }

    /// A server ping: the connection is alive and every synced book is
    /// current, however quiet (consumers age books by the last vouch).
    async fn on_alive(&mut self) -> Flow {
        if self.vouch().await { Flow::Continue } else { Flow::Stop }
    }

    async fn on_tick(&mut self, conn: &mut Conn<'_>) -> Flow {
        self.check_staleness(conn).await.unwrap_or(Flow::Continue)
    }

    async fn on_disconnect(&mut self, _why: &Why) -> Flow {
        for t in self.tickers.clone() {
            if !self.mark_stale(&t).await {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }
}
