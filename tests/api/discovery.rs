//! The etcd client against a real etcd this test starts (and restarts) itself on free ports:
//! `GEO_TEST_ETCD`, else `etcd` on PATH (./scripts/test.sh installs and exports it).

use std::time::Duration;

use friends::discovery::{Etcd, parse_ring};
use tokio::sync::watch;

use crate::helpers::{EtcdServer, free_port};

const KEY: &str = "/config/pub_sub_ring";

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
