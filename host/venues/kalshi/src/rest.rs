//! The signed, rate-limited REST client and one method per endpoint we use.

use std::sync::Arc;
use std::time::Instant;

use arbytron_integration::http::{self as net, Attempt, Budgeted, HttpConfig, RetryPolicy};
use arbytron_integration::ratelimit::{RateLimitError, RateLimiter};
use arbytron_model::Venue;
use arbytron_model::venue::VenueError;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{self, Signer};
use crate::config::KalshiConfig;
use crate::metrics;
use crate::ratelimit::{Bucket, COST_CANCEL, COST_DEFAULT};
use crate::wire;

const VENUE: Venue = Venue::Kalshi;

pub(crate) fn unavailable(message: impl Into<String>) -> VenueError {
    VenueError::Unavailable { venue: VENUE, message: message.into() }
}

pub(crate) fn malformed(message: impl Into<String>) -> VenueError {
    VenueError::Malformed { venue: VENUE, message: message.into() }
}

pub(crate) fn invalid(message: impl Into<String>) -> VenueError {
    VenueError::Invalid { venue: VENUE, message: message.into() }
}

/// A Kalshi error answer as a [`VenueError`].
pub(crate) fn api_error(status: StatusCode, body: &str) -> VenueError {
    let e = serde_json::from_str::<wire::ErrorBody>(body).map(wire::ErrorBody::into_api_error).unwrap_or_default();
    let message = if e.details.is_empty() { e.message.clone() } else { format!("{} ({})", e.message, e.details) };
    match status.as_u16() {
        401 | 403 => VenueError::Auth { venue: VENUE, message: format!("{}: {message}", e.code) },
        429 => VenueError::RateLimited { venue: VENUE, message: message.clone() },
        // A client order id Kalshi has already seen: an earlier send arrived.
        409 if e.code == "order_already_exists" => VenueError::Duplicate { venue: VENUE, message },
        408 | 500..=599 => unavailable(format!("HTTP {status}: {} {message}", e.code)),
        _ => VenueError::Rejected {
            venue: VENUE,
            code: if e.code.is_empty() { format!("http_{}", status.as_u16()) } else { e.code },
            message,
        },
    }
}

/// Filters for `GET /events` and `GET /markets`.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub series_ticker: Option<String>,
    pub event_ticker: Option<String>,
    pub tickers: Vec<String>,
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub with_nested_markets: bool,
}

impl ListFilter {
    fn query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = &self.series_ticker {
            q.push(("series_ticker", s.clone()));
        }
        if let Some(s) = &self.event_ticker {
            q.push(("event_ticker", s.clone()));
        }
        if !self.tickers.is_empty() {
            q.push(("tickers", self.tickers.join(",")));
        }
        if let Some(s) = &self.status {
            q.push(("status", s.clone()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if self.with_nested_markets {
            q.push(("with_nested_markets", "true".into()));
        }
        if let Some(c) = cursor.filter(|c| !c.is_empty()) {
            q.push(("cursor", c.to_string()));
        }
        q
    }
}

/// One request's routing and price.
struct Call<'a> {
    method: Method,
    endpoint: &'static str,
    path: &'a str,
    query: &'a [(&'a str, String)],
    bucket: Bucket,
    cost: u32,
}

/// Signed, rate-limited access to the REST API.
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    /// The base URL's path (`/trade-api/v2`): part of every signed message.
    prefix: String,
    signer: Arc<Signer>,
    limiter: Arc<RateLimiter>,
    retry: RetryPolicy,
}

fn refused(e: RateLimitError) -> VenueError {
    invalid(e.to_string())
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl RestClient {
    pub fn new(cfg: &KalshiConfig, signer: Arc<Signer>) -> Result<RestClient, VenueError> {
        let (base, _) = cfg.environment.urls();
        let url = url::Url::parse(&base).map_err(|e| invalid(format!("REST base URL {base:?}: {e}")))?;
        let http =
            net::client(&HttpConfig::with_timeout(cfg.request_timeout)).map_err(|e| unavailable(e.to_string()))?;
        let limiter = cfg.limits.limiter().map_err(|e| invalid(e.to_string()))?;
        Ok(RestClient {
            http,
            prefix: url.path().trim_end_matches('/').to_string(),
            base,
            signer,
            limiter: Arc::new(limiter),
            retry: RetryPolicy {
                max_attempts: cfg.max_rate_limit_retries.saturating_add(1),
                backoff: cfg.rate_limit_backoff,
                max_wait: std::time::Duration::from_secs(30),
            },
        })
    }

    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    /// Send one request under the shared retry loop: take the tokens, sign
    /// (fresh for each attempt, so a wait never stales a signature), send. A
    /// 429 means the request was not processed, so resending is safe even for
    /// orders (Kalshi sends no Retry-After: we back off with jitter). Network
    /// errors and 5xx are retried for reads only: a write may have landed, and
    /// its caller reconciles by client order id instead.
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        c: Call<'_>,
        body: Option<&B>,
    ) -> Result<T, VenueError> {
        let Call { method, endpoint, path, query, bucket, cost } = c;
        let idempotent = method == Method::GET;
        let budget = Budgeted { limiter: &self.limiter, class: bucket.as_str(), cost, refused };
        let signed_path = format!("{}{path}", self.prefix);
        net::with_retries(&self.retry, Some(budget), |_| async {
            let h = match self.sign(&method, &signed_path).await {
                Ok(h) => h,
                Err(e) => return Attempt::Done(Err(e)),
            };
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header(auth::HEADER_KEY, &h.key)
                .header(auth::HEADER_TIMESTAMP, &h.timestamp)
                .header(auth::HEADER_SIGNATURE, &h.signature);
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let started = Instant::now();
            let sent = req.send().await;
            metrics::REST_LATENCY.with_label_values(&[endpoint]).observe(started.elapsed().as_secs_f64());
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    metrics::REQUESTS.with_label_values(&[endpoint, "network"]).inc();
                    let err = unavailable(format!("{endpoint}: {e}"));
                    return if idempotent { Attempt::Transient(err) } else { Attempt::Done(Err(err)) };
                }
            };
            let status = resp.status();
            let retry_after = net::retry_after(resp.headers());
            let text = match resp.text().await {
                Ok(t) => t,
                Err(e) => return Attempt::Done(Err(unavailable(format!("{endpoint}: reading body: {e}")))),
            };
            if status.is_success() {
                metrics::REQUESTS.with_label_values(&[endpoint, "ok"]).inc();
                return Attempt::Done(serde_json::from_str(&text).map_err(|e| {
                    arbytron_telemetry::malformed("kalshi-rest", endpoint, &text);
                    malformed(format!("{endpoint}: {e}"))
                }));
            }
            metrics::REQUESTS.with_label_values(&[endpoint, status.as_str()]).inc();
            if status == StatusCode::TOO_MANY_REQUESTS {
                metrics::RATE_LIMITED.with_label_values(&["kalshi"]).inc();
                return Attempt::Throttled { error: api_error(status, &text), retry_after };
            }
            if status.is_server_error() && idempotent {
                return Attempt::Transient(api_error(status, &text));
            }
            Attempt::Done(Err(api_error(status, &text)))
        })
        .await
    }

    /// RSA signing is milliseconds of CPU: keep it off the async workers.
    async fn sign(&self, method: &Method, path: &str) -> Result<auth::AuthHeaders, VenueError> {
        let (signer, method, path) = (self.signer.clone(), method.as_str().to_string(), path.to_string());
        tokio::task::spawn_blocking(move || signer.headers(&method, &path))
            .await
            .map_err(|e| unavailable(format!("signing task: {e}")))?
            .map_err(|e| VenueError::Auth { venue: VENUE, message: e.to_string() })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, VenueError> {
        let c = Call { method: Method::GET, endpoint, path, query, bucket: Bucket::Read, cost: COST_DEFAULT };
        self.call::<T, ()>(c, None).await
    }

    /// GET every page of a listing: follows the cursor until the venue
    /// returns an empty one (or repeats the last, which would loop forever).
    async fn get_all<P: DeserializeOwned, T>(
        &self,
        endpoint: &'static str,
        path: &str,
        mut query: Vec<(&'static str, String)>,
        split: impl Fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, VenueError> {
        let mut out = Vec::new();
        let base = query.len();
        let mut cursor: Option<String> = None;
        loop {
            query.truncate(base);
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let (items, next) = split(self.get(endpoint, path, &query).await?);
            out.extend(items);
            match next.filter(|c| !c.is_empty()) {
                Some(c) if Some(&c) != cursor.as_ref() => cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }

    // ------------------------------------------------------------ market data

    pub async fn series(&self, series_ticker: &str) -> Result<wire::Series, VenueError> {
        let r: wire::SeriesResponse = self.get("series", &format!("/series/{series_ticker}"), &[]).await?;
        Ok(r.series)
    }

    pub async fn events_page(&self, f: &ListFilter, cursor: Option<&str>) -> Result<wire::EventsPage, VenueError> {
        self.get("events", "/events", &f.query(cursor)).await
    }

    pub async fn markets_page(&self, f: &ListFilter, cursor: Option<&str>) -> Result<wire::MarketsPage, VenueError> {
        self.get("markets", "/markets", &f.query(cursor)).await
    }

    /// Every event matching `f`, all pages.
    pub async fn all_events(&self, f: &ListFilter) -> Result<Vec<wire::Event>, VenueError> {
        self.get_all("events", "/events", f.query(None), |p: wire::EventsPage| (p.events, p.cursor)).await
    }

    /// Every market matching `f`, all pages.
    pub async fn all_markets(&self, f: &ListFilter) -> Result<Vec<wire::Market>, VenueError> {
        self.get_all("markets", "/markets", f.query(None), |p: wire::MarketsPage| (p.markets, p.cursor)).await
    }

    pub async fn market(&self, ticker: &str) -> Result<wire::Market, VenueError> {
        let r: wire::MarketResponse = self.get("market", &format!("/markets/{ticker}"), &[]).await?;
        Ok(r.market)
    }

    /// `depth` 0 = every level.
    pub async fn orderbook(&self, ticker: &str, depth: u32) -> Result<wire::OrderbookResponse, VenueError> {
        self.get("orderbook", &format!("/markets/{ticker}/orderbook"), &[("depth", depth.to_string())]).await
    }

    // ----------------------------------------------------------------- orders

    pub async fn create_order(&self, order: &wire::CreateOrderV2) -> Result<wire::CreateOrderResponse, VenueError> {
        let c = Call {
            method: Method::POST,
            endpoint: "create_order",
            path: "/portfolio/events/orders",
            query: &[],
            bucket: Bucket::Write,
            cost: COST_DEFAULT,
        };
        self.call(c, Some(order)).await
    }

    /// Batch create: billed per order (the whole batch must fit the bucket).
    /// Kalshi answers 201 even when single orders fail, so every element is
    /// checked and returned as its own result, in request order.
    pub async fn batch_create(
        &self,
        orders: &[wire::CreateOrderV2],
    ) -> Result<Vec<Result<wire::CreateOrderResponse, VenueError>>, VenueError> {
        let cost = COST_DEFAULT.saturating_mul(orders.len() as u32);
        let body = wire::BatchCreateRequest { orders };
        let c = Call {
            method: Method::POST,
            endpoint: "batch_create",
            path: "/portfolio/events/orders/batched",
            query: &[],
            bucket: Bucket::Write,
            cost,
        };
        let r: wire::BatchCreateResponse = self.call(c, Some(&body)).await?;
        if r.orders.len() != orders.len() {
            return Err(malformed(format!(
                "batch of {} orders answered with {} results",
                orders.len(),
                r.orders.len()
            )));
        }
        Ok(r.orders
            .into_iter()
            .map(|item| match item.error {
                Some(e) => Err(VenueError::Rejected {
                    venue: VENUE,
                    code: e.code,
                    message: if e.details.is_empty() { e.message } else { format!("{} ({})", e.message, e.details) },
                }),
                None => serde_json::from_value::<wire::CreateOrderResponse>(serde_json::Value::Object(item.rest))
                    .map_err(|e| malformed(format!("batch element: {e}"))),
            })
            .collect())
    }

    pub async fn cancel_order(&self, order_id: &str) -> Result<wire::CancelResponse, VenueError> {
        let path = format!("/portfolio/events/orders/{order_id}");
        let c = Call {
            method: Method::DELETE,
            endpoint: "cancel_order",
            path: &path,
            query: &[],
            bucket: Bucket::Write,
            cost: COST_CANCEL,
        };
        self.call::<_, ()>(c, None).await
    }

    pub async fn order(&self, order_id: &str) -> Result<wire::Order, VenueError> {
        let r: wire::OrderResponse = self.get("order", &format!("/portfolio/orders/{order_id}"), &[]).await?;
        Ok(r.order)
    }

    /// Every order matching the filters (`ticker`, `status`), all pages.
    pub async fn orders(&self, ticker: Option<&str>, status: Option<&str>) -> Result<Vec<wire::Order>, VenueError> {
        let mut q = vec![("limit", "1000".to_string())];
        if let Some(t) = ticker {
            q.push(("ticker", t.to_string()));
        }
        if let Some(s) = status {
            q.push(("status", s.to_string()));
        }
        self.get_all("orders", "/portfolio/orders", q, |p: wire::OrdersPage| (p.orders, p.cursor)).await
    }

    // -------------------------------------------------------------- portfolio

    /// Fills since `min_ts` (Unix seconds), all pages.
    pub async fn fills(&self, ticker: Option<&str>, min_ts: Option<i64>) -> Result<Vec<wire::Fill>, VenueError> {
        let mut q = vec![("limit", "1000".to_string())];
        if let Some(t) = ticker {
            q.push(("ticker", t.to_string()));
        }
        if let Some(ts) = min_ts {
            q.push(("min_ts", ts.to_string()));
        }
        self.get_all("fills", "/portfolio/fills", q, |p: wire::FillsPage| (p.fills, p.cursor)).await
    }

    pub async fn positions(&self) -> Result<Vec<wire::MarketPosition>, VenueError> {
        let q = vec![("limit", "1000".to_string())];
        self.get_all("positions", "/portfolio/positions", q, |p: wire::PositionsPage| (p.market_positions, p.cursor))
            .await
    }

    pub async fn balance(&self) -> Result<wire::Balance, VenueError> {
        self.get("balance", "/portfolio/balance", &[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_in_every_shape() {
        let e = api_error(
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"code":"authentication_error","message":"bad","details":"INCORRECT_API_KEY_SIGNATURE"}}"#,
        );
        assert!(matches!(&e, VenueError::Auth { message, .. } if message.contains("authentication_error")));
        let e = api_error(StatusCode::BAD_REQUEST, r#"{"code":"bad_request","message":"bad request","details":"x"}"#);
        assert!(matches!(&e, VenueError::Rejected { code, .. } if code == "bad_request"));
        let e = api_error(StatusCode::TOO_MANY_REQUESTS, r#"{"error":"too many requests"}"#);
        assert!(matches!(&e, VenueError::RateLimited { message, .. } if message == "too many requests"));
        let e = api_error(StatusCode::GONE, "not json");
        assert!(matches!(&e, VenueError::Rejected { code, .. } if code == "http_410"));
        assert!(api_error(StatusCode::BAD_GATEWAY, "").is_transient());
    }
}
