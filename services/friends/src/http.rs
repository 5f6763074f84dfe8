//! The nearby-friends HTTP boundary: users, friendships, location history, and the
//! WebSocket upgrade.

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kit::auth::Caller;
use kit::extract::{AppJson, AppPath, AppQuery, Integer};
use kit::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::Error;
use crate::pubsub::{Event, notice_channel, user_channel};
use crate::service::FriendsState;
use crate::store::{self, Asked, HistoryPoint, User};
use crate::ws;

/// The one place where the service's failures become problem documents.
impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        match err {
            // 503 with `Retry-After` when the database is down, else a logged 500.
            Error::Database(sql) => ApiError::from(sql),
            Error::PubSub(_) => ApiError::Unavailable {
                dependency: "pubsub",
                retry_after: std::time::Duration::from_secs(1),
            },
        }
    }
}

pub fn router(state: FriendsState) -> Router {
    Router::new()
        .route("/v1/users", post(create_user))
        .route("/v1/friends", get(list_friends).post(add_friend))
        .route("/v1/friends/requests", get(list_requests))
        .route(
            "/v1/friends/{friend_id}",
            axum::routing::delete(remove_friend),
        )
        .route(
            "/v1/users/{id}/locations",
            get(location_history).delete(delete_location_history),
        )
        .route("/v1/ws/friends", get(upgrade))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Nearby friends",
        description = "Users, mutual friendships, location history, and live friend locations over the WebSocket `/v1/ws/friends`."
    ),
    paths(
        create_user,
        list_friends,
        add_friend,
        list_requests,
        remove_friend,
        location_history,
        delete_location_history,
        upgrade
    ),
    components(schemas(
        NewUser,
        User,
        FriendsResponse,
        NewFriend,
        PendingRequest,
        RequestsResponse,
        HistoryResponse,
        HistoryPoint
    ))
)]
pub struct ApiDoc;

const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 200 characters, not all spaces, no control characters; surrounding spaces are
    /// trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FriendsResponse {
    pub friends: Vec<User>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFriend {
    /// The user to ask (or to accept, when they asked the caller); not the caller.
    #[serde(deserialize_with = "kit::extract::json_integer")]
    #[schema(minimum = 1)]
    pub friend_id: i64,
}

/// A request waiting for the other user's consent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingRequest {
    /// Always `pending`.
    pub status: &'static str,
    pub friend_id: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestsResponse {
    /// Users asking the caller, oldest first.
    pub incoming: Vec<User>,
    /// Users the caller asked, oldest first.
    pub outgoing: Vec<User>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryResponse {
    /// Oldest first.
    pub locations: Vec<HistoryPoint>,
    /// Present when `limit` cut the answer short: pass it as `from` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_from: Option<f64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Unix seconds, inclusive (default: the beginning of time); not after `to` (400).
    pub from: Option<f64>,
    /// Unix seconds, inclusive (default: now and beyond).
    pub to: Option<f64>,
    /// Most fixes returned, 1..=10000 (default 1000).
    #[serde(default, deserialize_with = "kit::extract::optional_integer")]
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

fn require_admin(caller: &Caller) -> ApiResult<()> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("an admin token is required".into()))
    }
}

/// The caller must be a registered user.
async fn registered(state: &FriendsState, caller: &Caller) -> ApiResult<User> {
    store::user(&state.backends.db, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::Forbidden(format!("user {} is not registered", caller.user_id)))
}

/// Registers a user (admin token).
#[utoipa::path(post, path = "/v1/users", tag = "friends", request_body = NewUser,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered.", body = User),
        (status = 400, description = "A blank or too long name (`/problems/invalid-body`), or control characters in it (`/problems/invalid-text`)."),
        (status = 403, description = "The token is not an admin's (`/problems/forbidden`)."),
    ))]
async fn create_user(
    State(state): State<FriendsState>,
    caller: Caller,
    AppJson(body): AppJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    require_admin(&caller)?;
    kit::text::check_printable("name", &body.name)?;
    // The length as sent, as the document states it; then trimmed.
    let name = body.name.trim();
    if name.is_empty() || body.name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid_body(format!(
            "name must have 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    let user = store::create_user(&state.backends.db, name).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// The caller's friends.
#[utoipa::path(get, path = "/v1/friends", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = FriendsResponse),
        (status = 403, description = "The caller is not a registered user (`/problems/forbidden`)."),
    ))]
async fn list_friends(
    State(state): State<FriendsState>,
    caller: Caller,
) -> ApiResult<Json<FriendsResponse>> {
    registered(&state, &caller).await?;
    let friends = store::friends(&state.backends.db, caller.user_id).await?;
    Ok(Json(FriendsResponse { friends }))
}

/// Asks `friend_id` to be the caller's friend. When `friend_id` has asked the caller
/// already, this accepts: the two are friends (201) and both users' connections subscribe to
/// each other and get `friend_added`. Otherwise the request waits for `friend_id` (202), who
/// gets `friend_request`.
#[utoipa::path(post, path = "/v1/friends", tag = "friends", request_body = NewFriend,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Accepted: now friends.", body = User),
        (status = 202, description = "Asked: waiting for the other user.", body = PendingRequest),
        (status = 400, description = "`friend_id` is the caller (`/problems/invalid-body`)."),
        (status = 403, description = "The caller is not a registered user (`/problems/forbidden`)."),
        (status = 404, description = "No user has this id (`/problems/not-found`)."),
        (status = 409, description = "Already friends (`/problems/conflict`)."),
    ))]
async fn add_friend(
    State(state): State<FriendsState>,
    caller: Caller,
    AppJson(body): AppJson<NewFriend>,
) -> ApiResult<Response> {
    registered(&state, &caller).await?;
    if body.friend_id == caller.user_id {
        return Err(ApiError::invalid_body("you cannot befriend yourself"));
    }
    let friend = store::user(&state.backends.db, body.friend_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {} does not exist", body.friend_id)))?;
    let asked = store::ask_friendship(&state.backends.db, caller.user_id, friend.id).await?;
    match asked {
        Asked::AlreadyFriends => Err(ApiError::Conflict(format!(
            "you and user {} are already friends",
            friend.id
        ))),
        Asked::Accepted => {
            for (user_id, friend_id) in [(caller.user_id, friend.id), (friend.id, caller.user_id)] {
                notify(&state, Event::Befriended { user_id, friend_id });
            }
            Ok((StatusCode::CREATED, Json(friend)).into_response())
        }
        Asked::Pending { new } => {
            if new {
                notify(
                    &state,
                    Event::Requested {
                        user_id: caller.user_id,
                        friend_id: friend.id,
                    },
                );
            }
            let pending = PendingRequest {
                status: "pending",
                friend_id: friend.id,
            };
            Ok((StatusCode::ACCEPTED, Json(pending)).into_response())
        }
    }
}

/// Tells the recipient's connections about a friendship change. Best effort: the change is
/// in SQL, and a connection that misses it sees it at its next start (requests are listed
/// by `GET /v1/friends/requests`).
fn notify(state: &FriendsState, event: Event) {
    let Some(recipient) = event.recipient() else {
        return;
    };
    if let Err(err) = state
        .pubsub
        .publish(&notice_channel(&state.prefix, recipient), &event)
    {
        tracing::debug!(error = %err, "publishing a friendship notice failed");
    }
}

/// Friend requests waiting for the caller's answer and those the caller sent.
#[utoipa::path(get, path = "/v1/friends/requests", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = RequestsResponse),
        (status = 403, description = "The caller is not a registered user (`/problems/forbidden`)."),
    ))]
async fn list_requests(
    State(state): State<FriendsState>,
    caller: Caller,
) -> ApiResult<Json<RequestsResponse>> {
    registered(&state, &caller).await?;
    let (incoming, outgoing) = store::requests(&state.backends.db, caller.user_id).await?;
    Ok(Json(RequestsResponse { incoming, outgoing }))
}

/// How long an unfriend keeps retrying to tell the live connections before it gives up
/// with a 503.
const ANNOUNCE_FOR: std::time::Duration = std::time::Duration::from_secs(3);

/// Ends a friendship on both sides, or withdraws or declines a pending request. When it
/// returns, no location of either user reaches the other: both users' open connections, on
/// every instance, have been told on the very channels that carry the locations.
#[utoipa::path(delete, path = "/v1/friends/{friend_id}", tag = "friends",
    params(("friend_id" = i64, Path, minimum = 1, description = "The friend's (or asker's, or asked's) user id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended, withdrawn or declined; both users' connections were told."),
        (status = 403, description = "The caller is not a registered user (`/problems/forbidden`)."),
        (status = 404, description = "Neither friends nor asking each other (`/problems/not-found`)."),
        (status = 503, description = "The pub/sub servers did not confirm the news within 3 s; the friendship is ended in the database all the same (`/problems/dependency-unavailable`)."),
    ))]
async fn remove_friend(
    State(state): State<FriendsState>,
    caller: Caller,
    AppPath(Integer(friend_id)): AppPath<Integer>,
) -> ApiResult<StatusCode> {
    registered(&state, &caller).await?;
    if !store::remove_friendship(&state.backends.db, caller.user_id, friend_id).await? {
        if store::drop_request(&state.backends.db, caller.user_id, friend_id).await? {
            return Ok(StatusCode::NO_CONTENT);
        }
        return Err(ApiError::NotFound(format!(
            "you and user {friend_id} are neither friends nor asking each other"
        )));
    }
    // Each side's connections hold the other's location channel: tell them there, so that
    // no location published after this can overtake the news.
    for (user_id, friend_id) in [(caller.user_id, friend_id), (friend_id, caller.user_id)] {
        let event = Event::Unfriended { user_id, friend_id };
        announce(&state, &user_channel(&state.prefix, user_id), &event).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Publishes `event` and waits until the pub/sub server took it, retrying for
/// [`ANNOUNCE_FOR`]. The friendship is already gone from SQL, so a connection that could not
/// be told still stops at its next resync (every pub/sub reconnection forces one); the 503
/// says the guarantee could not be confirmed in time.
async fn announce(state: &FriendsState, channel: &str, event: &Event) -> crate::Result<()> {
    let deadline = tokio::time::Instant::now() + ANNOUNCE_FOR;
    loop {
        match state.pubsub.publish_confirmed(channel, event).await {
            Ok(()) => return Ok(()),
            Err(err) if tokio::time::Instant::now() >= deadline => {
                tracing::warn!(error = %err, "announcing an unfriend failed");
                return Err(err.into());
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}

fn own_history(caller: &Caller, id: i64) -> ApiResult<()> {
    if caller.user_id == id {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "location history is visible to its owner only".into(),
        ))
    }
}

/// The caller's own location history, oldest first, including fixes still queued for
/// writing.
#[utoipa::path(get, path = "/v1/users/{id}/locations", tag = "friends",
    params(("id" = i64, Path, minimum = 1, description = "The caller's own user id."), HistoryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = HistoryResponse),
        (status = 400, description = "`from` after `to` (`/problems/invalid-parameter`)."),
        (status = 403, description = "Another user's history (`/problems/forbidden`)."),
    ))]
async fn location_history(
    State(state): State<FriendsState>,
    caller: Caller,
    AppPath(Integer(id)): AppPath<Integer>,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> ApiResult<Json<HistoryResponse>> {
    own_history(&caller, id)?;
    let from = query.from.unwrap_or(f64::MIN);
    let to = query.to.unwrap_or(f64::MAX);
    if !from.is_finite() || !to.is_finite() || from > to {
        return Err(ApiError::bad_request(
            "from and to must be Unix seconds with from <= to",
        ));
    }
    let limit = query.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be within 1..=10000"));
    }
    // Fixes still queued are written first: the owner reads what they sent.
    state.history.flush().await;
    // One more than asked tells whether there is a next page.
    let mut locations = store::history(&state.backends.db, id, from, to, limit + 1).await?;
    let next_from = if locations.len() as i64 > limit {
        locations.truncate(limit as usize);
        locations.last().map(|p| p.timestamp)
    } else {
        None
    };
    Ok(Json(HistoryResponse {
        locations,
        next_from,
    }))
}

/// Erases the caller's own location history (queued fixes included).
#[utoipa::path(delete, path = "/v1/users/{id}/locations", tag = "friends",
    params(("id" = i64, Path, minimum = 1, description = "The caller's own user id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Erased."),
        (status = 403, description = "Another user's history (`/problems/forbidden`)."),
    ))]
async fn delete_location_history(
    State(state): State<FriendsState>,
    caller: Caller,
    AppPath(Integer(id)): AppPath<Integer>,
) -> ApiResult<StatusCode> {
    own_history(&caller, id)?;
    state.history.flush().await;
    store::delete_history(&state.backends.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The live channel (token in `Authorization` or `?token=`). Frames are described in the
/// API contract: init -> nearby_friends, location, friend_location, friend_left,
/// subscribe/unsubscribe, error.
#[utoipa::path(get, path = "/v1/ws/friends", tag = "friends",
    params(("token" = Option<String>, Query, description = "The bearer token, for clients that cannot set headers on an upgrade.")),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol."),
        (status = 400, description = "Not a WebSocket upgrade (`/problems/invalid-parameter`)."),
        (status = 403, description = "The caller is not a registered user (`/problems/forbidden`)."),
        (status = 429, description = "The user already holds `WS_MAX_PER_USER` sockets (`/problems/rate-limited`)."),
        (status = 503, description = "The server is draining for shutdown."),
    ))]
async fn upgrade(
    State(state): State<FriendsState>,
    caller: Result<Caller, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    if state.is_draining() {
        return ApiError::Unavailable {
            dependency: "friends (draining)",
            retry_after: std::time::Duration::from_secs(1),
        }
        .into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::bad_request(format!("not a WebSocket upgrade: {rejection}"))
                .into_response();
        }
    };
    if let Err(err) = registered(&state, &caller).await {
        return err.into_response();
    }
    let Some(slot) = state.user_slot(caller.user_id) else {
        tracing::debug!(
            user_id = caller.user_id,
            "refusing a WebSocket beyond WS_MAX_PER_USER"
        );
        return ApiError::RateLimited {
            retry_after: std::time::Duration::from_secs(5),
        }
        .into_response();
    };
    upgrade
        // Small buffers: most connections are idle, and memory per idle connection is what
        // decides how many one process holds.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(ws::MAX_MESSAGE_BYTES)
        .max_frame_size(ws::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| ws::run(state, socket, caller.user_id, slot))
}
