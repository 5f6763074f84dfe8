//! The real `geostack` executable, as an operator runs it (the end-to-end tests drive the
//! library in process). Building this test also builds the server's binaries into
//! `target/debug/`, where `scripts/schemathesis.sh` starts one.

use std::process::Command;

fn geostack() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_geostack"));
    command.env_remove("JWT_SECRET").env_remove("DATA_DIR");
    command
}

#[test]
fn token_prints_a_jwt_that_the_secret_verifies() {
    let output = geostack()
        .args(["token", "--sub", "42", "--admin"])
        .env("JWT_SECRET", "binary-test-secret")
        .output()
        .expect("run geostack token");
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).expect("utf-8");
    let caller = kit::auth::Auth::from_secret(b"binary-test-secret")
        .verify(token.trim())
        .expect("the token verifies");
    assert_eq!((caller.user_id, caller.admin), (42, true));
    assert!(
        kit::auth::Auth::from_secret(b"another secret")
            .verify(token.trim())
            .is_err()
    );
}

#[test]
fn token_without_a_secret_uses_the_one_generated_under_data_dir() {
    let dir = std::env::temp_dir().join(format!("geostack-binary-test-{}", std::process::id()));
    let mint = || {
        let output = geostack()
            .args(["token", "--sub", "7"])
            .env("DATA_DIR", &dir)
            .output()
            .expect("run geostack token");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let (first, second) = (mint(), mint());
    let auth = kit::auth::Auth::load(None, &dir).expect("the generated secret");
    let _ = std::fs::remove_dir_all(&dir);
    for token in [first, second] {
        let caller = auth.verify(token.trim()).expect("the token verifies");
        assert_eq!((caller.user_id, caller.admin), (7, false));
    }
}

#[test]
fn bad_arguments_fail_with_usage() {
    let output = geostack()
        .args(["token", "--sub", "not-a-number"])
        .output()
        .expect("run geostack token");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--sub"),
        "{output:?}"
    );
}

/// `geostack bench ...` hands its arguments, unchanged, to the `geostack-bench` binary next
/// to it, and without one says how to build it.
#[test]
fn bench_hands_over_to_the_benchmark_binary_next_to_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = dir.path().join("geostack");
    std::fs::copy(env!("CARGO_BIN_EXE_geostack"), &exe).expect("copy geostack");

    let alone = Command::new(&exe)
        .args(["bench", "route", "--pairs", "10"])
        .output()
        .expect("run geostack bench");
    assert!(!alone.status.success());
    assert!(
        String::from_utf8_lossy(&alone.stderr).contains("cargo run --release -p geostack-bench --"),
        "{alone:?}"
    );

    // A stand-in that shows what it was given: the hand-over itself is under test here;
    // the real binary's commands are tested in the geostack-bench crate.
    let bench = dir.path().join("geostack-bench");
    std::fs::write(&bench, "#!/bin/sh\necho \"args: $*\"\nexit 3\n").expect("write stand-in");
    std::fs::set_permissions(&bench, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let handed = Command::new(&exe)
        .args(["bench", "route", "--pairs", "10", "--skip-pgrouting"])
        .output()
        .expect("run geostack bench");
    assert_eq!(handed.status.code(), Some(3), "{handed:?}");
    assert_eq!(
        String::from_utf8_lossy(&handed.stdout),
        "args: route --pairs 10 --skip-pgrouting\n"
    );
}

/// Settings with a fixed vocabulary are checked at start-up, naming the allowed values.
#[test]
fn log_format_and_cors_origins_are_checked() {
    let output = geostack()
        .args(["serve", "--log-format", "xml"])
        .output()
        .expect("run geostack serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("text") && stderr.contains("json"),
        "{stderr}"
    );

    let output = geostack()
        .arg("serve")
        .env("CORS_ALLOWED_ORIGINS", "app.example.com")
        .output()
        .expect("run geostack serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CORS_ALLOWED_ORIGINS"), "{stderr}");
}

fn sample() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/helsinki.osm.pbf")
}

#[test]
fn import_map_publishes_tiles_and_refuses_bad_options() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tiles = dir.path().join("tiles");
    let output = geostack()
        .args(["import", "map"])
        .arg(sample())
        .arg("--tiles")
        .arg(&tiles)
        .arg("--json")
        .env("DATA_DIR", dir.path())
        .output()
        .expect("run geostack import map");
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        summary["tiles"]["tiles"].as_u64().unwrap() >= 15,
        "{summary}"
    );
    assert!(summary["tiles"]["largest_bytes"].as_u64().unwrap() <= 500 * 1024);
    assert_eq!(summary["max_zoom"], 14);
    let version = summary["version"].as_str().unwrap();
    let current = std::fs::read_to_string(tiles.join("map/CURRENT")).expect("published");
    assert!(current.contains(version), "{current}");
    assert!(
        tiles
            .join(format!("map/versions/{version}.pmtiles"))
            .exists()
    );

    for (args, message) in [
        (
            vec!["--min-zoom", "10", "--max-zoom", "5"],
            "deeper than --max-zoom",
        ),
        (vec!["--max-zoom", "15"], "15"),
    ] {
        let output = geostack()
            .args(["import", "map"])
            .arg(sample())
            .arg("--tiles")
            .arg(&tiles)
            .args(&args)
            .env("DATA_DIR", dir.path())
            .output()
            .expect("run geostack import map");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let missing = geostack()
        .args(["import", "map", "/nonexistent.osm.pbf", "--tiles"])
        .arg(&tiles)
        .env("DATA_DIR", dir.path())
        .output()
        .expect("run geostack import map");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

#[test]
fn import_roads_builds_the_map_too_unless_told_not_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |extra: &[&str]| {
        let output = geostack()
            .args(["import", "roads"])
            .arg(sample())
            .args(["--contract", "none", "--no-geocode", "--json"])
            .args(extra)
            .env("DATA_DIR", dir.path())
            .output()
            .expect("run geostack import roads");
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("json")
    };
    assert!(run(&[])["map"]["tiles"]["tiles"].as_u64().unwrap() > 0);
    assert!(run(&["--no-map"]).get("map").is_none());
}

/// `demo` prints where to go and a token; signed in with it, a client sees the simulated
/// friends and then sees them move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_friends_walk_for_the_printed_token() {
    use futures::{SinkExt, StreamExt};
    use tokio::io::AsyncBufReadExt;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_geostack"))
        .args(["demo", "--friends", "2", "--step-s", "1.2"])
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("DATA_DIR", dir.path())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("SAMPLE_DATA", "off")
        .env("JWT_SECRET", "demo-test-secret")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start geostack demo");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Log lines may come first.
    let read = async {
        loop {
            let line = lines.next_line().await.unwrap().expect("a banner");
            if line.starts_with("demo: ") {
                let token = lines.next_line().await.unwrap().expect("a token");
                return (line, token);
            }
        }
    };
    let (banner, token) = tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("the demo starts within a minute");
    let address = banner
        .split("open http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the banner names the address")
        .to_string();
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{address}/v1/ws/friends?token={token}"))
            .await
            .expect("connect with the printed token");
    let init = serde_json::json!({"type": "init", "latitude": 60.1699, "longitude": 24.9384});
    socket.send(Message::text(init.to_string())).await.unwrap();
    let mut positions: std::collections::HashMap<i64, Vec<(f64, f64)>> = Default::default();
    let watch = async {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
            let seen: Vec<&serde_json::Value> = match frame["type"].as_str() {
                Some("nearby_friends") => frame["friends"].as_array().unwrap().iter().collect(),
                Some("friend_location") => vec![&frame],
                _ => continue,
            };
            for f in seen {
                positions
                    .entry(f["user_id"].as_i64().unwrap())
                    .or_default()
                    .push((
                        f["latitude"].as_f64().unwrap(),
                        f["longitude"].as_f64().unwrap(),
                    ));
            }
            let moved = positions
                .values()
                .filter(|p| p.windows(2).any(|w| w[0] != w[1]))
                .count();
            if positions.len() == 2 && moved == 2 {
                return;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), watch)
        .await
        .unwrap_or_else(|_| panic!("both friends seen moving: {positions:?}"));
    child.kill().await.ok();
}
