//! The market channel: live books over WebSocket, sharded, watched for silence.
//!
//! Each connection carries at most [`crate::Config::assets_per_connection`]
//! YES tokens (the venue's limit is 500). A connection that sends nothing for
//! [`crate::Config::silence_timeout`] (we PING every
//! [`crate::Config::ping_interval`], so a live one always answers) is treated
//! as dead: its books are published stale, and it is replaced by a fresh,
//! resubscribed connection whose snapshots make them fresh again. The
//! connection's life is the integration layer's [`ws::run`]; a shard is its
//! [`ws::Handler`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arbytron_integration::ws::{self, Conn, Flow, Keepalive, Why, WsConfig};

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

/// One shard's connection, as a WebSocket handler.
struct Shard {
    state: ShardState,
    tokens: Vec<String>,
    sink: UpdateSink,
    out: Vec<MarketUpdate>,
}

impl Shard {
    /// Hand on what the last frame produced; `false` once nobody listens.
    async fn publish(&mut self) -> bool {
        for u in self.out.drain(..) {
            if self.sink.send(u).await.is_err() {
                return false;
            }
        }
        true
    }

    fn count_stale(&self) {
        let stale = self.tokens.len().saturating_sub(self.state.fresh.len());
        metrics::STALE_BOOKS.with_label_values(&[&self.state.shard]).set(i64::try_from(stale).unwrap_or(i64::MAX));
    }
}

impl ws::Handler for Shard {
    async fn on_open(&mut self, conn: &mut Conn<'_>) -> Flow {
        match conn.send_text(subscribe_message(&self.tokens)).await {
            Ok(()) => {
                conn.healthy();
                Flow::Continue
            }
            Err(e) => Flow::Reconnect(Why::failed("send", e.to_string())),
        }
    }

    async fn on_text(&mut self, text: &str, _conn: &mut Conn<'_>) -> Flow {
        let applied = self.state.on_text(text, &mut self.out);
        if !self.publish().await {
            return Flow::Stop;
        }
        if let Err(reason) = applied {
            // A book we can no longer trust: start over from fresh snapshots.
            arbytron_telemetry::malformed(SOURCE, "book", &reason);
            return Flow::Reconnect(Why::restart("resync", reason));
        }
        self.count_stale();
        Flow::Continue
    }

    fn is_heartbeat(&self, text: &str) -> bool {
        crate::wire::is_heartbeat(text)
    }

    /// The connection answered our PING: every book it keeps in sync is current.
    async fn on_alive(&mut self) -> Flow {
        self.state.vouch(&mut self.out);
        if self.publish().await { Flow::Continue } else { Flow::Stop }
    }

    async fn on_disconnect(&mut self, _why: &Why) -> Flow {
        self.state.mark_stale(&mut self.out);
        self.count_stale();
        if self.publish().await { Flow::Continue } else { Flow::Stop }
    }
}

/// Run one shard until the sink closes: connect, subscribe, keep books,
/// reconnect (with backoff after failures) on silence, errors or closes.
pub async fn run_shard(cfg: Config, state: ShardState, sink: UpdateSink) {
    let ws_cfg = ws_config(&cfg, "market");
    let tokens: Vec<String> = state.tokens.iter().cloned().collect();
    let watch = sink.clone();
    let mut shard = Shard { state, tokens, sink, out: Vec::new() };
    ws::run(&ws_cfg, &mut shard, async move { watch.closed().await }).await;
}

/// A channel's connection settings: we PING every `ping_interval` and the
/// venue answers PONG, so a connection silent past `silence_timeout` is dead.
pub(crate) fn ws_config(cfg: &Config, channel: &'static str) -> WsConfig {
    WsConfig {
        venue: "polymarket",
        channel,
        url: format!("{}/ws/{channel}", cfg.ws_url),
        connect_timeout: cfg.request_timeout,
        keepalive: Keepalive::Text { every: cfg.ping_interval, message: "PING" },
        silence_timeout: cfg.silence_timeout,
        reconnect: cfg.reconnect,
        tick: None,
    }
}

/// Split tokens into connections of at most `per_connection`.
pub fn shards(tokens: Vec<String>, per_connection: usize) -> Vec<Vec<String>> {
    tokens.chunks(per_connection.clamp(1, 500)).map(|c| c.to_vec()).collect()
}
