//! The admin HTTP API: Prometheus metrics, status, and (with the trading core)
//! the kill switch. Bound to loopback by default; it has no authentication.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use arbytron_runtime::{SlotStatus, StrategySet};

/// What the admin API can see and act on.
#[derive(Clone)]
pub struct AdminState {
    pub strategies: Arc<StrategySet>,
    pub control: Arc<crate::control::Control>,
}

#[derive(Serialize)]
struct StrategyStatus {
    file: String,
    state: &'static str,
    name: Option<String>,
    version: Option<String>,
    hash: Option<String>,
    reason: Option<String>,
}

#[derive(Serialize)]
struct Status {
    kill_switch: bool,
    strategies: Vec<StrategyStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trading: Option<serde_json::Value>,
}

async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], arbytron_telemetry::render_metrics()).into_response()
}

async fn status(State(s): State<AdminState>) -> Response {
    let strategies = s
        .strategies
        .slots()
        .iter()
        .map(|slot| {
            let file = slot.path().display().to_string();
            match slot.status() {
                SlotStatus::Live { name, version, hash } => StrategyStatus {
                    file,
                    state: "live",
                    name: Some(name),
                    version: Some(version),
                    hash: Some(hash[..12.min(hash.len())].to_string()),
                    reason: None,
                },
                SlotStatus::Quarantined { name, reason } => StrategyStatus {
                    file,
                    state: "quarantined",
                    name: Some(name),
                    version: None,
                    hash: None,
                    reason: Some(reason),
                },
                SlotStatus::Failed { reason } => StrategyStatus {
                    file,
                    state: "failed",
                    name: None,
                    version: None,
                    hash: None,
                    reason: Some(reason),
                },
            }
        })
        .collect();
    axum::Json(Status { kill_switch: s.control.killed(), strategies, trading: s.control.trading_status() })
        .into_response()
}

async fn kill(State(s): State<AdminState>) -> Response {
    s.control.kill("admin API");
    (StatusCode::OK, "kill switch engaged: no new trades\n").into_response()
}

async fn resume(State(s): State<AdminState>) -> Response {
    s.control.resume("admin API");
    (StatusCode::OK, "kill switch released\n").into_response()
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/kill", post(kill))
        .route("/resume", post(resume))
        .with_state(state)
}

/// Bind and serve until the process ends; returns the bound address (port 0 picks one).
pub async fn serve(listen: SocketAddr, state: AdminState) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("admin.listen {listen}: cannot bind: {e}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(state)).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok(addr)
}
