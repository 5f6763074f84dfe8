//! `GET /v1/ws/navigation`: a navigation session over a WebSocket. The client starts from a
//! `route_id` (from `/v1/nav`) or from stops, then sends its fixes; the server answers with
//! the route, `eta` when the time left moves, `reroute` when the user leaves the route or
//! traffic makes another clearly faster, and `arrived`. Fixes also feed live traffic, in
//! batches, as `POST /v1/locations` does.
//!
//! The socket is read by one task and written by another through a short queue: a client
//! that does not read loses `eta` frames (each supersedes the last) and is disconnected
//! rather than allowed to hold the server's memory.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use geo_core::LatLon;
use kit::ApiError;
use kit::auth::Caller;
use routing::Mode;
use routing::astar::Avoid;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::nav::{parse_mode, parse_stop};
use crate::Error;
use crate::planner::PlanOptions;
use crate::response::{ResolvedStop, Route, directions_response};
use crate::service::{NavState, travel_mode};
use crate::session::registry::Wake;
use crate::session::ticket::Ticket;
use crate::session::track::Track;
use crate::session::{Outcome, Session};
use crate::traffic::eta::TrafficSpeeds;
use crate::traffic::fixes::{Fix, FixBatch, validate};
use crate::traffic::{now_ms, now_s};

/// A planned route: its id, the `/v1/nav` route object and its track.
type Planned = (String, Route, Track);

/// Largest message a client may send.
const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Frames waiting for a slow client.
const OUT_QUEUE: usize = 16;
/// Longest a write may take before the client is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Fixes closer together than this are refused (the contract: about one a second).
const MIN_FIX_INTERVAL_S: f64 = 0.5;
/// Fixes sent on to traffic per batch, and the longest a batch waits.
const BATCH_FIXES: usize = 15;
const BATCH_SPAN_S: f64 = 15.0;

pub(super) fn router() -> Router<NavState> {
    Router::new().route("/v1/ws/navigation", get(upgrade))
}

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Start {
        route_id: Option<String>,
        origin: Option<String>,
        destination: Option<String>,
        mode: Option<String>,
    },
    Location(Fix),
    Stop,
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame {
    Route {
        route_id: String,
        route: Box<Route>,
    },
    Eta {
        route_id: String,
        duration_in_traffic: f64,
        distance_remaining_m: f64,
    },
    Reroute {
        reason: &'static str,
        route_id: String,
        route: Box<Route>,
    },
    Arrived,
    Error {
        status: u16,
        code: &'static str,
        detail: String,
    },
}

impl From<ApiError> for ServerFrame {
    fn from(err: ApiError) -> ServerFrame {
        ServerFrame::Error {
            status: err.status_code().as_u16(),
            code: err.code(),
            detail: err.to_string(),
        }
    }
}

/// Opens a navigation session (token in `Authorization` or `?token=`).
#[utoipa::path(
    get,
    path = "/v1/ws/navigation",
    responses(
        (status = 101, description = "WebSocket. Client frames: `start` (`route_id`, or `origin` and `destination` with optional `mode`), `location` (`latitude`, `longitude`, `timestamp`, optional `heading_deg`, `speed_mps`, `accuracy_m`), `stop`. Server frames: `route`, `eta` (`duration_in_traffic`, `distance_remaining_m`), `reroute` (`reason` traffic or off_route), `arrived`, `error` (`status`, `code`, `detail`; the socket stays open)."),
        (status = 401, description = "Missing or invalid token."),
    ),
    tag = "traffic"
)]
pub(super) async fn upgrade(
    State(state): State<NavState>,
    caller: Caller,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(state, caller.user_id, socket))
}

/// One connection's state.
struct Conn {
    state: NavState,
    user_id: i64,
    id: u64,
    session: Option<(Session, Mode, Avoid)>,
    out: mpsc::Sender<ServerFrame>,
    /// Fixes not yet sent on to traffic.
    pending: Vec<Fix>,
    /// When the last fix was accepted (server clock) and its timestamp.
    last_fix: Option<(f64, f64)>,
    /// The writer gave up: the connection ends.
    gone: bool,
}

async fn run(state: NavState, user_id: i64, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut queue) = mpsc::channel::<ServerFrame>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(frame) = queue.recv().await {
            let text = serde_json::to_string(&frame).expect("frames serialise");
            let sent = tokio::time::timeout(
                WRITE_TIMEOUT,
                sink.send(Message::Text(Utf8Bytes::from(text))),
            );
            if !matches!(sent.await, Ok(Ok(()))) {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let (id, mut wake) = state.sessions().open();
    let mut conn = Conn {
        state: state.clone(),
        user_id,
        id,
        session: None,
        out,
        pending: Vec::new(),
        last_fix: None,
        gone: false,
    };
    while !conn.gone {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => conn.on_text(&text).await,
                Some(Ok(Message::Binary(_))) => {
                    conn.send(ApiError::invalid_body("frames are JSON text").into()).await;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            Some(Wake::Traffic) = wake.recv() => conn.on_traffic().await,
        }
    }
    conn.flush_fixes().await;
    state.sessions().close(id);
    drop(conn);
    let _ = writer.await;
}

impl Conn {
    /// Queues a frame: `eta`s are dropped when the client is behind (the next supersedes
    /// them); anything else waits for room, and a client that never makes room is gone.
    async fn send(&mut self, frame: ServerFrame) {
        match self.out.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(ServerFrame::Eta { .. })) => {
                metrics::counter!("nav_ws_eta_dropped_total").increment(1);
            }
            Err(mpsc::error::TrySendError::Full(frame)) => {
                if tokio::time::timeout(WRITE_TIMEOUT, self.out.send(frame))
                    .await
                    .is_err()
                {
                    self.gone = true;
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.gone = true,
        }
    }

    async fn on_text(&mut self, text: &str) {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(err) => {
                let detail = format!("not a start, location or stop frame: {err}");
                self.send(ApiError::invalid_body(detail).into()).await;
                return;
            }
        };
        let result = match frame {
            ClientFrame::Start {
                route_id,
                origin,
                destination,
                mode,
            } => self.start(route_id, origin, destination, mode).await,
            ClientFrame::Location(fix) => self.location(fix).await,
            ClientFrame::Stop => {
                self.session = None;
                self.state.sessions().route(self.id, Vec::new());
                Ok(())
            }
        };
        if let Err(err) = result {
            self.send(err.into()).await;
        }
    }

    async fn start(
        &mut self,
        route_id: Option<String>,
        origin: Option<String>,
        destination: Option<String>,
        mode: Option<String>,
    ) -> Result<(), ApiError> {
        let ticket = match (route_id, origin, destination) {
            (Some(id), None, None) if mode.is_none() => {
                Ticket::decode(&id, now_s() as u64).map_err(ApiError::invalid_body)?
            }
            (None, Some(origin), Some(destination)) => {
                let mut stops = Vec::new();
                for (name, raw) in [("origin", origin), ("destination", destination)] {
                    let stop = parse_stop(name, &raw)?;
                    stops.push(
                        self.state
                            .resolve(&stop)
                            .await
                            .map_err(ApiError::from)?
                            .point,
                    );
                }
                Ticket {
                    stops,
                    mode: parse_mode(mode.as_deref())?,
                    avoid: Avoid::default(),
                    alternative: 0,
                    issued_s: now_s() as u64,
                }
            }
            _ => {
                return Err(ApiError::invalid_body(
                    "start takes a route_id alone, or an origin and a destination (and a mode)",
                ));
            }
        };
        let (route_id, route, track) = self.plan(&ticket).await?;
        let mut session = Session::new(route_id.clone(), track);
        let speeds = self.speeds();
        let first = session.eta_if_due(now_s(), &speeds);
        self.state
            .sessions()
            .route(self.id, session.track.edges_ahead(0.0));
        self.session = Some((session, ticket.mode, ticket.avoid));
        self.send(ServerFrame::Route {
            route_id,
            route: Box::new(route),
        })
        .await;
        if let Some(Outcome::Eta {
            duration_in_traffic,
            distance_remaining_m,
        }) = first
            && let Some((s, ..)) = &self.session
        {
            let route_id = s.route_id.clone();
            self.send(ServerFrame::Eta {
                route_id,
                duration_in_traffic,
                distance_remaining_m,
            })
            .await;
        }
        Ok(())
    }

    /// Plans the ticket's route.
    async fn plan(&self, ticket: &Ticket) -> Result<Planned, ApiError> {
        let options = PlanOptions {
            mode: ticket.mode,
            avoid: ticket.avoid,
            alternatives: ticket.alternative > 0,
            exact: false,
        };
        let live = ticket.mode == Mode::Driving;
        let (plan, _) = self
            .state
            .plan_live(ticket.stops.clone(), options, live)
            .await
            .map_err(|e| match e {
                Error::ZeroResults(detail) => ApiError::Unprocessable(detail),
                other => ApiError::from(other),
            })?;
        let index = usize::from(ticket.alternative).min(plan.routes.len().saturating_sub(1));
        let planned = plan
            .routes
            .get(index)
            .ok_or_else(|| ApiError::Unprocessable("no route between these stops".into()))?;
        let stops: Vec<ResolvedStop> = ticket
            .stops
            .iter()
            .map(|p| ResolvedStop {
                point: *p,
                address: format!("{:.6},{:.6}", p.lat, p.lon),
                place_id: None,
                types: Vec::new(),
            })
            .collect();
        let response = directions_response(&plan, &stops, travel_mode(ticket.mode), &[]);
        let mut route = response
            .routes
            .into_iter()
            .nth(index)
            .ok_or_else(|| ApiError::Unprocessable("no route between these stops".into()))?;
        let route_id = ticket.encode();
        route.route_id = Some(route_id.clone());
        let mut track = Track::from_route(planned);
        track.stops = ticket.stops[1..].to_vec();
        Ok((route_id, route, track))
    }

    fn speeds(&self) -> TrafficSpeeds {
        TrafficSpeeds::Live(self.state.traffic().view())
    }

    async fn location(&mut self, fix: Fix) -> Result<(), ApiError> {
        let now = now_s();
        validate(&[fix], now).map_err(|e| ApiError::invalid_body(e.to_string()))?;
        if let Some((at, timestamp)) = self.last_fix {
            if now - at < MIN_FIX_INTERVAL_S {
                return Err(ApiError::RateLimited {
                    retry_after: Duration::from_secs_f64(MIN_FIX_INTERVAL_S),
                });
            }
            if fix.timestamp < timestamp {
                return Err(ApiError::invalid_body(format!(
                    "timestamp {} is before the previous fix's {timestamp}",
                    fix.timestamp
                )));
            }
        }
        self.last_fix = Some((now, fix.timestamp));
        self.pending.push(fix);
        let span = self.pending.last().map_or(0.0, |l| l.timestamp)
            - self.pending.first().map_or(0.0, |f| f.timestamp);
        if self.pending.len() >= BATCH_FIXES || span >= BATCH_SPAN_S {
            self.flush_fixes().await;
        }
        let speeds = self.speeds();
        let Some((session, ..)) = self.session.as_mut() else {
            return Ok(());
        };
        let p = LatLon::clamped(fix.latitude, fix.longitude);
        let outcomes = session.on_fix(p, now, &speeds);
        for outcome in outcomes {
            self.outcome(outcome).await?;
        }
        Ok(())
    }

    async fn outcome(&mut self, outcome: Outcome) -> Result<(), ApiError> {
        let Some((session, ..)) = self.session.as_ref() else {
            return Ok(());
        };
        let route_id = session.route_id.clone();
        match outcome {
            Outcome::Eta {
                duration_in_traffic,
                distance_remaining_m,
            } => {
                self.send(ServerFrame::Eta {
                    route_id,
                    duration_in_traffic,
                    distance_remaining_m,
                })
                .await;
            }
            Outcome::Arrived => {
                self.state.sessions().route(self.id, Vec::new());
                self.send(ServerFrame::Arrived).await;
            }
            Outcome::OffRoute { from } => {
                if let Some(ticket) = self.ticket_from(from) {
                    let planned = self.plan(&ticket).await?;
                    self.reroute("off_route", planned).await;
                }
            }
        }
        Ok(())
    }

    /// The rest of the session's trip planned again from `from`: the stops still ahead,
    /// with the session's mode and avoidances.
    fn ticket_from(&self, from: LatLon) -> Option<Ticket> {
        let (session, mode, avoid) = self.session.as_ref()?;
        let mut stops = vec![from];
        stops.extend(session.track.stops_ahead(session.along_m));
        Some(Ticket {
            stops,
            mode: *mode,
            avoid: *avoid,
            alternative: 0,
            issued_s: now_s() as u64,
        })
    }

    /// Switches to a newly planned route and tells the client.
    async fn reroute(&mut self, reason: &'static str, (route_id, route, track): Planned) {
        let edges = track.edges_ahead(0.0);
        if let Some((session, ..)) = self.session.as_mut() {
            session.replace(route_id.clone(), track);
            let speeds = self.speeds();
            if let Some((session, ..)) = self.session.as_mut() {
                let _ = session.eta_if_due(now_s(), &speeds);
            }
        }
        self.state.sessions().route(self.id, edges);
        metrics::counter!("nav_ws_reroutes_total", "reason" => reason).increment(1);
        self.send(ServerFrame::Reroute {
            reason,
            route_id,
            route: Box::new(route),
        })
        .await;
    }

    /// Speeds changed on the route: a faster route by enough is a reroute, else the time
    /// left may be worth an `eta`.
    async fn on_traffic(&mut self) {
        let speeds = self.speeds();
        let Some((session, ..)) = self.session.as_ref() else {
            return;
        };
        let Some(position) = session.position.filter(|_| !session.arrived) else {
            return;
        };
        let current = session.remaining_s(&speeds);
        let Some(ticket) = self.ticket_from(position) else {
            return;
        };
        metrics::counter!("nav_ws_traffic_checks_total").increment(1);
        if let Ok(planned) = self.plan(&ticket).await {
            let candidate = planned.2.remaining_s(0.0, &speeds);
            tracing::debug!(
                session = self.id,
                current,
                candidate,
                "traffic changed on a session's route"
            );
            if Session::worth_switching(current, candidate) {
                self.reroute("traffic", planned).await;
                return;
            }
        }
        let due = self
            .session
            .as_mut()
            .and_then(|(s, ..)| s.eta_if_due(now_s(), &speeds));
        if let Some(outcome) = due {
            let _ = self.outcome(outcome).await;
        }
    }

    /// Sends the fixes gathered so far on to traffic (as a batch of `POST /v1/locations`).
    async fn flush_fixes(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mode = self.session.as_ref().map_or(Mode::Driving, |(_, m, _)| *m);
        let batch = FixBatch {
            user_id: self.user_id,
            mode,
            received_ms: now_ms(),
            fixes: std::mem::take(&mut self.pending),
        };
        if let Err(err) = self.state.traffic().stream().append(&batch).await {
            tracing::warn!(error = %err, "navigation fixes not sent on to traffic");
            metrics::counter!("nav_ws_fixes_dropped_total").increment(batch.fixes.len() as u64);
        }
    }
}
