//! `spawn_app`: a server on a random port with a fresh store, on either backend.
//!
//! Embedded: SQLite in a temp dir and the in-process cache. Postgres: a fresh database on
//! `GEO_TEST_DATABASE_URL` and a unique key prefix on `GEO_TEST_REDIS_URL` (both provided by
//! `scripts/test.sh`; the machine's default servers are tried otherwise). A missing server
//! fails the test: nothing is skipped silently.

use std::path::PathBuf;

use friends::FriendsConfig;
use geostack::app::{App, ServerConfig, Service};
use kit::config::CommonConfig;
use navigation::NavigationConfig;
use proximity::{ProximityConfig, SearchEngine};
use rand::Rng;
use serde_json::Value;
// The throwaway servers and databases live in the dev-only `testkit` crate, shared with the
// crates' own tests and the benchmarks.
pub use testkit::postgres::fresh_database as fresh_postgres_database;
pub use testkit::{EtcdServer, RedisServer, free_port, test_database_url, test_redis_url};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + in-process cache.
    Embedded,
    /// PostgreSQL + Redis.
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name, body_fn)` defines `name_embedded`
/// and `name_postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$body($crate::helpers::Backend::Embedded).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

/// Options for one spawned app.
#[derive(Clone, Debug)]
pub struct Options {
    pub engine: SearchEngine,
    pub sample_data: Option<PathBuf>,
    /// Overrides the backend's database URL (fault tests bring their own server).
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub index_poll_interval_s: u64,
    /// The services to mount (proximity alone by default).
    pub services: &'static [Service],
    /// Navigation settings; its `sample_data` defaults to none, like proximity's.
    pub navigation: Option<NavigationConfig>,
    /// Nearby-friends settings (defaults, with a 50 ms update interval so tests run fast).
    pub friends: Option<FriendsConfig>,
    /// Key and channel prefix; apps that must share Redis state pass the same one.
    pub cache_prefix: Option<String>,
    /// `SOCKET_SEND_BUFFER_BYTES`: a small one makes a client that stops reading block the
    /// server's writes at once (loopback autotuning grows it to megabytes).
    pub send_buffer_bytes: usize,
    /// `CORS_ALLOWED_ORIGINS` (off by default, as in production).
    pub cors_allowed_origins: kit::edge::CorsOrigins,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            engine: SearchEngine::Quadtree,
            sample_data: None,
            database_url: None,
            redis_url: None,
            index_poll_interval_s: 5,
            services: &[Service::Proximity],
            navigation: None,
            friends: None,
            cache_prefix: None,
            send_buffer_bytes: 0,
            cors_allowed_origins: kit::edge::CorsOrigins::Off,
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub backends: kit::Backends,
    pub admin_token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Options::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: Options) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        kit::telemetry::init_tracing(kit::config::LogFormat::Text);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut common = CommonConfig::embedded(dir.path().to_path_buf());
    common.jwt_secret = Some("test-secret".into());
    common.socket_send_buffer_bytes = options.send_buffer_bytes;
    common.cors_allowed_origins = options.cors_allowed_origins.clone();
    common.cache_prefix = options
        .cache_prefix
        .clone()
        .unwrap_or_else(|| format!("test{}", rand::rng().random::<u64>()));
    if backend == Backend::Postgres {
        common.database_url = Some(match &options.database_url {
            Some(url) => url.clone(),
            None => fresh_postgres_database(&test_database_url()).await,
        });
        common.redis_url = Some(options.redis_url.clone().unwrap_or_else(test_redis_url));
    }
    let proximity = ProximityConfig {
        search_engine: options.engine,
        sample_data: options.sample_data.clone().unwrap_or_default(),
        index_refresh_at: "off".into(),
        index_poll_interval_s: options.index_poll_interval_s,
        ..ProximityConfig::default()
    };
    let navigation = options
        .navigation
        .clone()
        .unwrap_or_else(|| NavigationConfig {
            sample_data: PathBuf::new(),
            ..NavigationConfig::default()
        });
    let friends = options.friends.clone().unwrap_or_else(|| FriendsConfig {
        location_min_interval_ms: 50,
        ..FriendsConfig::default()
    });
    let config = ServerConfig {
        common,
        proximity,
        friends,
        navigation,
    };
    let app = App::build(config, options.services)
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let backends = app.backends().clone();
    let admin_token = backends.auth.mint(1, true, 3600).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        backends,
        admin_token,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response's status and JSON body (Null when empty), plus its content type.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
}

impl TestApp {
    /// Sends the shutdown signal (as SIGTERM would) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the server has drained and stopped.
    pub async fn stopped(&mut self) {
        self.begin_shutdown();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn token(&self, user_id: i64) -> String {
        self.backends.auth.mint(user_id, false, 3600).unwrap()
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            body,
            content_type,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::reply(request.send().await.unwrap()).await
    }

    /// Publishes the index through the admin endpoint.
    pub async fn publish(&self) -> Value {
        let reply = self
            .send(
                reqwest::Method::POST,
                "/v1/admin/index/refresh",
                Some(&self.admin_token),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body
    }

    /// Number of live business rows.
    pub async fn count_businesses(&self) -> i64 {
        proximity::store::count_businesses(&self.backends.db)
            .await
            .unwrap()
    }
}

/// Asserts an RFC 9457 problem document with the status.
pub fn assert_problem(reply: &Reply, status: u16, context: &str) {
    assert_eq!(reply.status, status, "{context}: {:?}", reply.body);
    assert_eq!(
        reply.content_type, "application/problem+json",
        "{context}: content type"
    );
    assert_eq!(reply.body["status"], status, "{context}: {:?}", reply.body);
    assert!(
        reply.body["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{context}: type"
    );
    assert!(
        reply.body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{context}: detail"
    );
}
