//! One HTTP client setup for every venue (timeouts, user agent, connection
//! reuse, TLS), and one retry loop that knows what a venue's "slow down"
//! means.
//!
//! The retry loop is deliberately ignorant of the venue: each attempt tells it
//! what happened ([`Attempt`]), because only the venue code knows whether a
//! request is safe to send again. A 429 or 425 means the venue did not process
//! the request, so resending anything (orders included) is safe; a timeout or
//! a 5xx on an order is not, and such an attempt must come back as
//! [`Attempt::Done`] with its error so the caller can ask the venue what
//! happened before sending again.

use std::future::Future;
use std::sync::Once;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::backoff::Backoff;
use crate::ratelimit::{RateLimitError, RateLimiter};

/// How the shared client behaves.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HttpConfig {
    /// Whole request, connect to last byte.
    #[serde(with = "crate::millis")]
    pub timeout: Duration,
    #[serde(with = "crate::millis")]
    pub connect_timeout: Duration,
    /// Idle pooled connections are kept this long and reused (TLS handshakes
    /// cost more than the requests on a hot path).
    #[serde(with = "crate::millis")]
    pub pool_idle_timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(90),
            user_agent: concat!("arbytron/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

impl HttpConfig {
    pub fn with_timeout(timeout: Duration) -> HttpConfig {
        HttpConfig { timeout, ..HttpConfig::default() }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

/// rustls needs one process-wide crypto provider; we use ring (constant-time,
/// no C toolchain beyond what the rest of the build needs).
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::ring::default_provider().install_default().is_err() {
            tracing::debug!("a TLS crypto provider was already installed");
        }
    });
}

/// The one way a venue client is built.
pub fn client(cfg: &HttpConfig) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.connect_timeout)
        .pool_idle_timeout(cfg.pool_idle_timeout)
        .tcp_nodelay(true)
        .user_agent(cfg.user_agent.clone())
        .build()
        .map_err(|e| ClientError(e.to_string()))
}

/// The server's `Retry-After`: delta-seconds (fractions allowed, as some
/// venues send) or an HTTP date. Absent or unreadable: `None`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = httpdate_to_unix(v)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(when.saturating_sub(now)))
}

/// Parse an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn httpdate_to_unix(s: &str) -> Option<u64> {
    let mut it = s.split_whitespace();
    let _weekday = it.next()?;
    let day: u64 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + (h * 3600 + m * 60 + sec) as i64).ok()
}

/// What one attempt came to.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// Final: success, or an error that resending the same request cannot fix
    /// (or that is not safe to resend blindly).
    Done(Result<T, E>),
    /// The venue refused for rate (429) or asked us to come back later (425):
    /// it did not process the request, so resending is safe. With the
    /// venue's `Retry-After` when it sent one.
    Throttled { error: E, retry_after: Option<Duration> },
    /// Failed before the venue could act on it, or idempotent and safe to
    /// repeat (a read that timed out): retry after a backoff.
    Transient(E),
}

/// How often and how long to retry.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff when the venue gave no `Retry-After`.
    pub backoff: Backoff,
    /// A `Retry-After` longer than this fails the request instead of stalling it.
    #[serde(with = "crate::millis")]
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            max_wait: Duration::from_secs(30),
        }
    }
}

/// Where a request draws its rate budget from, and how a request the budget
/// can never allow (a cost above the burst) is reported in the caller's terms.
#[derive(Debug)]
pub struct Budgeted<'a, E> {
    pub limiter: &'a RateLimiter,
    pub class: &'static str,
    pub cost: u32,
    pub refused: fn(RateLimitError) -> E,
}

impl<E> Clone for Budgeted<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Budgeted<'_, E> {}

/// Run `attempt` until it is done, retrying throttled and transient outcomes
/// under `policy`. Each attempt first takes its tokens from `budget`; a
/// throttled one pauses the whole class (every caller waits, not just this one).
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    budget: Option<Budgeted<'_, E>>,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
    E: std::fmt::Display,
{
    let mut delays = policy.backoff.delays();
    let mut n = 0u32;
    loop {
        if let Some(b) = budget {
            b.limiter.acquire(b.class, b.cost).await.map_err(b.refused)?;
        }
        n += 1;
        // A throttled request under a budget pauses the class, and the next
        // acquire waits that out; everything else sleeps here.
        let (error, wait, sleep) = match attempt(n).await {
            Attempt::Done(r) => return r,
            Attempt::Throttled { error, retry_after } => {
                let wait = retry_after.unwrap_or_else(|| delays.next_delay());
                if wait > policy.max_wait {
                    tracing::warn!(error = %error, wait_ms = wait.as_millis() as u64, "venue asks for a longer wait than allowed; giving up");
                    return Err(error);
                }
                if let Some(b) = budget {
                    b.limiter.penalize(b.class, wait);
                }
                (error, wait, budget.is_none())
            }
            Attempt::Transient(error) => (error, delays.next_delay(), true),
        };
        if n >= policy.max_attempts {
            return Err(error);
        }
        tracing::debug!(attempt = n, error = %error, wait_ms = wait.as_millis() as u64, "retrying");
        if sleep {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Budget;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, PartialEq)]
    struct E(String);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    fn refused(e: RateLimitError) -> E {
        E(e.to_string())
    }

    #[test]
    fn retry_after_reads_seconds_fractions_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, "0.25".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert(RETRY_AFTER, "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past means now");
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        assert_eq!(httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(httpdate_to_unix("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(httpdate_to_unix("Thu, 01 Foo 1970 00:00:00 GMT"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_attempts_wait_the_venues_time_then_succeed() {
        let limiter = RateLimiter::new("test", &[("orders", &[Budget::per_second(100, 100)])]).unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let started = tokio::time::Instant::now();
        let c = calls.clone();
        let r: Result<u32, E> = with_retries(
            &RetryPolicy::default(),
            Some(Budgeted { limiter: &limiter, class: "orders", cost: 1, refused }),
            |n| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    if n < 3 {
                        Attempt::Throttled { error: E("429".into()), retry_after: Some(Duration::from_secs(2)) }
                    } else {
                        Attempt::Done(Ok(n))
                    }
                }
            },
        )
        .await;
        assert_eq!(r, Ok(3));
        assert_eq!(calls.load(Ordering::SeqCst), 3, "sent exactly three times");
        assert!(started.elapsed() >= Duration::from_secs(4), "waited Retry-After twice (virtual time)");
    }

    #[tokio::test(start_paused = true)]
    async fn done_errors_are_never_retried_and_attempts_are_bounded() {
        let calls = AtomicU32::new(0);
        let r: Result<(), E> = with_retries(&RetryPolicy::default(), None, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Attempt::Done(Err(E("timeout on an order".into()))) }
        })
        .await;
        assert_eq!(r, Err(E("timeout on an order".into())));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a final error is returned at once");

        let calls = AtomicU32::new(0);
        let policy = RetryPolicy { max_attempts: 4, ..RetryPolicy::default() };
        let r: Result<(), E> = with_retries(&policy, None, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Attempt::Transient(E("connection reset".into())) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_beyond_the_limit_fails_instead_of_stalling() {
        let calls = AtomicU32::new(0);
        let r: Result<(), E> = with_retries(&RetryPolicy::default(), None, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Attempt::Throttled { error: E("425".into()), retry_after: Some(Duration::from_secs(600)) } }
        })
        .await;
        assert_eq!(r, Err(E("425".into())));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_client_talks_to_a_local_server() {
        let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let c = client(&HttpConfig::default()).unwrap();
        let body = c.get(format!("http://{addr}/ping")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "pong");
        server.abort();
    }
}
