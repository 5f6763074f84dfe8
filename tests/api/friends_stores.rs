//! The nearby-friends stores below the WebSocket, against real servers: the history
//! retention sweep on both SQL backends, the location cache sharded over two Redis
//! databases, and a Redis pub/sub server that is down when a channel is first wanted (its
//! subscription is retried, its publisher reports the outage and recovers) or one that
//! stops answering (publishes beyond the publisher's queue are refused as a backlog).

use std::time::Duration;

use friends::locations::{CachedLocation, LocationCache};
use friends::pubsub::{Event, Inbox, PubSub, PubSubError};
use friends::store::{self, HistoryPoint, HistoryRow};
use tokio::sync::mpsc;

use crate::helpers::{
    RedisServer, free_port, fresh_postgres_database, test_database_url, test_redis_url,
};

const DAY_MS: i64 = 86_400_000;

async fn retention_sweep_keeps_only_recent_fixes(db: kit::db::Db) {
    let now = store::now_ms();
    let user = store::create_user(&db, "walker").await.unwrap().id;
    let other = store::create_user(&db, "other").await.unwrap().id;
    let row = |user_id: i64, age_days: f64| HistoryRow {
        user_id,
        point: HistoryPoint {
            latitude: 60.17,
            longitude: 24.94,
            timestamp: (now as f64 / 1000.0) - age_days * 86_400.0,
        },
        received_ms: now - (age_days * DAY_MS as f64) as i64,
    };
    // 250 rows: more than one INSERT statement's worth.
    let mut rows: Vec<HistoryRow> = (0..200).map(|i| row(user, i as f64 * 0.25)).collect();
    rows.extend((0..50).map(|i| row(other, 29.0 + i as f64 * 0.05)));
    store::append_history(&db, &rows).await.unwrap();
    let expected_old = rows
        .iter()
        .filter(|r| r.received_ms < now - 30 * DAY_MS)
        .count() as u64;
    assert!(expected_old > 0 && expected_old < rows.len() as u64);

    let removed = store::sweep_history(&db, 30.0, now).await.unwrap();
    assert_eq!(removed, expected_old);
    for id in [user, other] {
        let left = store::history(&db, id, 0.0, f64::MAX, 1000).await.unwrap();
        let expected = rows
            .iter()
            .filter(|r| r.user_id == id && r.received_ms >= now - 30 * DAY_MS)
            .count();
        assert_eq!(left.len(), expected, "user {id}");
    }
    // A second sweep has nothing left to do.
    assert_eq!(store::sweep_history(&db, 30.0, now).await.unwrap(), 0);
}

#[tokio::test]
async fn history_retention_sweep_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = kit::db::Db::connect(None, dir.path()).await.unwrap();
    retention_sweep_keeps_only_recent_fixes(db).await;
}

#[tokio::test]
async fn history_retention_sweep_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_postgres_database(&test_database_url()).await;
    let db = kit::db::Db::connect(Some(&url), dir.path()).await.unwrap();
    retention_sweep_keeps_only_recent_fixes(db).await;
}

/// A location cache over two databases of the test Redis, with a fresh key prefix.
async fn sharded_cache(dbs: [u8; 2], name: &str) -> (LocationCache, [String; 2], String) {
    let base = test_redis_url().trim_end_matches('/').to_string();
    let shards = dbs.map(|db| format!("{base}/{db}"));
    let prefix = format!("{name}{}", rand::random::<u32>());
    let fallback = kit::cache::Cache::Local(kit::cache::LocalCache::new(10));
    let cache = LocationCache::connect(&shards, fallback, &prefix, Duration::from_secs(60))
        .await
        .unwrap();
    (cache, shards, prefix)
}

#[tokio::test]
async fn location_cache_shards_users_over_several_redis_servers() {
    let (cache, shards, prefix) = sharded_cache([13, 14], "shard").await;
    assert_eq!(cache.shard_count(), 2);
    assert_eq!(cache.backend_name(), "redis");

    let users: Vec<i64> = (1..=40).collect();
    for &user in &users {
        let fix = CachedLocation {
            latitude: 60.0 + user as f64 / 1000.0,
            longitude: 24.0,
            timestamp: 1.7e9 + user as f64,
            written_ms: store::now_ms(),
        };
        cache.set(user, fix).await.unwrap();
    }
    // Each user's fix is on exactly one server, and both servers hold some.
    let mut per_shard = [0usize; 2];
    for (i, url) in shards.iter().enumerate() {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:loc:*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        per_shard[i] = keys.len();
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap_or(());
    }
    assert_eq!(per_shard[0] + per_shard[1], users.len(), "{per_shard:?}");
    assert!(per_shard[0] > 0 && per_shard[1] > 0, "{per_shard:?}");
}

#[tokio::test]
async fn location_cache_reads_back_across_shards_in_request_order() {
    let (cache, _, _) = sharded_cache([11, 12], "order").await;
    for user in [3_i64, 8, 21, 34] {
        let fix = CachedLocation {
            latitude: user as f64,
            longitude: 0.0,
            timestamp: 1.0,
            written_ms: 7,
        };
        cache.set(user, fix).await.unwrap();
    }
    let got = cache.get_many(&[34, 5, 3, 21, 99, 8]).await.unwrap();
    let latitudes: Vec<Option<f64>> = got.iter().map(|l| l.map(|l| l.latitude)).collect();
    assert_eq!(
        latitudes,
        vec![Some(34.0), None, Some(3.0), Some(21.0), None, Some(8.0)]
    );
}

/// Receives the next event within `wait`.
async fn next_event(rx: &mut mpsc::Receiver<Event>, wait: Duration) -> Option<Event> {
    tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
}

/// User 1's `n`-th location, told apart by its latitude.
fn event(n: i64) -> Event {
    Event::Location {
        user_id: 1,
        latitude: n as f64,
        longitude: 0.0,
        timestamp: 1.0,
    }
}

/// The last event before `rx` stays quiet for a second.
async fn last_event(rx: &mut mpsc::Receiver<Event>) -> Option<Event> {
    let mut last = None;
    while let Some(got) = next_event(rx, Duration::from_millis(1000)).await {
        last = Some(got);
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_server_down_at_first_is_retried_and_its_publisher_recovers() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let pubsub = PubSub::redis(std::slice::from_ref(&url), 160).unwrap();
    let (tx, mut rx) = Inbox::new(1, 64);
    let channel = format!("retry{}:u:1", rand::random::<u32>());
    // Nothing listens yet: the subscription fails and is remembered for retrying.
    pubsub.subscribe(&channel, 1, &tx).await;
    // Publishes queue; once a pipeline has failed they report the server down.
    let mut saw_down = false;
    for n in 0..40 {
        match pubsub.publish(&channel, &event(n)) {
            Err(PubSubError::Down { server }) => {
                assert_eq!(server, url);
                saw_down = true;
                break;
            }
            Ok(()) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(other) => panic!("unexpected publish error: {other}"),
        }
    }
    assert!(saw_down, "publishes to a dead server must report it");
    assert!(
        next_event(&mut rx, Duration::from_millis(200))
            .await
            .is_none(),
        "nothing can arrive while the server is down"
    );

    let _redis = RedisServer::start(port);
    // Within a few seconds the retried subscription and the publisher are both back: a
    // publish reaches the subscriber, and publishes no longer report an outage.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut n = 100;
    let delivered = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery within 10 s of the server coming up"
        );
        n += 1;
        let published = pubsub.publish(&channel, &event(n));
        if let Some(got) = next_event(&mut rx, Duration::from_millis(250)).await {
            break (got, published);
        }
    };
    let (got, _) = delivered;
    assert!(matches!(got, Event::Location { .. }), "{got:?}");
    // Up again: the next publish is accepted without an error and arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    pubsub.publish(&channel, &event(999)).unwrap();
    assert_eq!(last_event(&mut rx).await, Some(event(999)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_pubsub_server_backs_publishes_up_until_it_answers_again() {
    let redis = RedisServer::start(free_port());
    let url = redis.url();
    let pubsub = PubSub::redis(std::slice::from_ref(&url), 160).unwrap();
    // Room for the whole backlog: nothing is dropped at the subscriber.
    let (tx, mut rx) = Inbox::new(1, 100_000);
    let channel = format!("backlog{}:u:1", rand::random::<u32>());
    pubsub.subscribe(&channel, 1, &tx).await;
    pubsub.publish(&channel, &event(0)).unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Some(event(0))
    );

    // A frozen server takes no pipeline, so the publisher's queue fills, and publishes
    // beyond it are refused at once rather than waited for.
    redis.pause();
    let mut refused = None;
    for n in 1..50_000 {
        match pubsub.publish(&channel, &event(n)) {
            Ok(()) | Err(PubSubError::Down { .. }) => {}
            Err(err) => {
                refused = Some((n, err));
                break;
            }
        }
    }
    let (n, err) = refused.expect("50,000 publishes to a frozen server must back up");
    assert!(
        matches!(&err, PubSubError::Backlog { server } if *server == url),
        "{err}"
    );
    assert!(n > 1000, "the queue holds thousands, refused after {n}");
    assert!(err.to_string().contains("is behind"), "{err}");

    // Thawed, the server drains the queue and new publishes arrive again.
    redis.resume();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publishes still refused 15 s after the server came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        if pubsub.publish(&channel, &event(-1)).is_ok() {
            break;
        }
    }
    // Everything queued before it comes first (the backlog drains in order).
    assert_eq!(
        last_event(&mut rx).await,
        Some(event(-1)),
        "the last publish arrives last"
    );
}
