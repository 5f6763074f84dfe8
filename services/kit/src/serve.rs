//! Serving a router: common layers, binding, connection handling, graceful shutdown.
//!
//! Connections are served with hyper's HTTP/1.1 server directly (not `axum::serve`) so
//! that hostile clients meet limits: a header-read timeout (which also ends idle
//! keep-alive), an idle timeout while a response is not being read, a cap on connections
//! per client address and in all, a bounded request head, and, when descriptors run out,
//! a backoff instead of a spinning accept loop plus a spare descriptor so that health
//! checks keep being answered. See `admission`, `connection` and `spare`.

mod admission;
mod connection;
mod spare;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::Request;
use axum::response::IntoResponse;
use futures::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use self::admission::{Admission, Lane, Slot};
use self::connection::{Activity, ConnIo};
use self::spare::Spare;
use crate::rate_limit::{IpRateLimiter, limit_per_ip};

/// Largest accepted request body; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Wraps `router` with the layers every service uses: request id, tracing, CORS, compression
/// ([`crate::edge`]), metrics, body limit, timeout and (when enabled) the per-IP rate limit.
pub fn with_common_layers(router: Router, config: &crate::config::CommonConfig) -> Router {
    let rate_limit_per_ip = config.rate_limit_per_ip;
    let mut router = router
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::ops::track_metrics));
    if rate_limit_per_ip > 0 {
        let limiter = IpRateLimiter::new(rate_limit_per_ip);
        router = router.layer(axum::middleware::from_fn_with_state(limiter, limit_per_ip));
    }
    // A request that takes this long is stuck on a dependency: 503, as for an outage.
    let router = router.layer(axum::middleware::from_fn_with_state(
        crate::problem::REQUEST_TIMEOUT,
        crate::problem::time_limit,
    ));
    crate::edge::layers(router, &config.cors_allowed_origins)
}

async fn unknown_route(uri: axum::http::Uri) -> crate::ApiError {
    crate::ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> crate::ApiError {
    crate::ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// Binds the listener (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

/// Largest request head (request line and headers) read; larger ones get 414 or 431.
/// Also the most a connection buffers, so it bounds what a slow client can pin per socket.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most header fields in a request (hyper's default); more get 431.
pub const MAX_HEADERS: usize = 100;

/// Descriptors kept out of the connection cap for everything else the process opens:
/// database and cache connections, tiles, logs, and the overflow lane.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// Header-read timeout of connections beyond a cap: a health check asks at once.
const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest pause between accept attempts while descriptors are short.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Timeouts and caps for connections (from [`crate::config::CommonConfig`]).
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Time to send a whole request head, from connect or from the previous response.
    pub header_read_timeout: Duration,
    /// Time without a byte moving while no request is handled.
    pub idle_timeout: Duration,
    /// 0 = the open-file limit less [`RESERVED_DESCRIPTORS`], which also caps any value.
    pub max_connections: usize,
    /// 0 = no per-client cap.
    pub max_connections_per_ip: usize,
    /// `SO_SNDBUF` of accepted sockets; 0 = the kernel's autotuning.
    pub send_buffer_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 0,
            max_connections_per_ip: 256,
            send_buffer_bytes: 0,
        }
    }
}

impl ConnectionLimits {
    /// The global cap given `descriptors` (the open-file limit): what was asked, at most
    /// the limit less the reserve (half the limit when that is tiny).
    fn max_connections(&self, descriptors: Option<u64>) -> usize {
        let ceiling = descriptors.map(|limit| {
            let ceiling = limit.saturating_sub(RESERVED_DESCRIPTORS).max(limit / 2);
            usize::try_from(ceiling).unwrap_or(usize::MAX)
        });
        match (self.max_connections, ceiling) {
            (0, Some(ceiling)) => ceiling,
            (0, None) => 10_000,
            (asked, Some(ceiling)) if asked > ceiling => {
                tracing::warn!(
                    asked,
                    ceiling,
                    "MAX_CONNECTIONS is above the open-file limit less the descriptors kept \
                     for the process's own files; using the ceiling"
                );
                ceiling
            }
            (asked, _) => asked,
        }
    }
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let descriptors = raise_descriptor_limit();
    let max_connections = limits.max_connections(descriptors);
    tracing::info!(
        max_connections,
        max_connections_per_ip = limits.max_connections_per_ip,
        open_file_limit = descriptors,
        "connection limits"
    );
    let server = Arc::new(Server {
        router,
        admission: Admission::new(max_connections, limits.max_connections_per_ip),
        limits,
        spare: Arc::new(Spare::new()),
    });
    // Each connection task holds a receiver: `changed` asks it to finish, and `closed`
    // on the sender tells when every one has.
    let (stop, stopped) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Duration::ZERO;
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let err = match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::ZERO;
                server.spare.refill();
                match server.admission.admit(peer.ip()) {
                    Some(slot) => server.spawn(stream, peer, slot, stopped.clone()),
                    None => {
                        metrics::counter!("http_connections_refused_total", "reason" => "overflow_full")
                            .increment(1);
                        drop(stream);
                    }
                }
                continue;
            }
            Err(err) if spare::connection_error(&err) => continue,
            Err(err) => err,
        };
        // Out of descriptors (or another resource): the pending connection stays queued,
        // so retrying at once would spin. First let the spare descriptor take one waiting
        // client, so that health checks are answered, then pause.
        if spare::out_of_descriptors(&err) && server.spare.lend() {
            match listener.accept().now_or_never() {
                Some(Ok((stream, peer))) => {
                    metrics::counter!("http_connections_refused_total", "reason" => "no_descriptors")
                        .increment(1);
                    let slot = Slot::on_spare(server.spare.clone());
                    server.spawn(stream, peer, slot, stopped.clone());
                }
                _ => server.spare.give_back(),
            }
        }
        if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            tracing::warn!(error = %err, "accept failed; backing off");
            last_warning = Some(Instant::now());
        }
        backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(backoff) => {}
        }
    }
    drop(listener);
    drop(stopped);
    tracing::info!("stopped accepting; waiting for open requests");
    let _ = stop.send(());
    stop.closed().await;
    Ok(())
}

/// What every connection task shares.
struct Server {
    router: Router,
    limits: ConnectionLimits,
    admission: Admission,
    spare: Arc<Spare>,
}

impl Server {
    fn spawn(
        self: &Arc<Server>,
        stream: TcpStream,
        peer: SocketAddr,
        slot: Slot,
        mut stop: watch::Receiver<()>,
    ) {
        // Frames are small and latency-bound (WebSocket deliveries, JSON answers): without
        // this, Nagle holds a frame behind the peer's delayed ACK for up to 40 ms.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "setting TCP_NODELAY failed");
        }
        if self.limits.send_buffer_bytes > 0 {
            let socket = socket2::SockRef::from(&stream);
            if let Err(err) = socket.set_send_buffer_size(self.limits.send_buffer_bytes) {
                tracing::debug!(error = %err, "setting SO_SNDBUF failed");
            }
        }
        let lane = slot.lane();
        let activity = Activity::new();
        let io = TokioIo::new(ConnIo::new(stream, activity.clone(), slot));
        let service = self.service(peer, lane, activity.clone());
        let full = lane == Lane::Full;
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(if full {
                self.limits.header_read_timeout
            } else {
                self.limits.header_read_timeout.min(OVERFLOW_HEADER_TIMEOUT)
            })
            .keep_alive(full)
            .max_buf_size(MAX_HEAD_BYTES)
            .max_headers(MAX_HEADERS);
        let idle_timeout = self.limits.idle_timeout;
        tokio::spawn(async move {
            let connection = builder.serve_connection(io, service).with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let idle = activity.idle_for(idle_timeout);
            let mut idle = std::pin::pin!(idle);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::debug!(%peer, error = %err, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = idle.as_mut() => {
                        tracing::debug!(%peer, ?idle_timeout, "closing an idle connection");
                        break;
                    }
                }
            }
        });
    }

    /// The router, with the client's address as `ConnectInfo`; beyond a cap, health checks
    /// only.
    fn service(
        &self,
        peer: SocketAddr,
        lane: Lane,
        activity: Arc<Activity>,
    ) -> impl hyper::service::Service<
        Request<Incoming>,
        Response = axum::response::Response,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        let router = self.router.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let in_flight = activity.request_started();
            request.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let _in_flight = in_flight;
                if lane != Lane::Full && !is_health_check(request.uri().path()) {
                    return Ok(refusal(lane).into_response());
                }
                router.oneshot(request).await
            }
        })
    }
}

/// The endpoints answered beyond the caps: cheap, and what load balancers ask.
fn is_health_check(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz")
}

fn refusal(lane: Lane) -> crate::ApiError {
    let (from_client, detail, reason) = match lane {
        Lane::OverClientCap => (
            true,
            "too many connections from your address; close some and retry",
            "client_cap",
        ),
        Lane::NoDescriptors => (
            false,
            "the server is out of file descriptors; retry later",
            "no_descriptors",
        ),
        Lane::OverCap | Lane::Full => (
            false,
            "the server has too many connections; retry later",
            "server_cap",
        ),
    };
    metrics::counter!("http_connections_refused_total", "reason" => reason).increment(1);
    crate::ApiError::TooManyConnections {
        from_client,
        detail: detail.into(),
    }
}

/// Raises the soft open-file limit to the hard one (as Go's runtime does; the soft default
/// of 1024 is a relic of `select`) and returns the soft limit now in force.
fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let current = limit.current?;
        if let Some(maximum) = limit.maximum
            && maximum > current
        {
            let raised = rustix::process::Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return Some(maximum);
            }
        }
        Some(current)
    }
    #[cfg(not(unix))]
    None
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; draining");
}
