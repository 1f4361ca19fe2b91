//! Helpers shared by the bus integration tests.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbytron_bus::{Envelope, EnvelopeId};
use arbytron_model::{Book, Level, MarketKey, MarketUpdate, Price, Qty, Venue};

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const REDIS_START: &str = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log";

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The shared Redis must be up; fail with the command that starts it otherwise.
pub fn require_redis() {
    if TcpStream::connect_timeout(&"127.0.0.1:6379".parse().unwrap(), Duration::from_secs(2)).is_err() {
        panic!("Redis is not reachable on 127.0.0.1:6379. Start it with:\n  {REDIS_START}");
    }
}

/// Book update number `n` of market `m`: the level quantity carries `n`, so
/// order and content can be checked after the round trip.
pub fn book(m: usize, n: u64) -> MarketUpdate {
    MarketUpdate::Book {
        market: MarketKey::new(Venue::Kalshi, format!("KXTEST-M{m}")),
        book: Book {
            yes_bids: vec![Level::new(Price::from_micros(400_000).unwrap(), Qty::from_contracts(n as i64 + 1))],
            yes_asks: vec![Level::new(Price::from_micros(420_000).unwrap(), Qty::from_contracts(1))],
        },
        venue_ts: n as i64,
    }
}

/// `count` updates spread round-robin over `markets` markets.
pub fn updates(count: u64, markets: usize) -> Vec<MarketUpdate> {
    (0..count).map(|i| book(i as usize % markets, i)).collect()
}

/// What a test handler saw, in order.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<Envelope>>>);

impl Seen {
    pub fn push(&self, e: Envelope) {
        self.0.lock().unwrap().push(e);
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn all(&self) -> Vec<Envelope> {
        self.0.lock().unwrap().clone()
    }
}

/// Every envelope of one key arrived in publish order (sequence numbers of one
/// publisher increase along a key), and the payload survived intact.
pub fn assert_per_key_order(seen: &[Envelope]) {
    let mut last: HashMap<(u64, String), u64> = HashMap::new();
    for e in seen {
        let k = (e.id.instance(), e.key.clone());
        if let Some(prev) = last.get(&k) {
            assert!(e.seq > *prev, "key {} went from seq {prev} to {}", e.key, e.seq);
        }
        last.insert(k, e.seq);
        if let MarketUpdate::Book { book, venue_ts, .. } = &e.update {
            assert_eq!(book.yes_bids[0].qty, Qty::from_contracts(*venue_ts + 1), "payload of {}", e.id);
        }
    }
}

/// Each id exactly once.
pub fn assert_unique(ids: impl IntoIterator<Item = EnvelopeId>) -> HashSet<EnvelopeId> {
    let mut set = HashSet::new();
    for id in ids {
        assert!(set.insert(id), "{id} processed twice");
    }
    set
}

/// Poll `cond` until it holds or `limit` passes (then fail with `what`).
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[allow(unused_imports)] // used by some of the test binaries that share this module
pub use arbytron_integration::testing::ThrowawayRedis;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}
