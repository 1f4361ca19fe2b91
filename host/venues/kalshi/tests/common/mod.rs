//! Shared set-up for the connector <-> simulator tests: a simulator on
//! loopback with the committed TEST-ONLY keys, and a connector pointed at it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arbytron_kalshi::{Environment, Kalshi, KalshiConfig, SecretSource};
use arbytron_model::venue::MarketFeed;
use arbytron_model::{Book, FeedState, MarketKey, MarketUpdate, Money, Price, Venue};
use arbytron_sim::kalshi::{self, MarketSpec, Options};
use parking_lot::Mutex;
use tokio::sync::mpsc;

pub const KEY_A: &str = "test-key-a";
pub const KEY_B: &str = "test-key-b";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("committed test fixture")
}

pub fn p(s: &str) -> Price {
    Price::parse(s).unwrap()
}

/// Options with both test keys registered and funded.
pub fn options(markets: Vec<MarketSpec>) -> Options {
    Options {
        seed: 7,
        markets,
        api_keys: vec![
            (KEY_A.into(), read_fixture("test_key_a.pub.pem")),
            (KEY_B.into(), read_fixture("test_key_b.pub.pem")),
        ],
        accounts: vec![(KEY_A.into(), Money::from_dollars(10_000)), (KEY_B.into(), Money::from_dollars(10_000))],
        ..Options::default()
    }
}

/// A simulator on its own runtime thread, so its request timestamps are not
/// skewed by the test's own tasks hogging the shared workers.
pub fn start_isolated(opts: Options) -> (Arc<kalshi::Handle>, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let h = Arc::new(kalshi::start(opts).await.expect("simulator starts on loopback"));
            tx.send(h.clone()).unwrap();
            let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
        });
    });
    (rx.recv().unwrap(), stop_tx)
}

pub async fn start(opts: Options) -> kalshi::Handle {
    kalshi::start(opts).await.expect("simulator starts on loopback")
}

/// A connector for `h`, signing as key A (PKCS#8 PEM from a path).
pub fn config(h: &kalshi::Handle) -> KalshiConfig {
    let mut cfg = KalshiConfig::new(
        Environment::Custom { rest: h.rest_url(), ws: h.ws_url() },
        KEY_A,
        SecretSource::File(fixture("test_key_a.pkcs8.pem")),
    );
    cfg.book_depth = 1000;
    cfg.reconnect.initial = Duration::from_millis(20);
    cfg.reconnect.max = Duration::from_millis(200);
    cfg.rate_limit_backoff.initial = Duration::from_millis(20);
    cfg.rate_limit_backoff.max = Duration::from_millis(200);
    cfg
}

pub fn key(t: &str) -> MarketKey {
    MarketKey::new(Venue::Kalshi, t)
}

/// Everything a stream published, in order.
#[derive(Clone, Default)]
pub struct Recorder {
    pub updates: Arc<Mutex<Vec<MarketUpdate>>>,
}

impl Recorder {
    pub fn latest_book(&self, m: &MarketKey) -> Option<Book> {
        self.updates.lock().iter().rev().find_map(|u| match u {
            MarketUpdate::Book { market, book, .. } if market == m => Some(book.clone()),
            _ => None,
        })
    }

    pub fn state(&self, m: &MarketKey) -> Option<FeedState> {
        self.updates.lock().iter().rev().find_map(|u| match u {
            MarketUpdate::Feed { market, state, .. } if market == m => Some(*state),
            _ => None,
        })
    }

    pub fn len(&self) -> usize {
        self.updates.lock().len()
    }

    /// Updates for `m` from index `from` on.
    pub fn since(&self, from: usize, m: &MarketKey) -> Vec<MarketUpdate> {
        self.updates.lock()[from..].iter().filter(|u| u.market() == m).cloned().collect()
    }
}

/// Start streaming `tickers` in the background; updates land in the recorder.
pub fn stream(k: Arc<Kalshi>, tickers: &[&str]) -> (Recorder, tokio::task::JoinHandle<()>) {
    let rec = Recorder::default();
    let (tx, mut rx) = mpsc::channel(4096);
    let markets: Vec<MarketKey> = tickers.iter().map(|t| key(t)).collect();
    let streaming = tokio::spawn(async move {
        let _ = k.stream(markets, tx).await;
    });
    let sink = rec.updates.clone();
    let collect = tokio::spawn(async move {
        while let Some(u) = rx.recv().await {
            if let MarketUpdate::Book { book, .. } = &u {
                book.validate().expect("every published book is valid");
            }
            sink.lock().push(u);
        }
        streaming.abort();
    });
    (rec, collect)
}

/// Poll `cond` every 20 ms until true; panics with `what` after `secs`.
pub async fn wait_for(secs: u64, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
