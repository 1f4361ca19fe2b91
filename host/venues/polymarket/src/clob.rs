//! CLOB REST: public market data, L1 credential endpoints, and the L2
//! order and account endpoints, with the venue's retry rules for orders.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use parking_lot::{Mutex, RwLock};
use reqwest::Method;
use serde::de::DeserializeOwned;

use arbytron_integration::Secret;

use crate::amounts::{Amounts, OrderSide};
use crate::error::PolyError;
use crate::http::{self, unix_seconds};
use crate::metrics;
use crate::signing::{ApiCreds, OrderArgs, OrderSigner, SALT_MASK, SignedOrder, l2_headers, parse_token_id};
use crate::wire::{
    ApiKeyResponse, BalanceResponse, CancelResponse, ClobMarket, END_CURSOR, FIRST_CURSOR, NegRiskResponse,
    OrderResponse, Page, TickSizeResponse, VersionResponse, WireBook, WireOpenOrder, WireTrade,
};

/// How an order lives on the book.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OrderType {
    /// Good till cancelled.
    Gtc,
    /// Good till a date (Unix seconds in the order's `expiration`).
    Gtd,
    /// Fill or kill.
    Fok,
    /// Fill and kill: take what is there, cancel the rest.
    Fak,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Gtc => "GTC",
            OrderType::Gtd => "GTD",
            OrderType::Fok => "FOK",
            OrderType::Fak => "FAK",
        }
    }

    /// Whether the order may take liquidity only immediately.
    pub fn is_immediate(self) -> bool {
        matches!(self, OrderType::Fok | OrderType::Fak)
    }
}

/// One order to place: which token, which way, at what, for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceRequest {
    pub token_id: String,
    pub side: OrderSide,
    pub amounts: Amounts,
    pub neg_risk: bool,
    pub order_type: OrderType,
    /// Unix seconds; GTD only.
    pub expiration: u64,
    pub post_only: bool,
    /// Signed into the order; zero by default.
    pub metadata: B256,
    /// Salt and creation time to sign with; random and now when `None`.
    /// Deriving both from the client order id makes the signed order (and so
    /// its venue id, the order hash) reproducible after a crash.
    pub salt: Option<u64>,
    pub timestamp_ms: Option<u64>,
}

/// A placed order: what was signed and what the venue said.
#[derive(Clone, Debug)]
pub struct Placed {
    pub signed: SignedOrder,
    pub response: OrderResponse,
}

struct Auth {
    signer: OrderSigner,
    creds: RwLock<Option<ApiCreds>>,
}

/// The CLOB REST client.
pub struct ClobClient {
    http: reqwest::Client,
    base: String,
    auth: Option<Auth>,
    /// The protocol version from `/version`; 0 until read.
    version: AtomicU32,
    /// After an engine restart the venue takes only post-only orders until then.
    post_only_until: Mutex<Option<Instant>>,
    post_only_window: Duration,
    max_retry_after: Duration,
}

impl ClobClient {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        signer: Option<OrderSigner>,
        creds: Option<ApiCreds>,
        post_only_window: Duration,
        max_retry_after: Duration,
    ) -> ClobClient {
        ClobClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth: signer.map(|signer| Auth { signer, creds: RwLock::new(creds) }),
            version: AtomicU32::new(0),
            post_only_until: Mutex::new(None),
            post_only_window,
            max_retry_after,
        }
    }

    pub fn signer(&self) -> Option<&OrderSigner> {
        self.auth.as_ref().map(|a| &a.signer)
    }

    pub fn creds(&self) -> Option<ApiCreds> {
        self.auth.as_ref().and_then(|a| a.creds.read().clone())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get_public<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, PolyError> {
        http::send(self.http.get(self.url(path)).query(query), &Method::GET, path).await
    }

    // ------------------------------------------------------------ public

    /// The protocol version, read once and cached (refresh with [`ClobClient::refresh_version`]).
    pub async fn version(&self) -> Result<u32, PolyError> {
        match self.version.load(Ordering::Acquire) {
            0 => self.refresh_version().await,
            v => Ok(v),
        }
    }

    pub async fn refresh_version(&self) -> Result<u32, PolyError> {
        let v: VersionResponse = self.get_public("/version", &[]).await?;
        if v.version < 2 {
            return Err(PolyError::Malformed(format!("venue reports protocol version {}; V1 is retired", v.version)));
        }
        self.version.store(v.version, Ordering::Release);
        Ok(v.version)
    }

    pub async fn book(&self, token_id: &str) -> Result<WireBook, PolyError> {
        self.get_public("/book", &[("token_id", token_id)]).await
    }

    pub async fn books(&self, token_ids: &[String]) -> Result<Vec<WireBook>, PolyError> {
        let body: Vec<serde_json::Value> = token_ids.iter().map(|t| serde_json::json!({ "token_id": t })).collect();
        http::send(self.http.post(self.url("/books")).json(&body), &Method::POST, "/books").await
    }

    pub async fn tick_size(&self, token_id: &str) -> Result<crate::amounts::TickSize, PolyError> {
        let r: TickSizeResponse = self.get_public("/tick-size", &[("token_id", token_id)]).await?;
        crate::amounts::TickSize::from_json(&r.minimum_tick_size)
            .ok_or_else(|| PolyError::Malformed(format!("unsupported tick size {}", r.minimum_tick_size)))
    }

    pub async fn neg_risk(&self, token_id: &str) -> Result<bool, PolyError> {
        let r: NegRiskResponse = self.get_public("/neg-risk", &[("token_id", token_id)]).await?;
        Ok(r.neg_risk)
    }

    /// The V2 compact market record: tokens, tick, minimum size, neg-risk and fee parameters.
    pub async fn clob_market(&self, condition_id: &str) -> Result<ClobMarket, PolyError> {
        let path = format!("/clob-markets/{condition_id}");
        http::send(self.http.get(self.url(&path)), &Method::GET, "/clob-markets").await
    }

    // ------------------------------------------------------------ L1

    fn auth(&self) -> Result<&Auth, PolyError> {
        self.auth.as_ref().ok_or_else(|| PolyError::Config("no account configured".into()))
    }

    async fn l1(&self, method: Method, path: &str, nonce: u64) -> Result<ApiCreds, PolyError> {
        let auth = self.auth()?;
        let mut req = self.http.request(method.clone(), self.url(path));
        for (k, v) in auth.signer.l1_headers(unix_seconds(), nonce)? {
            req = req.header(k, v);
        }
        let r: ApiKeyResponse = http::send(req, &method, path).await?;
        if r.api_key.is_empty() || r.secret.is_empty() {
            return Err(PolyError::Auth(format!("{path} returned no credentials")));
        }
        Ok(ApiCreds { api_key: r.api_key, secret: Secret::new(r.secret), passphrase: Secret::new(r.passphrase) })
    }

    pub async fn create_api_key(&self, nonce: u64) -> Result<ApiCreds, PolyError> {
        self.l1(Method::POST, "/auth/api-key", nonce).await
    }

    pub async fn derive_api_key(&self, nonce: u64) -> Result<ApiCreds, PolyError> {
        self.l1(Method::GET, "/auth/derive-api-key", nonce).await
    }

    /// Create credentials, or derive the existing ones for this address and
    /// nonce (as the official clients do); keeps them for L2 requests.
    pub async fn create_or_derive_api_key(&self, nonce: u64) -> Result<ApiCreds, PolyError> {
        let creds = match self.create_api_key(nonce).await {
            Ok(c) => c,
            Err(PolyError::Api { .. } | PolyError::Auth(_)) => self.derive_api_key(nonce).await?,
            Err(e) => return Err(e),
        };
        *self.auth()?.creds.write() = Some(creds.clone());
        Ok(creds)
    }

    // ------------------------------------------------------------ L2

    /// Build an L2-signed request. `path` carries no query; `body` is the exact text sent.
    fn l2(&self, method: Method, path: &str, body: Option<String>) -> Result<reqwest::RequestBuilder, PolyError> {
        let auth = self.auth()?;
        let creds =
            auth.creds.read().clone().ok_or_else(|| PolyError::Config("no API credentials (L1 auth first)".into()))?;
        let headers =
            l2_headers(auth.signer.address(), &creds, unix_seconds(), method.as_str(), path, body.as_deref())?;
        let mut req = self.http.request(method, self.url(path));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b);
        }
        Ok(req)
    }

    fn api_key(&self) -> Result<String, PolyError> {
        self.creds().map(|c| c.api_key).ok_or_else(|| PolyError::Config("no API credentials".into()))
    }

    /// Sign `req` for protocol `version`.
    pub fn sign(&self, req: &PlaceRequest, version: u32) -> Result<SignedOrder, PolyError> {
        let auth = self.auth()?;
        let args = OrderArgs {
            token_id: parse_token_id(&req.token_id)?,
            side: req.side,
            amounts: req.amounts,
            salt: req.salt.unwrap_or_else(rand::random::<u64>) & SALT_MASK,
            timestamp_ms: req.timestamp_ms.unwrap_or_else(|| http::unix_millis().max(0) as u64),
            metadata: req.metadata,
            builder: B256::ZERO,
            expiration: if req.order_type == OrderType::Gtd { req.expiration } else { 0 },
        };
        Ok(auth.signer.sign_order(&args, version, req.neg_risk)?)
    }

    /// The `POST /order` body for a signed order.
    pub fn order_body(
        &self,
        signed: &SignedOrder,
        order_type: OrderType,
        post_only: bool,
    ) -> Result<String, PolyError> {
        let mut body = serde_json::json!({
            "order": signed.to_json(),
            "owner": self.api_key()?,
            "orderType": order_type.as_str(),
        });
        if post_only {
            body["postOnly"] = serde_json::Value::Bool(true);
        }
        Ok(body.to_string())
    }

    /// Whether the venue is (as far as we know) in its post-restart post-only window.
    pub fn in_post_only_window(&self) -> bool {
        self.post_only_until.lock().is_some_and(|t| Instant::now() < t)
    }

    fn enter_post_only_window(&self) {
        *self.post_only_until.lock() = Some(Instant::now() + self.post_only_window);
    }

    /// Place one order with the venue's rules:
    /// - on `order_version_mismatch`, re-read `/version`, re-sign, retry once;
    /// - on HTTP 425, wait `Retry-After` (bounded) and retry, then treat the
    ///   next [`crate::Config::post_only_window`] as post-only;
    /// - in the post-only window, immediate orders are refused here and
    ///   resting ones are sent `postOnly`.
    pub async fn place(&self, req: &PlaceRequest) -> Result<Placed, PolyError> {
        let mut version = self.version().await?;
        let mut version_retried = false;
        let mut restarts = 0u32;
        loop {
            let post_only_window = self.in_post_only_window();
            if post_only_window && req.order_type.is_immediate() {
                metrics::ORDERS.with_label_values(&[req.order_type.as_str(), "post_only_window"]).inc();
                return Err(PolyError::EngineRestart {
                    retry_after_ms: self
                        .post_only_until
                        .lock()
                        .map(|t| t.saturating_duration_since(Instant::now()).as_millis() as u64)
                        .unwrap_or(0),
                });
            }
            let signed = self.sign(req, version)?;
            let body = self.order_body(&signed, req.order_type, req.post_only || post_only_window)?;
            let result: Result<OrderResponse, PolyError> =
                http::send(self.l2(Method::POST, "/order", Some(body))?, &Method::POST, "/order").await;
            match result {
                Ok(response) => {
                    let outcome = if response.success { "accepted" } else { "rejected" };
                    metrics::ORDERS.with_label_values(&[req.order_type.as_str(), outcome]).inc();
                    if !response.success && response.error_msg.contains("post_only") {
                        self.enter_post_only_window();
                    }
                    return Ok(Placed { signed, response });
                }
                Err(e) if e.api_message().is_some_and(|m| m.contains("order_version_mismatch")) && !version_retried => {
                    metrics::ORDER_RETRIES.with_label_values(&["version_mismatch"]).inc();
                    version_retried = true;
                    version = self.refresh_version().await?;
                }
                Err(PolyError::EngineRestart { retry_after_ms }) if restarts < 3 => {
                    let wait = Duration::from_millis(retry_after_ms);
                    if wait > self.max_retry_after {
                        self.enter_post_only_window();
                        return Err(PolyError::EngineRestart { retry_after_ms });
                    }
                    metrics::ORDER_RETRIES.with_label_values(&["engine_restart"]).inc();
                    restarts += 1;
                    tracing::warn!(wait_ms = retry_after_ms, "polymarket engine restarting; waiting Retry-After");
                    tokio::time::sleep(wait).await;
                    self.enter_post_only_window();
                }
                Err(e) => {
                    if e.api_message().is_some_and(|m| m.contains("post_only")) {
                        self.enter_post_only_window();
                    }
                    metrics::ORDERS.with_label_values(&[req.order_type.as_str(), "error"]).inc();
                    return Err(e);
                }
            }
        }
    }

    /// `POST /orders`: up to 15 signed orders in one request; one response each.
    pub async fn post_orders(
        &self,
        orders: &[(SignedOrder, OrderType, bool)],
    ) -> Result<Vec<OrderResponse>, PolyError> {
        if orders.is_empty() || orders.len() > 15 {
            return Err(PolyError::Invalid(format!("batch of {} orders (1 to 15 allowed)", orders.len())));
        }
        let owner = self.api_key()?;
        let items: Vec<serde_json::Value> = orders
            .iter()
            .map(|(s, t, post_only)| {
                let mut v = serde_json::json!({ "order": s.to_json(), "owner": owner, "orderType": t.as_str() });
                if *post_only {
                    v["postOnly"] = serde_json::Value::Bool(true);
                }
                v
            })
            .collect();
        let body = serde_json::Value::Array(items).to_string();
        http::send(self.l2(Method::POST, "/orders", Some(body))?, &Method::POST, "/orders").await
    }

    pub async fn cancel(&self, order_id: &str) -> Result<CancelResponse, PolyError> {
        let body = serde_json::json!({ "orderID": order_id }).to_string();
        http::send(self.l2(Method::DELETE, "/order", Some(body))?, &Method::DELETE, "/order").await
    }

    pub async fn order(&self, order_id: &str) -> Result<WireOpenOrder, PolyError> {
        let path = format!("/data/order/{order_id}");
        http::send(self.l2(Method::GET, &path, None)?, &Method::GET, "/data/order").await
    }

    /// Follow a cursor-paged endpoint from `MA==` until `LTE=`.
    async fn paged<T: DeserializeOwned>(&self, path: &str, filters: &[(&str, String)]) -> Result<Vec<T>, PolyError> {
        let mut out = Vec::new();
        let mut cursor = FIRST_CURSOR.to_string();
        for _ in 0..10_000 {
            let mut query: Vec<(&str, String)> = filters.to_vec();
            query.push(("next_cursor", cursor.clone()));
            // The signature covers the path only; the query travels beside it.
            let req = self.l2(Method::GET, path, None)?.query(&query);
            let page: Page<T> = http::send(req, &Method::GET, path).await?;
            out.extend(page.data);
            if page.next_cursor.is_empty() || page.next_cursor == END_CURSOR || page.next_cursor == cursor {
                return Ok(out);
            }
            cursor = page.next_cursor;
        }
        Err(PolyError::Malformed(format!("{path}: cursor never reached {END_CURSOR}")))
    }

    pub async fn open_orders(&self, filters: &[(&str, String)]) -> Result<Vec<WireOpenOrder>, PolyError> {
        self.paged("/data/orders", filters).await
    }

    pub async fn trades(&self, filters: &[(&str, String)]) -> Result<Vec<WireTrade>, PolyError> {
        self.paged("/data/trades", filters).await
    }

    /// Collateral (pUSD) balance in base units.
    pub async fn collateral_balance(&self) -> Result<i64, PolyError> {
        let sig_type = self.auth()?.signer.signature_type().code().to_string();
        let req = self
            .l2(Method::GET, "/balance-allowance", None)?
            .query(&[("asset_type", "COLLATERAL"), ("signature_type", sig_type.as_str())]);
        let r: BalanceResponse = http::send(req, &Method::GET, "/balance-allowance").await?;
        crate::wire::decimal_text(&r.balance)
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| PolyError::Malformed(format!("balance {}", r.balance)))
    }
}
