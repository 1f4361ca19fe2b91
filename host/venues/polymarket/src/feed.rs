//! The market channel: live books over WebSocket, sharded, watched for silence.
//!
//! Each connection carries at most [`crate::Config::assets_per_connection`]
//! YES tokens (the venue's limit is 500). A connection that sends nothing for
//! [`crate::Config::silence_timeout`] (we PING every
//! [`crate::Config::ping_interval`], so a live one always answers) is treated
//! as dead: its books are published stale, and it is replaced by a fresh,
//! resubscribed connection whose snapshots make them fresh again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use arbytron_model::venue::UpdateSink;
use arbytron_model::{FeedState, MarketKey, MarketStatus, MarketUpdate, Side};

use crate::amounts::TickSize;
use crate::book::TokenBook;
use crate::config::Config;
use crate::http::unix_millis;
use crate::markets::Registry;
use crate::metrics;
use crate::wire::{MarketEvent, WirePriceChangeMsg, decode_events, timestamp_ms};

const SOURCE: &str = "polymarket-ws-market";

/// Why a connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Nobody listens any more: stop for good.
    SinkClosed,
    Silent,
    Closed,
    Error,
    /// A book can no longer be trusted (bad delta): start over from snapshots.
    Resync,
}

impl End {
    fn reason(&self) -> &'static str {
        match self {
            End::SinkClosed => "sink_closed",
            End::Silent => "silent",
            End::Closed => "closed",
            End::Error => "error",
            End::Resync => "resync",
        }
    }
}

/// Books of one shard and what has been published about them.
pub struct ShardState {
    pub shard: String,
    pub depth: usize,
    pub tokens: HashSet<String>,
    pub books: HashMap<String, TokenBook>,
    pub fresh: HashSet<String>,
    pub registry: Arc<Registry>,
}

impl ShardState {
    pub fn new(shard: String, tokens: Vec<String>, depth: usize, registry: Arc<Registry>) -> ShardState {
        ShardState {
            shard,
            depth,
            tokens: tokens.into_iter().collect(),
            books: HashMap::new(),
            fresh: HashSet::new(),
            registry,
        }
    }

    fn market_of(&self, token: &str) -> Option<MarketKey> {
        self.registry.token(token).filter(|t| t.side == Side::Yes).map(|t| t.market)
    }

    /// Apply one decoded frame's events; returns the updates to publish, or
    /// `Err` when a tracked book can no longer be trusted.
    pub fn apply(&mut self, events: Vec<MarketEvent>, out: &mut Vec<MarketUpdate>) -> Result<(), String> {
        for ev in events {
            match ev {
                MarketEvent::Book(b) => {
                    if !self.tokens.contains(&b.asset_id) {
                        continue;
                    }
                    metrics::market_event(metrics::EV_BOOK);
                    let Some(market) = self.market_of(&b.asset_id) else { continue };
                    let book = TokenBook::from_wire(&b).map_err(|e| format!("book snapshot: {e}"))?;
                    let venue_ts = if book.ts > 0 { book.ts } else { unix_millis() };
                    out.push(MarketUpdate::Book { market: market.clone(), book: book.to_model(self.depth), venue_ts });
                    self.books.insert(b.asset_id.clone(), book);
                    if self.fresh.insert(b.asset_id) {
                        out.push(MarketUpdate::Feed { market, state: FeedState::Fresh, venue_ts });
                    }
                }
                MarketEvent::PriceChange(m) => self.price_change(m, out)?,
                MarketEvent::TickSizeChange(t) => {
                    if !self.tokens.contains(&t.asset_id) {
                        continue;
                    }
                    metrics::market_event(metrics::EV_TICK_SIZE_CHANGE);
                    let tick = TickSize::from_json(&t.new_tick_size)
                        .ok_or_else(|| format!("unsupported tick size {}", t.new_tick_size))?;
                    if let Some(info) = self.registry.set_tick(&t.asset_id, tick.price()) {
                        out.push(MarketUpdate::Listing(info));
                    }
                }
                MarketEvent::MarketResolved(r) => {
                    metrics::market_event(metrics::EV_MARKET_RESOLVED);
                    let Some(winner) = r.winning_asset_id.as_deref().and_then(|t| self.registry.token(t)) else {
                        continue;
                    };
                    if self.tokens.iter().any(|t| self.market_of(t).as_ref() == Some(&winner.market)) {
                        let venue_ts = timestamp_ms(&r.timestamp).unwrap_or_else(unix_millis);
                        out.push(MarketUpdate::Status {
                            market: winner.market,
                            status: MarketStatus::Settled { result: Some(winner.side) },
                            venue_ts,
                        });
                    }
                }
                MarketEvent::LastTradePrice(_) => {
                    metrics::market_event(metrics::EV_LAST_TRADE_PRICE);
                }
                MarketEvent::Other => {}
            }
        }
        Ok(())
    }

    fn price_change(&mut self, m: WirePriceChangeMsg, out: &mut Vec<MarketUpdate>) -> Result<(), String> {
        metrics::market_event(metrics::EV_PRICE_CHANGE);
        let mut touched: Vec<String> = Vec::new();
        for c in &m.price_changes {
            // Deltas before a snapshot (or for tokens of other shards) carry no
            // information we can use; the snapshot will.
            let Some(book) = self.books.get_mut(&c.asset_id) else { continue };
            book.apply_wire(&c.side, &c.price, &c.size).map_err(|e| format!("price_change: {e}"))?;
            if let Some(h) = &c.hash {
                book.hash = Some(h.clone());
            }
            if !touched.contains(&c.asset_id) {
                touched.push(c.asset_id.clone());
            }
        }
        let venue_ts = timestamp_ms(&m.timestamp).unwrap_or_else(unix_millis);
        for token in touched {
            if !self.fresh.contains(&token) {
                continue;
            }
            if let (Some(market), Some(book)) = (self.market_of(&token), self.books.get_mut(&token)) {
                book.ts = venue_ts;
                out.push(MarketUpdate::Book { market, book: book.to_model(self.depth), venue_ts });
            }
        }
        Ok(())
    }

    /// The connection answered a heartbeat: every book it keeps in sync is
    /// still current, however quiet its market. The engine ages books by the
    /// last time a feed vouched for them, so a quiet book is not a stale one.
    pub fn vouch(&self, out: &mut Vec<MarketUpdate>) {
        let venue_ts = unix_millis();
        for token in &self.fresh {
            if let Some(market) = self.market_of(token) {
                out.push(MarketUpdate::Feed { market, state: FeedState::Fresh, venue_ts });
            }
        }
    }

    /// Everything fresh becomes stale (and will need a new snapshot).
    pub fn mark_stale(&mut self, out: &mut Vec<MarketUpdate>) {
        let venue_ts = unix_millis();
        for token in self.fresh.drain() {
            if let Some(market) = self.registry.token(&token).map(|t| t.market) {
                out.push(MarketUpdate::Feed { market, state: FeedState::Stale, venue_ts });
            }
        }
        self.books.clear();
    }

    /// Decode one text frame and apply it; malformed frames are counted and dropped.
    pub fn on_text(&mut self, text: &str, out: &mut Vec<MarketUpdate>) -> Result<(), String> {
        match decode_events::<MarketEvent>(text) {
            Ok(events) => self.apply(events, out),
            Err(e) => {
                arbytron_telemetry::malformed(SOURCE, "decode", text);
                tracing::debug!(error = %e, "market channel frame dropped");
                Ok(())
            }
        }
    }
}

/// The subscribe message for a set of assets.
pub fn subscribe_message(tokens: &[String]) -> String {
    serde_json::json!({
        "assets_ids": tokens,
        "type": "market",
        "initial_dump": true,
        "custom_feature_enabled": true,
    })
    .to_string()
}

async fn publish(sink: &UpdateSink, out: &mut Vec<MarketUpdate>) -> Result<(), End> {
    for u in out.drain(..) {
        sink.send(u).await.map_err(|_| End::SinkClosed)?;
    }
    Ok(())
}

/// Run one shard until the sink closes: connect, subscribe, keep books,
/// reconnect with backoff on silence, errors or closes.
pub async fn run_shard(cfg: Config, mut state: ShardState, sink: UpdateSink) {
    let url = format!("{}/ws/market", cfg.ws_url);
    let tokens: Vec<String> = state.tokens.iter().cloned().collect();
    let mut backoff = cfg.reconnect_min;
    let mut out = Vec::new();
    loop {
        if sink.is_closed() {
            return;
        }
        let end = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((ws, _)) => {
                metrics::WS_CONNECTIONS.with_label_values(&["market"]).inc();
                let end = session(&cfg, ws, &tokens, &mut state, &sink, &mut out).await;
                metrics::WS_CONNECTIONS.with_label_values(&["market"]).dec();
                end
            }
            Err(e) => {
                tracing::warn!(shard = %state.shard, error = %e, "market channel connect failed");
                End::Error
            }
        };
        if end == End::SinkClosed {
            return;
        }
        metrics::WS_RECONNECTS.with_label_values(&["market", end.reason()]).inc();
        tracing::warn!(shard = %state.shard, reason = end.reason(), "market channel lost; books stale, reconnecting");
        state.mark_stale(&mut out);
        metrics::STALE_BOOKS.with_label_values(&[&state.shard]).set(tokens.len() as i64);
        if publish(&sink, &mut out).await.is_err() {
            return;
        }
        // A silent or resyncing connection is replaced at once; failures back off.
        if matches!(end, End::Error | End::Closed) {
            sleep(backoff).await;
            backoff = (backoff * 2).min(cfg.reconnect_max);
        } else {
            backoff = cfg.reconnect_min;
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn session(
    cfg: &Config,
    ws: Ws,
    tokens: &[String],
    state: &mut ShardState,
    sink: &UpdateSink,
    out: &mut Vec<MarketUpdate>,
) -> End {
    let (mut tx, mut rx) = ws.split();
    if tx.send(Message::text(subscribe_message(tokens))).await.is_err() {
        return End::Error;
    }
    let mut ping = tokio::time::interval(cfg.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut deadline = Instant::now() + cfg.silence_timeout;
    loop {
        tokio::select! {
            _ = sink.closed() => return End::SinkClosed,
            _ = sleep_until(deadline) => return End::Silent,
            _ = ping.tick() => {
                if tx.send(Message::text("PING")).await.is_err() {
                    return End::Closed;
                }
            }
            frame = rx.next() => {
                deadline = Instant::now() + cfg.silence_timeout;
                match frame {
                    None => return End::Closed,
                    Some(Err(_)) => return End::Error,
                    Some(Ok(Message::Text(text))) => {
                        if crate::wire::is_heartbeat(text.as_str()) {
                            state.vouch(out);
                        }
                        if let Err(reason) = state.on_text(text.as_str(), out) {
                            arbytron_telemetry::malformed(SOURCE, "book", &reason);
                            return match publish(sink, out).await {
                                Ok(()) => End::Resync,
                                Err(end) => end,
                            };
                        }
                        if let Err(end) = publish(sink, out).await {
                            return end;
                        }
                        let live = state.fresh.len() as i64;
                        metrics::STALE_BOOKS.with_label_values(&[&state.shard]).set(tokens.len() as i64 - live);
                    }
                    Some(Ok(Message::Close(_))) => return End::Closed,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}

/// Split tokens into connections of at most `per_connection`.
pub fn shards(tokens: Vec<String>, per_connection: usize) -> Vec<Vec<String>> {
    tokens.chunks(per_connection.clamp(1, 500)).map(|c| c.to_vec()).collect()
}
