//! HTTP plumbing shared by the Gamma and CLOB clients: one place that turns a
//! status and a body into data or a [`PolyError`].

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::PolyError;
use crate::metrics;
use crate::wire::ErrorBody;

pub fn client(timeout: Duration) -> Result<reqwest::Client, PolyError> {
    arbytron_integration::http::client(&arbytron_integration::http::HttpConfig::with_timeout(timeout))
        .map_err(|e| PolyError::Config(e.to_string()))
}

/// Send and decode. `endpoint` labels metrics (a path template, never ids).
pub async fn send<T: DeserializeOwned>(req: RequestBuilder, method: &Method, endpoint: &str) -> Result<T, PolyError> {
    let text = send_text(req, method, endpoint).await?;
    serde_json::from_str(&text).map_err(|e| {
        arbytron_telemetry::malformed("polymarket-rest", endpoint, &text);
        PolyError::Malformed(format!("{endpoint}: {e}"))
    })
}

/// Send and return the body of a successful response.
pub async fn send_text(req: RequestBuilder, method: &Method, endpoint: &str) -> Result<String, PolyError> {
    let timer = metrics::REST_LATENCY.with_label_values(&[method.as_str(), endpoint]).start_timer();
    let resp = req.send().await.map_err(|e| {
        metrics::REST_ERRORS.with_label_values(&[endpoint, "network"]).inc();
        PolyError::Network(format!("{endpoint}: {e}"))
    })?;
    let status = resp.status();
    let retry_after = arbytron_integration::http::retry_after(resp.headers());
    let text = resp.text().await.map_err(|e| PolyError::Network(format!("{endpoint}: reading body: {e}")))?;
    timer.observe_duration();
    if status.is_success() {
        return Ok(text);
    }
    metrics::REST_ERRORS.with_label_values(&[endpoint, status.as_str()]).inc();
    Err(status_error(status, retry_after, &text))
}

/// The venue's `{"error": "..."}` body, or the raw text, as an error.
pub fn status_error(status: StatusCode, retry_after: Option<Duration>, body: &str) -> PolyError {
    let message = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_else(|_| arbytron_telemetry::truncate(body.trim(), 200));
    match status.as_u16() {
        425 => PolyError::EngineRestart {
            retry_after_ms: retry_after.map_or(1000, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        },
        429 => PolyError::RateLimited(message),
        401 | 403 => PolyError::Auth(message),
        s if status.is_server_error() => PolyError::Network(format!("{s}: {message}")),
        s => PolyError::Api { status: s, message },
    }
}

/// Unix seconds now, for `POLY_TIMESTAMP`.
pub fn unix_seconds() -> u64 {
    u64::try_from(arbytron_integration::now_ms() / 1000).unwrap_or(0)
}

/// Unix milliseconds now.
pub fn unix_millis() -> i64 {
    arbytron_integration::now_ms()
}
