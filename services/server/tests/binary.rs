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
