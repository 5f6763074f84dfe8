//! Operator endpoints: publish the index now, and see what is published.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use kit::ApiError;
use kit::auth::Caller;
use serde::Serialize;

use crate::service::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/index/refresh", post(refresh_index))
        .route("/v1/admin/index", get(index_status))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicationResponse {
    /// The version now live.
    pub version: i64,
    pub businesses: i64,
    /// Businesses added or changed by this publication.
    pub changed: usize,
    pub removed: usize,
    /// Time to rebuild the in-memory index, milliseconds.
    pub build_ms: u128,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IndexStatus {
    pub version: i64,
    pub businesses: usize,
    /// `quadtree` or `geohash`.
    pub search_engine: String,
    pub quadtree_nodes: usize,
    /// Bytes held by the quadtree (points and nodes).
    pub index_bytes: usize,
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("an admin token is required".into()))
    }
}

/// Publishes every stored write now; returns when the new index is live on this instance
/// (other instances pick it up within `INDEX_POLL_INTERVAL_S`).
#[utoipa::path(
    post,
    path = "/v1/admin/index/refresh",
    responses(
        (status = 200, body = PublicationResponse),
        (status = 403, description = "The token is not an admin's (`/problems/forbidden`)."),
        (status = 503, description = "The database is unavailable (`/problems/dependency-unavailable`)."),
    ),
    security(("bearer" = [])),
    tag = "admin"
)]
pub(super) async fn refresh_index(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<PublicationResponse>, ApiError> {
    require_admin(&caller)?;
    let published = app.publish().await?;
    Ok(Json(PublicationResponse {
        version: published.version,
        businesses: published.businesses,
        changed: published.changed,
        removed: published.removed,
        build_ms: published.build_ms,
    }))
}

/// The published index this instance serves.
#[utoipa::path(
    get,
    path = "/v1/admin/index",
    responses((status = 200, body = IndexStatus)),
    tag = "admin"
)]
pub(super) async fn index_status(State(app): State<AppState>) -> Json<IndexStatus> {
    let snapshot = app.snapshot();
    Json(IndexStatus {
        version: snapshot.version,
        businesses: snapshot.len(),
        search_engine: format!("{:?}", app.config().search_engine).to_lowercase(),
        quadtree_nodes: snapshot.tree().node_count(),
        index_bytes: snapshot.index_bytes(),
    })
}
