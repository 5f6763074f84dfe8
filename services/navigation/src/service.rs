//! The navigation service's state: the published tile version, the tile and route caches,
//! geocoding, and the one entry point that turns a request into directions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwapOption;
use axum::body::Bytes;
use geo_core::LatLon;
use kit::Backends;
use kit::ops::{CheckStatus, Readiness};
use routing::{Mode, TileStore};

use crate::config::NavigationConfig;
use crate::error::{Error, Result};
use crate::geocode;
use crate::map::MapTiles;
use crate::planner::{Plan, PlanError, PlanOptions, PlannerSettings, plan};
use crate::response::{DirectionsResponse, ResolvedStop, directions_response};
use crate::route_cache::RouteCache;
use crate::tiles::{LoadedVersion, RequestTiles, TileCache};

/// A stop as the client gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    Point(LatLon),
    /// Free text, geocoded.
    Text(String),
}

/// When a trip starts, for traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    Now,
    /// Unix seconds, in the future.
    At(u64),
}

/// A directions request, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NavRequest {
    /// Origin, waypoints in order, destination.
    pub stops: Vec<Stop>,
    pub options: PlanOptions,
    /// Asks for `duration_in_traffic` (driving).
    pub departure: Option<Departure>,
}

/// Work one plan did, for benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlanMetrics {
    pub settled: usize,
    pub tiles_used: usize,
    pub fallbacks: usize,
}

struct Inner {
    backends: Backends,
    config: NavigationConfig,
    settings: PlannerSettings,
    tiles: TileCache,
    version: ArcSwapOption<LoadedVersion>,
    serial: AtomicU64,
    routes: Option<RouteCache>,
    map: MapTiles,
    traffic: crate::traffic::Traffic,
    /// Open navigation sessions, indexed by the edges ahead of them.
    sessions: crate::session::registry::Sessions,
    /// The driving hierarchy re-weighted with live speeds, when traffic has any.
    live_hierarchy: ArcSwapOption<crate::traffic::LiveHierarchy>,
    /// One location batch per user per interval.
    batch_interval: kit::rate_limit::PerKeyInterval,
    /// Turns to plan: searches hold memory in proportion to their work, and a request cut
    /// off by the timeout leaves its blocking search running, so how many run at once is
    /// bounded here, before the blocking thread is taken.
    planners: Arc<tokio::sync::Semaphore>,
    /// Serialises version switches (the poller and explicit refreshes).
    switching: tokio::sync::Mutex<()>,
}

/// Shared by every request.
#[derive(Clone)]
pub struct NavState {
    inner: Arc<Inner>,
}

impl axum::extract::FromRef<NavState> for kit::auth::Auth {
    fn from_ref(state: &NavState) -> kit::auth::Auth {
        state.inner.backends.auth.clone()
    }
}

impl NavState {
    /// Opens the tile store, fills empty stores from the sample extract, and loads the
    /// published version if there is one.
    pub async fn build(backends: Backends, config: NavigationConfig) -> anyhow::Result<NavState> {
        let url = config.tiles_url(&backends.config.data_dir);
        let store = TileStore::open(&url).with_context(|| format!("opening tiles at {url}"))?;
        let routes = RouteCache::new(config.route_cache_bytes);
        let planners = Arc::new(tokio::sync::Semaphore::new(config.planners()));
        let (objects, prefix) = store.location();
        let map = MapTiles::new(
            maptiles::MapStore::new(objects, prefix),
            config.map_cache_bytes,
        );
        let traffic = crate::traffic::Traffic::connect(
            backends.config.redis_url.as_deref(),
            &backends.config.cache_prefix,
            backends.db.clone(),
            Duration::from_millis(config.traffic_claim_idle_ms),
        )
        .await?;
        let batch_interval = kit::rate_limit::PerKeyInterval::new(Duration::from_millis(
            config.location_batch_min_interval_ms,
        ));
        let state = NavState {
            inner: Arc::new(Inner {
                traffic,
                live_hierarchy: ArcSwapOption::empty(),
                sessions: Default::default(),
                batch_interval,
                settings: config.planner(),
                tiles: TileCache::new(store, config.tile_cache_bytes),
                version: ArcSwapOption::empty(),
                serial: AtomicU64::new(0),
                routes,
                map,
                planners,
                switching: tokio::sync::Mutex::new(()),
                backends,
                config,
            }),
        };
        state.seed_if_empty().await?;
        state.refresh_tiles().await?;
        if let Err(err) = state.inner.map.refresh().await {
            tracing::warn!(error = %err, "loading the published map tiles");
        }
        Ok(state)
    }

    pub fn config(&self) -> &NavigationConfig {
        &self.inner.config
    }

    pub fn backends(&self) -> &Backends {
        &self.inner.backends
    }

    pub fn tile_cache(&self) -> &TileCache {
        &self.inner.tiles
    }

    pub fn settings(&self) -> &PlannerSettings {
        &self.inner.settings
    }

    /// The directions cache, when enabled.
    pub fn route_cache(&self) -> Option<&RouteCache> {
        self.inner.routes.as_ref()
    }

    /// The map tiles served.
    pub fn map(&self) -> &MapTiles {
        &self.inner.map
    }

    /// Live traffic: the location stream, history and live speeds.
    pub fn traffic(&self) -> &crate::traffic::Traffic {
        &self.inner.traffic
    }

    /// Open navigation sessions.
    pub fn sessions(&self) -> &crate::session::registry::Sessions {
        &self.inner.sessions
    }

    /// Takes `user_id`'s slot for a location batch; `Err(wait)` when they sent one too
    /// recently.
    pub fn take_batch_slot(&self, user_id: i64) -> std::result::Result<(), Duration> {
        self.inner.batch_interval.take(user_id)
    }

    /// The version routes are planned on, if one is published.
    pub fn current_version(&self) -> Option<Arc<LoadedVersion>> {
        self.inner.version.load_full()
    }

    async fn seed_if_empty(&self) -> anyhow::Result<()> {
        let Some(sample) = kit::config::locate_sample(&self.inner.config.sample_data) else {
            return Ok(());
        };
        let store = self.inner.tiles.store();
        if store.current_version().await?.is_none() {
            tracing::info!(file = %sample.display(), tiles = store.url(), "building routing tiles from the sample extract");
            let summary = routing::import::import_roads(&sample, store, |_, _, _| {}).await?;
            tracing::info!(
                version = summary.version,
                seconds = summary.seconds,
                "routing tiles published"
            );
        }
        let db = &self.inner.backends.db;
        if geocode::is_empty(db).await? {
            tracing::info!(file = %sample.display(), "loading the geocoding table from the sample extract");
            let loaded = geocode::load_from_osm(db, &sample).await?;
            tracing::info!(
                places = loaded.places,
                seconds = loaded.seconds,
                "geocoding table loaded"
            );
        }
        let map = self.inner.map.store();
        if map.current_version().await?.is_none() {
            tracing::info!(file = %sample.display(), "building map tiles from the sample extract");
            let pois = crate::map::published_pois(db).await;
            let summary = maptiles::import_map(
                &sample,
                pois,
                map,
                maptiles::BuildOptions::default(),
                |_, _, _| {},
            )
            .await?;
            tracing::info!(
                version = summary.version,
                tiles = summary.tiles.tiles,
                seconds = summary.seconds,
                "map tiles published"
            );
        }
        Ok(())
    }

    /// Switches to the published version if it changed; `true` when it did. Tile and route
    /// caches are cleared on a switch, so no answer from the old version is served after.
    pub async fn refresh_tiles(&self) -> anyhow::Result<bool> {
        let _guard = self.inner.switching.lock().await;
        let store = self.inner.tiles.store();
        let Some(name) = store.current_version().await? else {
            return Ok(false);
        };
        if self
            .current_version()
            .is_some_and(|loaded| loaded.name == name)
        {
            return Ok(false);
        }
        let manifest = store.manifest(&name).await?;
        let serial = self.inner.serial.fetch_add(1, Ordering::Relaxed) + 1;
        let loaded = Arc::new(LoadedVersion::new(manifest, serial));
        self.inner.version.store(Some(Arc::clone(&loaded)));
        self.inner.tiles.clear();
        // Hierarchies are tens of MB for a city: read them now rather than in a request.
        let tiles = self.inner.tiles.clone();
        tokio::task::spawn_blocking(move || tiles.preload_contracted(&loaded));
        if let Some(routes) = &self.inner.routes {
            routes.clear();
        }
        tracing::info!(version = name, "routing on tile version");
        Ok(true)
    }

    /// Polls the tile store for new publications, runs the traffic updater, refreshes the
    /// live speeds and keeps the location history's partitions and retention.
    pub fn spawn_background(&self) {
        tokio::spawn(crate::traffic::updater::run(self.clone()));
        let refresher = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = refresher.refresh_traffic().await {
                    tracing::warn!(error = %err, "refreshing live traffic");
                }
                if let Err(err) = refresher.inner.traffic.stream().maintain().await {
                    tracing::warn!(error = %err, "maintaining the location stream");
                }
                tokio::time::sleep(crate::traffic::REFRESH).await;
            }
        });
        let keeper = self.clone();
        tokio::spawn(async move {
            loop {
                keeper.keep_history().await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        });
        let poller = self.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(poller.inner.config.tiles_poll_interval_s.max(1));
            loop {
                tokio::time::sleep(every).await;
                if let Err(err) = poller.refresh_tiles().await {
                    tracing::warn!(error = %err, "checking for a new tile version");
                }
                if let Err(err) = poller.inner.map.refresh().await {
                    tracing::warn!(error = %err, "checking for a new map version");
                }
            }
        });
    }

    /// Recomputes live traffic from the shared state and publishes it to this instance's
    /// readers.
    pub async fn refresh_traffic(&self) -> anyhow::Result<()> {
        let Some(version) = self.current_version() else {
            return Ok(());
        };
        let traffic = &self.inner.traffic;
        let speeds = traffic
            .store()
            .snapshot(&version.name, crate::traffic::now_s())
            .await?;
        let state = self.clone();
        let previous = self.inner.live_hierarchy.load_full();
        let before = traffic.view();
        let (view, hierarchy) = tokio::task::spawn_blocking(move || {
            let tiles = crate::tiles::RequestTiles::new(state.tile_cache(), &version);
            let segments = crate::traffic::segments::segments(&tiles, &speeds);
            let view = crate::traffic::LiveView { speeds, segments };
            let hierarchy = crate::traffic::customise(&tiles, &view, previous.as_deref());
            (view, hierarchy)
        })
        .await?;
        let changed = crate::traffic::changed_edges(&before.speeds, &view.speeds);
        traffic.publish(view);
        match hierarchy {
            crate::traffic::Customised::New(h) => {
                metrics::histogram!("traffic_customise_seconds").record(h.seconds);
                tracing::debug!(
                    seconds = h.seconds,
                    edges = h.edges,
                    "live hierarchy customised"
                );
                self.inner.live_hierarchy.store(Some(Arc::new(h)));
            }
            crate::traffic::Customised::Unchanged => {}
            crate::traffic::Customised::None => self.inner.live_hierarchy.store(None),
        }
        // Sessions are woken once the hierarchy they will plan on knows the new speeds.
        if !changed.is_empty() {
            let touched = self.inner.sessions.speeds_changed(&changed);
            metrics::counter!("nav_sessions_examined_total").increment(touched.examined as u64);
            metrics::gauge!("nav_sessions_open").set(touched.open as f64);
            tracing::debug!(
                changed = changed.len(),
                examined = touched.examined,
                open = touched.open,
                "live speeds changed"
            );
        }
        Ok(())
    }

    /// The speeds a trip leaving at `departure` meets.
    pub async fn traffic_speeds(&self, departure: Departure) -> crate::traffic::eta::TrafficSpeeds {
        let traffic = &self.inner.traffic;
        let now = crate::traffic::now_s();
        let at = match departure {
            Departure::Now => now,
            Departure::At(t) => t as f64,
        };
        if at - now <= crate::traffic::eta::LIVE_HORIZON_S {
            return crate::traffic::eta::TrafficSpeeds::Live(traffic.view());
        }
        let version = self
            .current_version()
            .map(|v| v.name.clone())
            .unwrap_or_default();
        match traffic.profile_at(&version, at).await {
            Ok(profile) => crate::traffic::eta::TrafficSpeeds::Typical(profile),
            Err(err) => {
                tracing::warn!(error = %err, "reading the traffic profile; free flow assumed");
                crate::traffic::eta::TrafficSpeeds::FreeFlow
            }
        }
    }

    /// Creates tomorrow's history partition and removes what is past retention.
    async fn keep_history(&self) {
        let history = self.inner.traffic.history();
        let now = crate::traffic::now_ms();
        if let Err(err) = history.prepare(now).await {
            tracing::warn!(error = %err, "creating location history partitions");
        }
        let days = self.inner.config.traffic_history_retention_days;
        if days.is_finite() && days > 0.0 {
            match history.sweep(days, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "location history past retention"),
                Err(err) => tracing::warn!(error = %err, "location history retention"),
            }
        }
    }

    pub fn readiness(&self) -> Readiness {
        let mut readiness = self.inner.backends.readiness();
        let state = self.clone();
        readiness.add(
            "routing_tiles",
            Arc::new(move || {
                let version = state.current_version();
                let url = state.inner.tiles.store().url().to_string();
                Box::pin(async move {
                    match version {
                        Some(_) => CheckStatus::Ok,
                        None => CheckStatus::Down {
                            detail: format!(
                                "no tile version is published in {url}; run `geostack import roads <file>`"
                            ),
                        },
                    }
                })
            }),
        );
        readiness
    }

    fn not_ready(&self) -> Error {
        Error::NotReady(format!(
            "no routing tiles are published in {} yet",
            self.inner.tiles.store().url()
        ))
    }

    /// Plans through `stops` on the current version. Blocks on tile loads: call it from a
    /// blocking thread (or see [`NavState::plan`]).
    pub fn plan_blocking(
        &self,
        stops: &[LatLon],
        options: &PlanOptions,
    ) -> Result<(Plan, PlanMetrics)> {
        self.plan_on(stops, options, false)
    }

    /// Like [`NavState::plan_blocking`]; `live` plans plain driving queries on the hierarchy
    /// customised for live traffic, when there is one for the current version.
    pub fn plan_on(
        &self,
        stops: &[LatLon],
        options: &PlanOptions,
        live: bool,
    ) -> Result<(Plan, PlanMetrics)> {
        let version = self.current_version().ok_or_else(|| self.not_ready())?;
        let mut tiles = RequestTiles::new(&self.inner.tiles, &version);
        if live
            && let Some(h) = self.inner.live_hierarchy.load_full()
            && h.version == version.name
        {
            tiles = tiles.with_hierarchy(Arc::clone(&h.contracted));
        }
        let planned = plan(&tiles, stops, options, &self.inner.settings);
        let metrics = |p: &Plan| PlanMetrics {
            settled: p.stats.settled,
            tiles_used: tiles.tiles_used(),
            fallbacks: p.stats.fallbacks,
        };
        match planned {
            Ok(p) => {
                let m = metrics(&p);
                Ok((p, m))
            }
            Err(PlanError::Storage(detail)) => Err(Error::Unavailable {
                dependency: "tile storage",
                detail,
            }),
            Err(e @ PlanError::TooCostly { .. }) => Err(Error::TooCostly(e.to_string())),
            Err(e) => Err(Error::ZeroResults(e.to_string())),
        }
    }

    /// [`NavState::plan_blocking`] on a blocking thread, once a turn is free.
    pub async fn plan(
        &self,
        stops: Vec<LatLon>,
        options: PlanOptions,
    ) -> Result<(Plan, PlanMetrics)> {
        self.plan_live(stops, options, false).await
    }

    /// [`NavState::plan_on`] on a blocking thread, once a turn is free.
    pub async fn plan_live(
        &self,
        stops: Vec<LatLon>,
        options: PlanOptions,
        live: bool,
    ) -> Result<(Plan, PlanMetrics)> {
        let turn = Arc::clone(&self.inner.planners)
            .acquire_owned()
            .await
            .map_err(|e| Error::Unavailable {
                dependency: "planner",
                detail: e.to_string(),
            })?;
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the search ends, even if the request was given up meanwhile.
            let _turn = turn;
            state.plan_on(&stops, &options, live)
        })
        .await
        .map_err(|e| Error::Unavailable {
            dependency: "planner",
            detail: e.to_string(),
        })?
    }

    fn cache_key(&self, request: &NavRequest) -> Option<String> {
        let version = self.current_version()?;
        let mut key = format!(
            "{}|{}|{:?}|{}|{}",
            version.name,
            request.options.mode,
            request.options.avoid,
            request.options.alternatives,
            request.options.exact
        );
        for stop in &request.stops {
            match stop {
                Stop::Point(p) => key.push_str(&format!("|{:.6},{:.6}", p.lat, p.lon)),
                Stop::Text(t) => key.push_str(&format!("|t:{}", geocode::normalize(t))),
            }
        }
        Some(key)
    }

    /// Directions for a request as the JSON body to send: geocodes text stops, plans, and
    /// shapes the answer. A place that geocodes to nothing (`NOT_FOUND`) and a plan with no
    /// route (`ZERO_RESULTS`) are answers in Google's shape, not errors. Answers for the
    /// same request on the same version come from the route cache.
    pub async fn directions(&self, request: NavRequest) -> Result<Bytes> {
        let key = self.cache_key(&request).ok_or_else(|| self.not_ready())?;
        // Answers with traffic change by the second: never cached.
        let in_traffic = request.departure.is_some() && request.options.mode == Mode::Driving;
        if !in_traffic
            && let Some(routes) = &self.inner.routes
            && let Some(hit) = routes.get(&key)
        {
            metrics::counter!("nav_route_cache_hits_total").increment(1);
            return Ok(hit);
        }
        let mut resolved = Vec::with_capacity(request.stops.len());
        for stop in &request.stops {
            match self.resolve(stop).await {
                Ok(stop) => resolved.push(stop),
                // Not cached: the geocoding table can be reloaded under the same tile
                // version, and the place may exist then.
                Err(Error::NotFound(message)) => {
                    let failed = DirectionsResponse::failed("NOT_FOUND", message);
                    return Ok(Bytes::from(encode(&failed)?));
                }
                Err(e) => return Err(e),
            }
        }
        let points: Vec<LatLon> = resolved.iter().map(|s| s.point).collect();
        let live = in_traffic && request.departure == Some(Departure::Now);
        let response = match self.plan_live(points, request.options, live).await {
            Ok((plan, _)) => {
                let mut warnings = Vec::new();
                if request.options.mode == Mode::Walking {
                    warnings.push("Walking directions are in beta. Use caution – this route may be missing sidewalks or pedestrian paths.".to_string());
                }
                let mut response = directions_response(
                    &plan,
                    &resolved,
                    travel_mode(request.options.mode),
                    &warnings,
                );
                let issued_s = crate::traffic::now_s() as u64;
                for (i, route) in response.routes.iter_mut().enumerate() {
                    let ticket = crate::session::ticket::Ticket {
                        stops: resolved.iter().map(|s| s.point).collect(),
                        mode: request.options.mode,
                        avoid: request.options.avoid,
                        alternative: i as u8,
                        issued_s,
                    };
                    route.route_id = Some(ticket.encode());
                }
                if in_traffic && let Some(departure) = request.departure {
                    let speeds = self.traffic_speeds(departure).await;
                    crate::traffic::eta::set_durations_in_traffic(&mut response, &plan, &speeds);
                }
                response
            }
            Err(Error::ZeroResults(message)) => DirectionsResponse::failed("ZERO_RESULTS", message),
            Err(e) => return Err(e),
        };
        let mut json = encode(&response)?;
        // The cache weighs the body by its length: give back the spare capacity it would
        // otherwise hold unseen.
        json.shrink_to_fit();
        let body = Bytes::from(json);
        if !in_traffic && let Some(routes) = &self.inner.routes {
            routes.insert(key, body.clone());
            metrics::gauge!("nav_route_cache_bytes").set(routes.held_bytes() as f64);
        }
        Ok(body)
    }

    pub async fn resolve(&self, stop: &Stop) -> Result<ResolvedStop> {
        match stop {
            Stop::Point(p) => Ok(ResolvedStop {
                point: *p,
                address: format!("{:.6},{:.6}", p.lat, p.lon),
                place_id: None,
                types: Vec::new(),
            }),
            Stop::Text(text) => {
                let found = geocode::forward(&self.inner.backends.db, text, None, 1).await?;
                let hit = found
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::NotFound(format!("no place matches {text:?}")))?;
                Ok(ResolvedStop {
                    // Stored places hold coordinates range-checked on import.
                    point: LatLon::clamped(hit.lat, hit.lng),
                    address: hit.formatted_address,
                    place_id: Some(hit.place_id),
                    types: hit.types,
                })
            }
        }
    }
}

fn encode(response: &DirectionsResponse) -> Result<Vec<u8>> {
    serde_json::to_vec(response).map_err(|e| Error::Unavailable {
        dependency: "response encoding",
        detail: e.to_string(),
    })
}

/// Google's `travel_mode` spelling.
pub fn travel_mode(mode: Mode) -> &'static str {
    match mode {
        Mode::Driving => "DRIVING",
        Mode::Walking => "WALKING",
        Mode::Cycling => "BICYCLING",
    }
}
