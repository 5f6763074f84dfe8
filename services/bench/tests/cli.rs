//! The `geostack-bench` binary as an operator runs it: its benchmarks are listed, and the
//! hidden `geostack` subcommand (how it starts the server as a child) is the product's CLI.

use std::process::Command;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_geostack-bench"))
}

#[test]
fn help_lists_every_benchmark() {
    let output = bench()
        .arg("--help")
        .output()
        .expect("run geostack-bench --help");
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    for name in ["nearby", "import", "route", "friends"] {
        assert!(help.contains(name), "{name} missing from:\n{help}");
    }
    assert!(
        !help.contains("friends-client"),
        "hidden commands are listed:\n{help}"
    );
}

#[test]
fn the_geostack_subcommand_runs_the_product_cli() {
    let output = bench()
        .args(["geostack", "token", "--sub", "5"])
        .env("JWT_SECRET", "bench-cli-test-secret")
        .env_remove("DATA_DIR")
        .output()
        .expect("run geostack-bench geostack token");
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).expect("utf-8");
    let caller = kit::auth::Auth::from_secret(b"bench-cli-test-secret")
        .verify(token.trim())
        .expect("the token verifies");
    assert_eq!((caller.user_id, caller.admin), (5, false));
}

#[test]
fn bad_options_fail_with_usage() {
    let output = bench()
        .args(["route", "--pairs", "many"])
        .output()
        .expect("run geostack-bench route");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--pairs"),
        "{output:?}"
    );
}
