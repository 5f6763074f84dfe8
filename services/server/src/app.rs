//! Composition: backends once, then each selected service's routes, readiness checks and
//! OpenAPI paths on one router.

use std::future::Future;

use axum::Router;
use friends::FriendsConfig;
use kit::Backends;
use kit::config::CommonConfig;
use navigation::NavigationConfig;
use proximity::ProximityConfig;
use tokio::net::TcpListener;
use utoipa::OpenApi;

/// A service that can be mounted (the names `SERVICES` takes: `proximity`, `friends`,
/// `navigation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    Proximity,
    Friends,
    Navigation,
}

/// Every service of the workspace.
pub const ALL_SERVICES: &[Service] = &[Service::Proximity, Service::Friends, Service::Navigation];

/// Configuration of the server: common settings plus each service's own.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerConfig {
    #[command(flatten)]
    pub common: CommonConfig,
    #[command(flatten)]
    pub proximity: ProximityConfig,
    #[command(flatten)]
    pub friends: FriendsConfig,
    #[command(flatten)]
    pub navigation: NavigationConfig,
}

/// A bound, ready-to-run server.
pub struct App {
    listener: TcpListener,
    router: Router,
    limits: kit::serve::ConnectionLimits,
    backends: Backends,
    proximity: Option<proximity::AppState>,
    friends: Option<friends::FriendsState>,
    navigation: Option<navigation::NavState>,
}

impl App {
    /// Connects the backends, builds the selected services and binds the listener
    /// (`LISTEN_ADDR` port 0 picks a free port; see [`App::port`]).
    pub async fn build(config: ServerConfig, services: &[Service]) -> anyhow::Result<App> {
        // Installed before any request so that no early measurement is lost.
        kit::telemetry::metrics_handle();
        let backends = Backends::connect(config.common.clone()).await?;
        let mut router = Router::new();
        let mut readiness = backends.readiness();
        let mut openapi = utoipa::openapi::OpenApiBuilder::new()
            .info(
                utoipa::openapi::InfoBuilder::new()
                    .title("geostack")
                    .version(env!("CARGO_PKG_VERSION"))
                    .description(Some(
                        "Geospatial backend: the proximity service (nearby search, nearest-k, \
                         businesses), nearby friends (live locations over WebSocket) and the navigation service (directions, geocoding). Errors are RFC 9457 problem documents (`application/problem+json`, schema `Problem`). \
                         Custom string formats: `place` (`lat,lng` or a place name), `place-name`, \
                         `lat-lng`, `waypoints`, `cursor` (an opaque `next_cursor`) and \
                         `osm-opening-hours`, each described where it is used. Sample data © \
                         OpenStreetMap contributors.",
                    ))
                    .build(),
            )
            .build();
        let mut proximity_state = None;
        let mut friends_state = None;
        let mut navigation_state = None;
        for service in services {
            match service {
                Service::Proximity => {
                    let state =
                        proximity::AppState::build(backends.clone(), config.proximity.clone())
                            .await?;
                    state.spawn_background();
                    readiness.extend(state.readiness());
                    router = router.merge(proximity::http::router(state.clone()));
                    openapi.merge(proximity::http::ApiDoc::openapi());
                    proximity_state = Some(state);
                }
                Service::Friends => {
                    let state =
                        friends::FriendsState::build(backends.clone(), config.friends.clone())
                            .await?;
                    state.spawn_background();
                    readiness.extend(state.readiness());
                    router = router.merge(friends::http::router(state.clone()));
                    openapi.merge(friends::http::ApiDoc::openapi());
                    friends_state = Some(state);
                }
                Service::Navigation => {
                    let state =
                        navigation::NavState::build(backends.clone(), config.navigation.clone())
                            .await?;
                    state.spawn_background();
                    readiness.extend(state.readiness());
                    router = router
                        .merge(navigation::http::router(state.clone()))
                        .merge(crate::web::router());
                    openapi.merge(navigation::http::ApiDoc::openapi());
                    navigation_state = Some(state);
                }
            }
        }
        // The error answers of kit's layers, on every operation, once over the merged document.
        utoipa::Modify::modify(&kit::openapi::ProblemResponses, &mut openapi);
        let openapi_json = serde_json::to_value(&openapi)?;
        let router = router.merge(kit::ops::router(readiness, openapi_json));
        let router = kit::serve::with_common_layers(router, &config.common);
        let listener = kit::serve::bind(config.common.listen_addr).await?;
        tracing::info!(
            addr = %listener.local_addr()?,
            services = ?services,
            "listening"
        );
        Ok(App {
            listener,
            router,
            limits: config.common.connection_limits(),
            backends,
            proximity: proximity_state,
            friends: friends_state,
            navigation: navigation_state,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    pub fn proximity(&self) -> Option<&proximity::AppState> {
        self.proximity.as_ref()
    }

    pub fn friends(&self) -> Option<&friends::FriendsState> {
        self.friends.as_ref()
    }

    pub fn navigation(&self) -> Option<&navigation::NavState> {
        self.navigation.as_ref()
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(kit::serve::shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then drains: WebSockets get their grace period
    /// and a "going away" close, in-flight requests finish, queued writes are flushed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let friends = self.friends.clone();
        let drained = async move {
            shutdown.await;
            if let Some(friends) = friends {
                friends.drain().await;
            }
        };
        kit::serve::serve(self.listener, self.router, self.limits, drained).await
    }
}
