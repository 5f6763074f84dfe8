//! The ops endpoints every service serves: `/healthz` (alive), `/readyz` (dependencies),
//! `/metrics` (Prometheus text), `/openapi.json`, plus the HTTP metrics middleware.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde::Serialize;

/// Outcome of one readiness check.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    /// Working with reduced capability (e.g. cache down, answering from the database).
    Degraded {
        detail: String,
    },
    /// Cannot serve: `/readyz` answers 503.
    Down {
        detail: String,
    },
}

/// A named dependency check.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, CheckStatus> + Send + Sync>;

/// Everything `/readyz` looks at.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, Check)>,
}

impl Readiness {
    pub fn add(&mut self, name: impl Into<String>, check: Check) {
        let name = name.into();
        if !self.checks.iter().any(|(n, _)| *n == name) {
            self.checks.push((name, check));
        }
    }

    pub fn extend(&mut self, other: Readiness) {
        for (name, check) in other.checks {
            self.add(name, check);
        }
    }

    pub async fn evaluate(&self) -> (StatusCode, serde_json::Value) {
        let results = futures::future::join_all(self.checks.iter().map(|(_, check)| check())).await;
        let mut body = serde_json::Map::new();
        let mut overall = "ok";
        for ((name, _), status) in self.checks.iter().zip(results) {
            match &status {
                CheckStatus::Down { .. } => overall = "unavailable",
                CheckStatus::Degraded { .. } if overall == "ok" => overall = "degraded",
                _ => {}
            }
            body.insert(
                name.clone(),
                serde_json::to_value(&status).unwrap_or_default(),
            );
        }
        let code = if overall == "unavailable" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        (
            code,
            serde_json::json!({ "status": overall, "checks": body }),
        )
    }
}

#[derive(Clone)]
struct OpsState {
    readiness: Readiness,
    openapi: Arc<serde_json::Value>,
}

/// Routes `/healthz`, `/livez`, `/readyz`, `/metrics`, `/openapi.json` and, reading it,
/// Swagger UI at `/docs` (its files are built into the binary: no CDN, works offline).
pub fn router(readiness: Readiness, openapi: serde_json::Value) -> Router {
    let state = OpsState {
        readiness,
        openapi: Arc::new(openapi),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .with_state(state)
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .config(utoipa_swagger_ui::Config::from("/openapi.json")),
        )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let (code, body) = state.readiness.evaluate().await;
    (code, Json(body)).into_response()
}

async fn metrics() -> Response {
    let body = crate::telemetry::metrics_handle().render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn openapi_json(State(state): State<OpsState>) -> Json<serde_json::Value> {
    Json((*state.openapi).clone())
}

/// Counts requests and records their latency by route template and status.
pub async fn track_metrics(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let (requests, latency) = REQUEST_METRICS.handles(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method,
        response.status(),
    );
    requests.increment(1);
    latency.record(started.elapsed().as_secs_f64());
    response
}

/// A bounded set of method labels: a client can send any method name.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Per request metric handles by route template, method and status. Looking a labelled
/// metric up in the recorder costs building three label strings and hashing them on every
/// request (on the tile server's hot path); a handle is looked up here once per label set.
/// Bounded: route templates, eight methods and the status codes a handler returns.
static REQUEST_METRICS: std::sync::LazyLock<RequestMetrics> =
    std::sync::LazyLock::new(RequestMetrics::default);

type Handles = (metrics::Counter, metrics::Histogram);
/// A route's handles by method and status (a handful each).
type RouteHandles = Vec<(&'static str, u16, Handles)>;

#[derive(Default)]
struct RequestMetrics {
    by_route: std::sync::RwLock<std::collections::HashMap<String, RouteHandles>>,
}

impl RequestMetrics {
    fn handles(&self, route: &str, method: &'static str, status: StatusCode) -> Handles {
        let status = status.as_u16();
        let find = |list: &RouteHandles| {
            list.iter()
                .find(|(m, s, _)| *m == method && *s == status)
                .map(|(_, _, h)| h.clone())
        };
        {
            let map = self.by_route.read().unwrap_or_else(|e| e.into_inner());
            if let Some(found) = map.get(route).and_then(find) {
                return found;
            }
        }
        // Registered with the process recorder, which must exist first.
        let _ = crate::telemetry::metrics_handle();
        let labels = [
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        let handles = (
            metrics::counter!("http_requests_total", &labels),
            metrics::histogram!("http_request_duration_seconds", &labels),
        );
        let mut map = self.by_route.write().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(route.to_string()).or_default();
        if let Some(found) = find(list) {
            return found;
        }
        list.push((method, status, handles.clone()));
        handles
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn request_metrics_are_registered_once_per_label_set_and_methods_are_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"BREW").expect("a valid method token");
        assert_eq!(method_label(&odd), "other");
        let route = "/test/request-metrics/{id}";
        for status in [StatusCode::OK, StatusCode::OK, StatusCode::NOT_FOUND] {
            for method in ["GET", "GET", "other"] {
                let _ = REQUEST_METRICS.handles(route, method, status);
            }
        }
        let map = REQUEST_METRICS
            .by_route
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let listed = map.get(route).expect("the route is listed");
        assert_eq!(listed.len(), 4, "GET and other, by 200 and 404");
    }
}
