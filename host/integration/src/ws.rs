//! A WebSocket that stays connected: connect (with signed headers), keep it
//! alive, notice when it goes quiet, and reconnect with backoff, forever or
//! until the consumer goes away.
//!
//! The venue-specific part is a [`Handler`]: what to send on open (the
//! subscriptions), what a text frame means, what to do every tick (staleness
//! checks) and when the connection drops (mark books stale). Everything else,
//! the connection's life, lives here once.
//!
//! ```text
//! connect ──▶ on_open ──▶ frames ─▶ on_text / on_alive ─┐
//!    ▲                      │  tick ─▶ on_tick          │
//!    │                      └─ silence, close, error ───┴─▶ on_disconnect ─▶ backoff ─┘
//! ```

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use arbytron_telemetry::prometheus::{IntCounterVec, IntGaugeVec};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::backoff::Backoff;

static CONNECTIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    arbytron_telemetry::gauge_vec(
        "arbytron_ws_connections",
        "Open venue WebSocket connections, by venue and channel",
        &["venue", "channel"],
    )
});

/// Reconnects by venue, channel and why the previous connection ended.
pub static RECONNECTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    arbytron_telemetry::counter_vec(
        "arbytron_ws_reconnects_total",
        "Venue WebSocket connections lost and re-established, by venue, channel and reason",
        &["venue", "channel", "reason"],
    )
});

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How we keep a connection alive and tell that it died.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keepalive {
    /// The server pings us (Kalshi); we only answer.
    ServerPings,
    /// We send protocol pings this often.
    Ping(Duration),
    /// We send a text frame this often (Polymarket's `PING`); the handler
    /// recognises the answer with [`Handler::is_heartbeat`].
    Text { every: Duration, message: &'static str },
}

/// One WebSocket channel of one venue.
#[derive(Clone, Debug)]
pub struct WsConfig {
    pub venue: &'static str,
    pub channel: &'static str,
    pub url: String,
    pub connect_timeout: Duration,
    pub keepalive: Keepalive,
    /// No frame at all for this long means the connection is dead.
    pub silence_timeout: Duration,
    pub reconnect: Backoff,
    /// How often [`Handler::on_tick`] runs (`None`: never).
    pub tick: Option<Duration>,
}

/// Why a connection ended, and whether to wait before the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Why {
    /// A short label for metrics and logs (`silence`, `closed`, `gap`, ...).
    pub reason: &'static str,
    pub detail: String,
    /// Back off before reconnecting (failures); `false` reconnects at once
    /// (a deliberate restart, such as a resync).
    pub backoff: bool,
}

impl Why {
    pub fn failed(reason: &'static str, detail: impl Into<String>) -> Why {
        Why { reason, detail: detail.into(), backoff: true }
    }

    pub fn restart(reason: &'static str, detail: impl Into<String>) -> Why {
        Why { reason, detail: detail.into(), backoff: false }
    }
}

/// What the handler wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Reconnect(Why),
    /// Stop for good (the consumer is gone).
    Stop,
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("WebSocket upgrade refused ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("WebSocket connect: {0}")]
    Connect(String),
    #[error("WebSocket connect timed out after {0:?}")]
    Timeout(Duration),
    #[error("bad WebSocket request: {0}")]
    Request(String),
    #[error("WebSocket send: {0}")]
    Send(String),
}

impl WsError {
    /// The server refused our credentials (401/403).
    pub fn is_auth(&self) -> bool {
        matches!(self, WsError::Refused { status: 401 | 403, .. })
    }
}

/// The open connection, as a handler sees it: it can send, and say that the
/// connection proved itself (which resets the reconnect backoff).
pub struct Conn<'a> {
    sink: &'a mut SplitSink<WsStream, Message>,
    healthy: &'a mut bool,
}

impl Conn<'_> {
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), WsError> {
        let text: String = text.into();
        self.sink.send(Message::text(text)).await.map_err(|e| WsError::Send(e.to_string()))
    }

    /// The connection did what it is for (subscribed, first snapshot in):
    /// the next failure starts the backoff over.
    pub fn healthy(&mut self) {
        *self.healthy = true;
    }
}

/// A venue's side of a WebSocket channel. Methods return `impl Future + Send`
/// so the runner can be spawned; implement them with `async fn`.
pub trait Handler: Send {
    /// The upgrade request for the next connection; sign headers here, fresh each time.
    fn request(&mut self, url: &str) -> Result<Request, WsError> {
        url.into_client_request().map_err(|e| WsError::Request(e.to_string()))
    }

    /// A connection is open: subscribe.
    fn on_open(&mut self, conn: &mut Conn<'_>) -> impl Future<Output = Flow> + Send;

    /// A text frame that is not a heartbeat.
    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) -> impl Future<Output = Flow> + Send;

    /// The connection proved alive (a server ping, or the answer to our keepalive).
    fn on_alive(&mut self) -> impl Future<Output = Flow> + Send {
        async { Flow::Continue }
    }

    /// Periodic work (staleness checks), every [`WsConfig::tick`].
    fn on_tick(&mut self, _conn: &mut Conn<'_>) -> impl Future<Output = Flow> + Send {
        async { Flow::Continue }
    }

    /// The connection ended (or could not be opened): stop vouching for what it carried.
    fn on_disconnect(&mut self, why: &Why) -> impl Future<Output = Flow> + Send;

    /// Whether a text frame is the answer to our text keepalive.
    fn is_heartbeat(&self, _text: &str) -> bool {
        false
    }

    /// A binary frame; venues we speak send none.
    fn on_binary(&mut self, bytes: &[u8]) {
        arbytron_telemetry::malformed("websocket", "binary_frame", &String::from_utf8_lossy(bytes));
    }
}

/// Add a header to a request (signed auth headers).
pub fn set_header(req: &mut Request, name: &'static str, value: &str) -> Result<(), WsError> {
    let v = HeaderValue::from_str(value).map_err(|_| WsError::Request(format!("unencodable {name} header")))?;
    req.headers_mut().insert(HeaderName::from_static(name), v);
    Ok(())
}

/// Open one connection.
pub async fn connect(req: Request, timeout: Duration) -> Result<WsStream, WsError> {
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(req)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).to_string()).unwrap_or_default();
            Err(WsError::Refused { status: resp.status().as_u16(), body: arbytron_telemetry::truncate(&body, 200) })
        }
        Ok(Err(e)) => Err(WsError::Connect(e.to_string())),
        Err(_) => Err(WsError::Timeout(timeout)),
    }
}

/// Keep `cfg`'s channel connected for `handler` until it says stop or `stop` resolves.
pub async fn run<H: Handler>(cfg: &WsConfig, handler: &mut H, stop: impl Future<Output = ()> + Send) {
    let mut stop = std::pin::pin!(stop);
    let mut delays = cfg.reconnect.delays();
    loop {
        let (why, healthy) = tokio::select! {
            biased;
            () = &mut stop => return,
            r = connect_once(cfg, handler) => match r {
                Session::Stop => return,
                Session::Ended(why, healthy) => (why, healthy),
            },
        };
        if healthy {
            delays = cfg.reconnect.delays();
        }
        RECONNECTS.with_label_values(&[cfg.venue, cfg.channel, why.reason]).inc();
        tracing::warn!(venue = cfg.venue, channel = cfg.channel, reason = why.reason, detail = %why.detail, "WebSocket lost; reconnecting");
        if handler.on_disconnect(&why).await == Flow::Stop {
            return;
        }
        if why.backoff {
            let wait = delays.next_delay();
            tokio::select! {
                biased;
                () = &mut stop => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

enum Session {
    Stop,
    /// Why it ended, and whether it got far enough to reset the backoff.
    Ended(Why, bool),
}

async fn connect_once<H: Handler>(cfg: &WsConfig, handler: &mut H) -> Session {
    let req = match handler.request(&cfg.url) {
        Ok(r) => r,
        Err(e) => return Session::Ended(Why::failed("request", e.to_string()), false),
    };
    let ws = match connect(req, cfg.connect_timeout).await {
        Ok(ws) => ws,
        Err(e) => {
            let reason = if e.is_auth() { "auth" } else { "connect" };
            return Session::Ended(Why::failed(reason, e.to_string()), false);
        }
    };
    let gauge = CONNECTIONS.with_label_values(&[cfg.venue, cfg.channel]);
    gauge.inc();
    let (mut sink, stream) = ws.split();
    let mut healthy = false;
    let end = session(cfg, handler, &mut sink, stream, &mut healthy).await;
    gauge.dec();
    if let Err(e) = sink.close().await {
        tracing::debug!(venue = cfg.venue, channel = cfg.channel, error = %e, "WebSocket did not close cleanly");
    }
    match end {
        Flow::Stop => Session::Stop,
        Flow::Reconnect(why) => Session::Ended(why, healthy),
        Flow::Continue => Session::Ended(Why::failed("closed", "session ended"), healthy),
    }
}

async fn session<H: Handler>(
    cfg: &WsConfig,
    handler: &mut H,
    sink: &mut SplitSink<WsStream, Message>,
    mut stream: SplitStream<WsStream>,
    healthy: &mut bool,
) -> Flow {
    let opened = handler.on_open(&mut Conn { sink, healthy }).await;
    if opened != Flow::Continue {
        return opened;
    }
    let far = Duration::from_secs(86_400 * 365);
    let (keepalive_every, keepalive_text) = match &cfg.keepalive {
        Keepalive::ServerPings => (None, None),
        Keepalive::Ping(every) => (Some(*every), None),
        Keepalive::Text { every, message } => (Some(*every), Some(*message)),
    };
    let mut keepalive =
        tokio::time::interval_at(Instant::now() + keepalive_every.unwrap_or(far), keepalive_every.unwrap_or(far));
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick = tokio::time::interval_at(Instant::now() + cfg.tick.unwrap_or(far), cfg.tick.unwrap_or(far));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One deadline across loop turns: periodic work must not push it out.
    let mut last_frame = Instant::now();
    loop {
        let flow = tokio::select! {
            () = sleep_until(last_frame + cfg.silence_timeout) => {
                return Flow::Reconnect(Why::failed("silence", format!("no frame for {:?}", cfg.silence_timeout)));
            }
            _ = keepalive.tick(), if keepalive_every.is_some() => {
                let msg = match keepalive_text {
                    Some(t) => Message::text(t),
                    None => Message::Ping(Default::default()),
                };
                match sink.send(msg).await {
                    Ok(()) => Flow::Continue,
                    Err(e) => Flow::Reconnect(Why::failed("send", e.to_string())),
                }
            }
            _ = tick.tick(), if cfg.tick.is_some() => handler.on_tick(&mut Conn { sink, healthy }).await,
            frame = stream.next() => {
                last_frame = Instant::now();
                match frame {
                    None => Flow::Reconnect(Why::failed("closed", "stream ended")),
                    Some(Err(e)) => Flow::Reconnect(Why::failed("error", e.to_string())),
                    Some(Ok(Message::Text(t))) => {
                        if handler.is_heartbeat(t.as_str()) {
                            handler.on_alive().await
                        } else {
                            handler.on_text(t.as_str(), &mut Conn { sink, healthy }).await
                        }
                    }
                    Some(Ok(Message::Ping(p))) => match sink.send(Message::Pong(p)).await {
                        // A server ping proves the connection, however quiet its markets.
                        Ok(()) => handler.on_alive().await,
                        Err(e) => Flow::Reconnect(Why::failed("send", e.to_string())),
                    },
                    Some(Ok(Message::Pong(_))) => handler.on_alive().await,
                    Some(Ok(Message::Close(c))) => Flow::Reconnect(Why::failed("closed", format!("server closed: {c:?}"))),
                    Some(Ok(Message::Binary(b))) => {
                        handler.on_binary(&b);
                        Flow::Continue
                    }
                    Some(Ok(Message::Frame(_))) => Flow::Continue,
                }
            }
        };
        if flow != Flow::Continue {
            return flow;
        }
    }
}
