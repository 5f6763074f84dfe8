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
