//! The Redis pub/sub ring with membership in etcd, against real servers this test starts on
//! free ports: three redis-server processes and an etcd. Two service processes share them.
//! One Redis server is killed and replaced in etcd by a fresh one: deliveries for its
//! channels resume within 5 s with no WebSocket reconnect, and the others never stop.

use std::time::{Duration, Instant};

use friends::discovery::Etcd;
use friends::ring::Ring;
use serde_json::Value;

use crate::friends::{HELSINKI, WsClient, befriend, create_user, friends_with, north_of};
use crate::helpers::{Backend, EtcdServer, Options, RedisServer, free_port, spawn_app_with};

const PAIRS: usize = 24;
const VNODES: u32 = 160;

/// Sends one update per sender and returns, per pair, whether its receiver got exactly that
/// update within `wait`.
async fn round(
    senders: &mut [WsClient],
    receivers: &mut [WsClient],
    step: usize,
    wait: Duration,
) -> Vec<bool> {
    // Past the (test) rate limit since the previous update.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut sent = Vec::new();
    for (i, sender) in senders.iter_mut().enumerate() {
        let at = north_of(HELSINKI, 100.0 + (step * PAIRS + i) as f64 * 0.5);
        sender.move_to(at).await;
        sent.push(at);
    }
    let mut got = Vec::new();
    for (i, receiver) in receivers.iter_mut().enumerate() {
        let mut ok = false;
        // Frames of earlier rounds (late deliveries) are skipped; only this round's counts.
        while let Some(frame) = receiver.recv_within(wait).await {
            if frame["type"] == "friend_location"
                && (frame["latitude"].as_f64().unwrap() - sent[i].0).abs() < 1e-9
            {
                ok = true;
                break;
            }
        }
        got.push(ok);
    }
    // Senders whose channel owner is down get 503 error frames: read them off.
    for sender in senders.iter_mut() {
        while let Some(frame) = sender.recv_within(Duration::from_millis(1)).await {
            assert_eq!(frame["type"], "error", "{frame}");
            assert_eq!(frame["code"], "dependency-unavailable", "{frame}");
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_dead_ring_server_moves_only_its_channels_without_reconnects() {
    let etcd_dir = tempfile::tempdir().unwrap();
    let etcd_port = free_port();
    let _etcd = EtcdServer::start(etcd_dir.path(), "etcd", etcd_port, free_port()).await;
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let mut redis: Vec<RedisServer> = (0..3).map(|_| RedisServer::start(free_port())).collect();
    let urls: Vec<String> = redis.iter().map(|r| r.url()).collect();
    let key = format!("/test/{}/pub_sub_ring", rand::random::<u32>());
    Etcd::new(&etcd_url)
        .unwrap()
        .put(&key, serde_json::to_string(&urls).unwrap().as_bytes())
        .await
        .unwrap();

    let prefix = format!("ring{}", rand::random::<u32>());
    let database =
        crate::helpers::fresh_postgres_database(&crate::helpers::test_database_url()).await;
    let options = Options {
        database_url: Some(database),
        cache_prefix: Some(prefix.clone()),
        ..friends_with(friends::FriendsConfig {
            location_min_interval_ms: 20,
            pubsub_etcd_url: Some(etcd_url.clone()),
            pubsub_ring_key: key.clone(),
            pubsub_ring_vnodes: VNODES,
            ..friends::FriendsConfig::default()
        })
    };
    let one = spawn_app_with(Backend::Postgres, options.clone()).await;
    let two = spawn_app_with(Backend::Postgres, options).await;

    // Senders on process one, their friends on process two.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for i in 0..PAIRS {
        let s = create_user(&one, &format!("sender {i}")).await;
        let r = create_user(&one, &format!("receiver {i}")).await;
        befriend(&one, s, r).await;
        let mut receiver = WsClient::connect(&two, r).await;
        receiver.init(HELSINKI).await;
        receivers.push(receiver);
        senders.push(WsClient::connect(&one, s).await);
    }
    for (sender, receiver) in senders.iter_mut().zip(receivers.iter_mut()) {
        sender.init(north_of(HELSINKI, 50.0)).await;
        let first: Value = receiver.recv().await;
        assert_eq!(first["type"], "friend_location", "{first}");
    }
    let ring = Ring::new(&urls, VNODES);
    let owner_of = |client: &WsClient| {
        ring.owner(&friends::pubsub::user_channel(&prefix, client.user_id))
            .unwrap()
            .to_string()
    };
    let victim_url = urls[1].clone();
    let victims: Vec<bool> = senders.iter().map(|s| owner_of(s) == victim_url).collect();
    let victim_count = victims.iter().filter(|&&v| v).count();
    assert!(
        (1..PAIRS).contains(&victim_count),
        "the channels should spread over the servers: {victim_count} of {PAIRS} on one"
    );
    let wait = Duration::from_millis(500);
    let got = round(&mut senders, &mut receivers, 0, wait).await;
    assert!(got.iter().all(|&ok| ok), "before the outage: {got:?}");

    // Kill one server: its channels go quiet, the others carry on.
    redis[1].stop();
    let mut step = 1;
    for _ in 0..3 {
        let got = round(
            &mut senders,
            &mut receivers,
            step,
            Duration::from_millis(300),
        )
        .await;
        for i in 0..PAIRS {
            assert_eq!(
                got[i], !victims[i],
                "pair {i} (victim: {}) during the outage",
                victims[i]
            );
        }
        step += 1;
    }

    // Replace it in etcd with a fresh server.
    let fresh = RedisServer::start(free_port());
    let mut replaced = urls.clone();
    replaced[1] = fresh.url();
    let changed_at = Instant::now();
    Etcd::new(&etcd_url)
        .unwrap()
        .put(&key, serde_json::to_string(&replaced).unwrap().as_bytes())
        .await
        .unwrap();
    let mut resumed: Vec<Option<Duration>> = vec![None; PAIRS];
    while resumed.iter().zip(&victims).any(|(r, &v)| v && r.is_none()) {
        assert!(
            changed_at.elapsed() < Duration::from_secs(5),
            "victim channels not resumed within 5 s: {resumed:?}"
        );
        let got = round(
            &mut senders,
            &mut receivers,
            step,
            Duration::from_millis(250),
        )
        .await;
        step += 1;
        for i in 0..PAIRS {
            if victims[i] {
                if got[i] && resumed[i].is_none() {
                    resumed[i] = Some(changed_at.elapsed());
                }
            } else {
                assert!(
                    got[i],
                    "pair {i} was not on the replaced server and must never stop"
                );
            }
        }
    }
    // Every channel works on the new ring, through the same WebSockets.
    let got = round(&mut senders, &mut receivers, step, wait).await;
    assert!(got.iter().all(|&ok| ok), "{got:?}");
    eprintln!(
        "ring: {victim_count} of {PAIRS} channels moved; resumed after {:?}",
        resumed.iter().flatten().max()
    );
    drop(fresh);
}
