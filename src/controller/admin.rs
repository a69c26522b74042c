//! The admin port: `/livez`, `/readyz`, `/metrics` and `/report`.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get};
use prometheus_client::registry::Registry;

/// Whether the operator is ready: its caches have synced and its leadership state is known.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Renders the continuity report of the current month, from the caches (no API request).
pub type ReportPage = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    ready: Readiness,
    report: Option<ReportPage>,
}

/// The admin routes: `/livez`, `/readyz`, `/metrics`, and `/report` when a report page is given.
pub fn router(registry: Arc<Registry>, ready: Readiness, report: Option<ReportPage>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/report", get(report_page))
        .with_state(AdminState { registry, ready, report })
}

/// The report of the current month, rendered on request only (never on the reconcile path), off the async workers.
async fn report_page(State(s): State<AdminState>) -> axum::response::Response {
    let Some(render) = s.report else { return StatusCode::NOT_FOUND.into_response() };
    match tokio::task::spawn_blocking(move || render()).await {
        Ok(Ok(page)) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    if s.ready.get() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced or leadership unknown")
    }
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    match crate::metrics::render(&s.registry) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Binds the admin port, so that a port in use stops the operator at start-up rather than later.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves the admin routes until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> Result<(), String> {
    axum::serve(listener, router).await.map_err(|e| format!("admin server failed: {e}"))
}
