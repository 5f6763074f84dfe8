//! Dependency outages, against throwaway servers this test starts and stops itself (never the
//! machine's shared ones): Redis down -> search answers from the database and `/readyz` says
//! degraded; PostgreSQL down -> writes get 503 and nothing acknowledged is lost.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proximity::SearchEngine;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, Options, RedisServer, assert_problem, free_port, spawn_app_with};

/// A throwaway PostgreSQL cluster (initdb + pg_ctl), run as the `postgres` user when we are
/// root because PostgreSQL refuses to run as root.
struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres_user: bool,
}

impl PostgresServer {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn start_new() -> PostgresServer {
        let bin = std::env::var("GEO_TEST_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .map(|d| {
                        d.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                            .collect()
                    })
                    .unwrap_or_default();
                versions.sort();
                versions
                    .pop()
                    .expect("PostgreSQL binaries not found; run ./scripts/test.sh")
            });
        let as_postgres_user = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let dir = tempfile::tempdir().unwrap();
        if as_postgres_user {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let server = PostgresServer {
            bin,
            dir,
            port: free_port(),
            as_postgres_user,
        };
        let status = server
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(server.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        server.start();
        server
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let status = self
            .command("pg_ctl")
            .args(["-w", "-D"])
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start failed");
    }

    fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.data())
            .arg("stop")
            .stdout(Stdio::null())
            .status();
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_search_answers_from_the_database() {
    let mut redis = RedisServer::start(free_port());
    let app = spawn_app_with(
        Backend::Postgres,
        Options {
            engine: SearchEngine::Geohash,
            redis_url: Some(redis.url()),
            ..Options::default()
        },
    )
    .await;
    let owner = app.token(3);
    for i in 0..20 {
        let body = json!({"name": format!("shop {i}"), "category": "shop",
                          "latitude": 48.0 + i as f64 * 1e-4, "longitude": 11.0});
        assert_eq!(
            app.send(Method::POST, "/v1/businesses", Some(&owner), Some(&body))
                .await
                .status,
            201
        );
    }
    app.publish().await;
    let search = "/v1/search/nearby?latitude=48.0&longitude=11.0&radius=2000";
    let warm = app.get(search).await;
    assert_eq!(warm.body["total"], 20);
    assert_eq!(
        app.get("/readyz").await.body["checks"]["cache"]["status"],
        "ok"
    );

    redis.stop();
    let cold = app.get(search).await;
    assert_eq!(cold.status, 200, "{:?}", cold.body);
    assert_eq!(
        cold.body, warm.body,
        "answers from the database are the same"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(
        ready.status, 200,
        "a cache outage degrades, it does not stop the service"
    );
    assert_eq!(ready.body["status"], "degraded");
    assert_eq!(ready.body["checks"]["cache"]["status"], "degraded");
    // Writes and publication work without the cache.
    let body = json!({"name": "late", "category": "shop", "latitude": 48.0, "longitude": 11.001});
    assert_eq!(
        app.send(Method::POST, "/v1/businesses", Some(&owner), Some(&body))
            .await
            .status,
        201
    );
    app.publish().await;
    assert_eq!(app.get(search).await.body["total"], 21);

    // Back up on the same port: the cache is used again.
    let _redis = RedisServer::start(redis.port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = app.get("/readyz").await;
        if ready.body["checks"]["cache"]["status"] == "ok" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cache did not recover: {:?}",
            ready.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get(search).await.body["total"], 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_writes_get_503_and_nothing_acknowledged_is_lost() {
    let postgres = tokio::task::spawn_blocking(PostgresServer::start_new)
        .await
        .unwrap();
    let app = spawn_app_with(
        Backend::Postgres,
        Options {
            database_url: Some(postgres.url()),
            ..Options::default()
        },
    )
    .await;
    let owner = app.token(4);
    let acked =
        json!({"name": "acknowledged", "category": "cafe", "latitude": 52.5, "longitude": 13.4});
    let created = app
        .send(Method::POST, "/v1/businesses", Some(&owner), Some(&acked))
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_i64().unwrap();
    app.publish().await;

    postgres.stop();
    let lost =
        json!({"name": "during outage", "category": "cafe", "latitude": 52.5, "longitude": 13.4});
    let post = app
        .send(Method::POST, "/v1/businesses", Some(&owner), Some(&lost))
        .await;
    assert_problem(&post, 503, "POST during outage");
    assert!(post.headers.contains_key("retry-after"));
    let put = app
        .send(
            Method::PUT,
            &format!("/v1/businesses/{id}"),
            Some(&owner),
            Some(&lost),
        )
        .await;
    assert_problem(&put, 503, "PUT during outage");
    assert_problem(
        &app.get(&format!("/v1/businesses/{id}")).await,
        503,
        "GET during outage",
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["checks"]["database"]["status"], "down");
    // Search serves the published in-memory index meanwhile.
    let search = app
        .get("/v1/search/nearby?latitude=52.5&longitude=13.4&radius=100")
        .await;
    assert_eq!(search.status, 200);
    assert_eq!(search.body["total"], 1);

    let postgres = tokio::task::spawn_blocking(move || {
        postgres.start();
        postgres
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = app.get(&format!("/v1/businesses/{id}")).await;
        if reply.status == 200 {
            assert_eq!(reply.body["name"], "acknowledged");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "database did not come back: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.count_businesses().await,
        1,
        "the refused write was not stored"
    );
    assert_eq!(app.get("/readyz").await.status, 200);
    drop(postgres);
}
