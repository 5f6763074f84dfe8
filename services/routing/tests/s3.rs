//! The S3 path against a real S3-compatible server (moto, from PyPI), started here on a free
//! port. Runs with `--features s3`; `scripts/test.sh` installs moto and enables the feature.
#![cfg(feature = "s3")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use routing::TileStore;

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let port = testkit::free_port();
    let program = std::env::var("GEO_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program} (pip install 'moto[server]'): {e}"));
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// Creates a bucket with a plain HTTP PUT (moto does not check signatures).
fn create_bucket(port: u16, bucket: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_on_s3() {
    let moto = start_moto();
    create_bucket(moto.port, "tiles");
    let options = |endpoint: String| {
        vec![
            ("aws_endpoint".to_string(), endpoint),
            ("aws_allow_http".to_string(), "true".to_string()),
            ("aws_access_key_id".to_string(), "test".to_string()),
            ("aws_secret_access_key".to_string(), "test".to_string()),
            ("aws_region".to_string(), "us-east-1".to_string()),
        ]
    };
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let store =
        TileStore::open_with_options("s3://tiles/routing/eu", options(endpoint.clone())).unwrap();
    support::exercise(&store).await;

    // Everything lives under the prefix; nothing else in the bucket.
    let other = TileStore::open_with_options("s3://tiles/other", options(endpoint)).unwrap();
    assert_eq!(other.current().await.unwrap(), None);
    assert!(other.versions().await.unwrap().is_empty());
}
