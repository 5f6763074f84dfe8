//! The etcd client against a real etcd this test starts (and restarts) itself on free ports:
//! `GEO_TEST_ETCD`, else `etcd` on PATH (./scripts/test.sh installs and exports it).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use friends::discovery::{Etcd, parse_ring};
use tokio::sync::watch;

const KEY: &str = "/config/pub_sub_ring";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One etcd process; killed on drop. Its data directory belongs to the test, so a new process
/// can take over the same data (a restart).
struct EtcdServer {
    child: Child,
    log: PathBuf,
}

impl EtcdServer {
    /// Starts etcd on `dir/data`, logging to `dir/<name>.log`, and waits until it answers.
    async fn start(dir: &Path, name: &str, client_port: u16, peer_port: u16) -> EtcdServer {
        let binary = std::env::var("GEO_TEST_ETCD").unwrap_or_else(|_| "etcd".into());
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(&binary);
        command
            .arg("--name=default")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        // etcd also takes its flags from ETCD_* variables and refuses to start when one
        // duplicates a flag given here.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(name);
            }
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary} ({e}); run ./scripts/test.sh"));
        let mut server = EtcdServer { child, log };

        let etcd = Etcd::new(&client).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Err(error) = etcd.get("/ready").await {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("etcd exited ({status}):\n{}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not answer on {client} ({error:#}):\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits for the receiver to hold `expected`.
async fn expect(rx: &mut watch::Receiver<Option<Vec<u8>>>, expected: &[u8], within: Duration) {
    let seen = tokio::time::timeout(
        within,
        rx.wait_for(|value| value.as_deref() == Some(expected)),
    )
    .await
    .is_ok_and(|waited| waited.is_ok());
    assert!(
        seen,
        "watcher did not see {:?} within {within:?}; it holds {:?}",
        String::from_utf8_lossy(expected),
        rx.borrow().as_deref().map(String::from_utf8_lossy)
    );
}

#[tokio::test]
async fn get_put_and_watch_across_an_etcd_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (client_port, peer_port) = (free_port(), free_port());
    let mut server = EtcdServer::start(dir.path(), "first", client_port, peer_port).await;
    let etcd = Etcd::new(&format!("http://127.0.0.1:{client_port}")).unwrap();

    assert_eq!(etcd.get(KEY).await.unwrap(), None);
    let first = br#"["redis://127.0.0.1:7001"]"#;
    etcd.put(KEY, first).await.unwrap();
    assert_eq!(etcd.get(KEY).await.unwrap().as_deref(), Some(&first[..]));

    let mut rx = etcd.watch(KEY);
    expect(&mut rx, first, Duration::from_secs(2)).await;
    let second = br#"["redis://127.0.0.1:7001","redis://127.0.0.1:7002"]"#;
    etcd.put(KEY, second).await.unwrap();
    expect(&mut rx, second, Duration::from_secs(2)).await;
    let ring = parse_ring(rx.borrow().as_deref().unwrap()).unwrap();
    assert_eq!(ring, ["redis://127.0.0.1:7001", "redis://127.0.0.1:7002"]);
    let third = br#"["redis://127.0.0.1:7002"]"#;
    etcd.put(KEY, third).await.unwrap();
    expect(&mut rx, third, Duration::from_secs(2)).await;

    // A new process on the same port and data: the watcher must find it on its own.
    server.kill();
    assert!(
        etcd.get(KEY).await.is_err(),
        "etcd still answers after kill"
    );
    let _server = EtcdServer::start(dir.path(), "restarted", client_port, peer_port).await;
    assert_eq!(etcd.get(KEY).await.unwrap().as_deref(), Some(&third[..]));
    let fourth = br#"["redis://127.0.0.1:7003"]"#;
    etcd.put(KEY, fourth).await.unwrap();
    expect(&mut rx, fourth, Duration::from_secs(5)).await;
}
