//! Nearby friends over real WebSockets and HTTP, on both backends: the design's worked
//! example, privacy (non-friends, unfriending), the radius, the inactivity TTL, bad frames,
//! rate limits, history, "nearby random person", draining, and two processes sharing Redis.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use geostack::app::Service;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, assert_problem, spawn_app_with};

/// Helsinki railway station and points a known distance from it.
pub const HELSINKI: (f64, f64) = (60.1710, 24.9414);

/// `metres` due north of `from` (spherical, R = 6,371,008.8 m, as the service uses).
pub fn north_of(from: (f64, f64), metres: f64) -> (f64, f64) {
    (from.0 + (metres / 6_371_008.8).to_degrees(), from.1)
}

/// Independent great-circle distance (spherical law of haversines written out here).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let dp = p2 - p1;
    let dl = (b.1 - a.1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

pub fn friends_options() -> Options {
    Options {
        services: &[Service::Friends],
        ..Options::default()
    }
}

/// [`friends_options`] with these friends settings.
pub fn friends_with(config: friends::FriendsConfig) -> Options {
    Options {
        friends: Some(config),
        ..friends_options()
    }
}

/// [`friends_options`] with the production rate limit (one update per second per user)
/// instead of the helpers' 50 ms.
fn one_update_per_second() -> Options {
    friends_with(friends::FriendsConfig {
        location_min_interval_ms: 1_000,
        ..friends::FriendsConfig::default()
    })
}

pub struct WsClient {
    pub user_id: i64,
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    pub async fn connect(app: &TestApp, user_id: i64) -> WsClient {
        WsClient::connect_to(app, user_id, "/v1/ws/friends").await
    }

    /// A socket of `user_id` on `path` (a WebSocket endpoint).
    pub async fn connect_to(app: &TestApp, user_id: i64, path: &str) -> WsClient {
        let url = format!(
            "{}{path}?token={}",
            app.address.replace("http://", "ws://"),
            app.token(user_id)
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("user {user_id} cannot connect: {e}"));
        WsClient { user_id, ws }
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    /// The next text frame within `wait`, `None` if none came.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        // One deadline for the whole wait: pings must not extend it.
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match message {
                Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!(
                    "user {}: expected a text frame, got {other:?}",
                    self.user_id
                ),
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        match self.recv_within(Duration::from_secs(5)).await {
            Some(frame) => frame,
            None => panic!("user {} received nothing within 5 s", self.user_id),
        }
    }

    /// Asserts that nothing arrives for `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        if let Some(frame) = self.recv_within(wait).await {
            panic!(
                "user {} should have received nothing, got {frame}",
                self.user_id
            );
        }
    }

    pub async fn init(&mut self, at: (f64, f64)) -> Value {
        self.send(
            json!({"type": "init", "latitude": at.0, "longitude": at.1, "timestamp": now_s()}),
        )
        .await;
        let reply = self.recv().await;
        assert_eq!(reply["type"], "nearby_friends", "{reply}");
        reply
    }

    pub async fn move_to(&mut self, at: (f64, f64)) {
        self.send(
            json!({"type": "location", "latitude": at.0, "longitude": at.1, "timestamp": now_s()}),
        )
        .await;
    }

    /// The next close frame's code (text frames before it are skipped).
    pub async fn close_code(&mut self, wait: Duration) -> Option<CloseCode> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| f.code),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

pub fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

pub async fn create_user(app: &TestApp, name: &str) -> i64 {
    let reply = app
        .send(
            Method::POST,
            "/v1/users",
            Some(&app.admin_token),
            Some(&json!({"name": name})),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_i64().unwrap()
}

/// `POST /v1/friends` by `from`, asking `to`.
pub async fn ask_friend(app: &TestApp, from: i64, to: i64) -> crate::helpers::Reply {
    app.send(
        Method::POST,
        "/v1/friends",
        Some(&app.token(from)),
        Some(&json!({"friend_id": to})),
    )
    .await
}

/// `a` asks `b` (202, pending) and `b` accepts by asking back (201): friends by consent.
pub async fn befriend(app: &TestApp, a: i64, b: i64) {
    let asked = ask_friend(app, a, b).await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    assert_eq!(asked.body, json!({"status": "pending", "friend_id": b}));
    let accepted = ask_friend(app, b, a).await;
    assert_eq!(accepted.status, 201, "{:?}", accepted.body);
    assert_eq!(accepted.body["id"], a);
}

/// Asserts a `friend_location` of `user` at `at`, with the distance from `here`.
pub fn assert_friend_location(frame: &Value, user: i64, at: (f64, f64), here: (f64, f64)) {
    assert_eq!(frame["type"], "friend_location", "{frame}");
    assert_eq!(frame["user_id"], user, "{frame}");
    assert!(
        (frame["latitude"].as_f64().unwrap() - at.0).abs() < 1e-9,
        "{frame}"
    );
    assert!(
        (frame["longitude"].as_f64().unwrap() - at.1).abs() < 1e-9,
        "{frame}"
    );
    let expected = distance_m(here, at);
    let got = frame["distance_m"].as_f64().unwrap();
    assert!(
        (got - expected).abs() <= 0.1,
        "distance {got} != {expected}: {frame}"
    );
}

const QUIET: Duration = Duration::from_millis(400);

async fn design_example(backend: Backend) {
    let app = spawn_app_with(backend, friends_options()).await;
    let mut ids = vec![0];
    for n in 1..=6 {
        ids.push(create_user(&app, &format!("user {n}")).await);
    }
    for (a, b) in [(1, 2), (1, 3), (1, 4), (5, 4), (5, 6)] {
        befriend(&app, ids[a], ids[b]).await;
    }
    // Everyone within a few km, except user 3, 20 km away.
    let place = [
        (0.0, 0.0),
        north_of(HELSINKI, 0.0),
        north_of(HELSINKI, 1_000.0),
        north_of(HELSINKI, 20_000.0),
        north_of(HELSINKI, 2_500.0),
        north_of(HELSINKI, 4_000.0),
        north_of(HELSINKI, 6_000.0),
    ];
    let mut clients = Vec::new();
    for &id in &ids[1..] {
        clients.push(WsClient::connect(&app, id).await);
    }
    // Users come online one after another; each init lists the active friends in range.
    let first = clients[0].init(place[1]).await;
    assert_eq!(first["friends"], json!([]));
    for n in 2..=6 {
        let nearby = clients[n - 1].init(place[n]).await;
        let listed: Vec<i64> = nearby["friends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["user_id"].as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = match n {
            2 => vec![ids[1]],
            3 => vec![],       // user 1 is 20 km away
            4 => vec![ids[1]], // 5 is not online yet
            5 => vec![ids[4]],
            6 => vec![ids[5]],
            _ => unreachable!(),
        };
        assert_eq!(listed, expected, "init of user {n}: {nearby}");
        for friend in nearby["friends"].as_array().unwrap() {
            let id = friend["user_id"].as_i64().unwrap();
            let m = ids.iter().position(|&x| x == id).unwrap();
            let expected = distance_m(place[n], place[m]);
            assert!((friend["distance_m"].as_f64().unwrap() - expected).abs() <= 0.1);
        }
    }
    // The inits published: user 1 heard 2 and 4 (3 is out of range); 4 heard 5; 5 heard 6.
    let heard = |frames: Vec<Value>| -> Vec<i64> {
        frames
            .iter()
            .map(|f| f["user_id"].as_i64().unwrap())
            .collect()
    };
    let mut got1 = Vec::new();
    got1.push(clients[0].recv().await);
    got1.push(clients[0].recv().await);
    assert_eq!(heard(got1), vec![ids[2], ids[4]]);
    assert_eq!(heard(vec![clients[3].recv().await]), vec![ids[5]]);
    assert_eq!(heard(vec![clients[4].recv().await]), vec![ids[6]]);
    for c in clients.iter_mut() {
        c.assert_silent(QUIET).await;
    }

    // User 4 moves: exactly 1 and 5 hear it, with their own distances.
    let moved = north_of(HELSINKI, 2_600.0);
    clients[3].move_to(moved).await;
    assert_friend_location(&clients[0].recv().await, ids[4], moved, place[1]);
    assert_friend_location(&clients[4].recv().await, ids[4], moved, place[5]);
    // User 3 moves far away: user 1 is out of its range, nobody hears.
    clients[2].move_to(north_of(HELSINKI, 21_000.0)).await;
    // User 6 moves: only 5.
    let six = north_of(HELSINKI, 6_100.0);
    clients[5].move_to(six).await;
    assert_friend_location(&clients[4].recv().await, ids[6], six, place[5]);
    for c in clients.iter_mut() {
        c.assert_silent(QUIET).await;
    }
}
both_backends!(
    design_example_reaches_exactly_the_friends_in_range,
    design_example
);

async fn privacy_radius_and_unfriending(backend: Backend) {
    let app = spawn_app_with(backend, friends_options()).await;
    let a = create_user(&app, "a").await;
    let b = create_user(&app, "b").await;
    let stranger = create_user(&app, "stranger").await;
    befriend(&app, a, b).await;
    let mut ca = WsClient::connect(&app, a).await;
    let mut cb = WsClient::connect(&app, b).await;
    let mut cs = WsClient::connect(&app, stranger).await;
    // b is 10 km away: beyond the 8,047 m radius.
    let b_at = north_of(HELSINKI, 10_000.0);
    assert_eq!(cb.init(b_at).await["friends"], json!([]));
    cs.init(HELSINKI).await;
    // The stranger may not subscribe to a.
    cs.send(json!({"type": "subscribe", "friend_id": a})).await;
    let refused = cs.recv().await;
    assert_eq!(
        (
            refused["type"].as_str(),
            refused["status"].as_u64(),
            refused["code"].as_str()
        ),
        (Some("error"), Some(403), Some("forbidden"))
    );
    assert_eq!(
        ca.init(HELSINKI).await["friends"],
        json!([]),
        "b is out of range"
    );
    cb.assert_silent(QUIET).await;
    // a comes within range of b: friend_location; then leaves it: friend_left.
    let near_b = north_of(HELSINKI, 5_000.0);
    ca.move_to(near_b).await;
    assert_friend_location(&cb.recv().await, a, near_b, b_at);
    // a hears about b too, since b is now within a's range.
    let seen = ca.recv().await;
    assert_friend_location(&seen, b, b_at, near_b);
    tokio::time::sleep(Duration::from_millis(60)).await;
    ca.move_to(HELSINKI).await;
    assert_eq!(
        cb.recv().await,
        json!({"type": "friend_left", "user_id": a})
    );
    assert_eq!(
        ca.recv().await,
        json!({"type": "friend_left", "user_id": b})
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    ca.move_to(near_b).await;
    assert_friend_location(&cb.recv().await, a, near_b, b_at);
    ca.recv().await;
    // Unfriending stops delivery at once, on both sides.
    let reply = app
        .send(
            Method::DELETE,
            &format!("/v1/friends/{b}"),
            Some(&app.token(a)),
            None,
        )
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        cb.recv().await,
        json!({"type": "friend_left", "user_id": a})
    );
    assert_eq!(
        ca.recv().await,
        json!({"type": "friend_left", "user_id": b})
    );
    for step in 1..=3 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        ca.move_to(north_of(near_b, step as f64 * 10.0)).await;
        cb.move_to(north_of(b_at, step as f64 * 10.0)).await;
    }
    cb.assert_silent(QUIET).await;
    ca.assert_silent(QUIET).await;
    cs.assert_silent(QUIET).await;
    // Re-subscribing is refused now.
    cb.send(json!({"type": "subscribe", "friend_id": a})).await;
    assert_eq!(cb.recv().await["status"], 403);
    let again = app
        .send(
            Method::DELETE,
            &format!("/v1/friends/{b}"),
            Some(&app.token(a)),
            None,
        )
        .await;
    assert_problem(&again, 404, "unfriending twice");
}
both_backends!(
    privacy_radius_and_unfriending_work,
    privacy_radius_and_unfriending
);

async fn inactivity_ttl(backend: Backend) {
    let options = friends_with(friends::FriendsConfig {
        location_ttl_s: 1.0,
        location_min_interval_ms: 50,
        ..friends::FriendsConfig::default()
    });
    let app = spawn_app_with(backend, options).await;
    let a = create_user(&app, "a").await;
    let b = create_user(&app, "b").await;
    let c = create_user(&app, "c").await;
    befriend(&app, a, b).await;
    befriend(&app, a, c).await;
    let mut cb = WsClient::connect(&app, b).await;
    cb.init(HELSINKI).await;
    let mut ca = WsClient::connect(&app, a).await;
    let a_at = north_of(HELSINKI, 300.0);
    ca.init(a_at).await;
    assert_friend_location(&cb.recv().await, a, a_at, HELSINKI);
    // a falls silent: after the TTL, b is told a left.
    let left = cb
        .recv_within(Duration::from_secs(3))
        .await
        .expect("friend_left after the TTL");
    assert_eq!(left, json!({"type": "friend_left", "user_id": a}));
    // And a newcomer's init no longer lists a.
    let mut cc = WsClient::connect(&app, c).await;
    assert_eq!(cc.init(HELSINKI).await["friends"], json!([]));
    // Until a speaks again.
    ca.move_to(a_at).await;
    assert_friend_location(&cb.recv().await, a, a_at, HELSINKI);
    assert_friend_location(&cc.recv().await, a, a_at, HELSINKI);
}
both_backends!(inactive_friends_expire, inactivity_ttl);

async fn bad_frames_and_auth(backend: Backend) {
    let app = spawn_app_with(backend, one_update_per_second()).await;
    let a = create_user(&app, "a").await;
    let ws_url = format!("{}/v1/ws/friends", app.address.replace("http://", "ws://"));
    // No token, a forged token, an unregistered user.
    for (url, status) in [
        (ws_url.clone(), 401),
        (format!("{ws_url}?token=not-a-jwt"), 401),
        (format!("{ws_url}?token={}", app.token(999_999)), 403),
    ] {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), status, "{url}");
            }
            other => panic!("{url} should be refused, got {:?}", other.map(|_| ())),
        }
    }
    // A plain GET (no upgrade) is a 400 problem, not a crash.
    let plain = app
        .send(Method::GET, "/v1/ws/friends", Some(&app.token(a)), None)
        .await;
    assert_problem(&plain, 400, "plain GET of the WebSocket path");

    let mut ca = WsClient::connect(&app, a).await;
    let cases = [
        ("not json".to_string(), 400, "invalid-body"),
        (json!({"type": "teleport"}).to_string(), 400, "invalid-body"),
        (json!({"latitude": 1.0}).to_string(), 400, "invalid-body"),
        (
            json!({"type": "location", "latitude": 1.0, "longitude": 2.0}).to_string(),
            400,
            "init-required",
        ),
        (
            json!({"type": "init", "latitude": 91.0, "longitude": 0.0}).to_string(),
            400,
            "invalid-body",
        ),
        (
            json!({"type": "init", "latitude": 0.0, "longitude": -180.5}).to_string(),
            400,
            "invalid-body",
        ),
        (
            json!({"type": "init", "latitude": "x", "longitude": 0.0}).to_string(),
            400,
            "invalid-body",
        ),
        (
            json!({"type": "subscribe", "friend_id": "x"}).to_string(),
            400,
            "invalid-body",
        ),
        ("x".repeat(10_000), 413, "payload-too-large"),
    ];
    for (frame, status, code) in cases {
        ca.ws.send(Message::text(frame.clone())).await.unwrap();
        let reply = ca.recv().await;
        assert_eq!(reply["type"], "error", "{frame:.80}: {reply}");
        assert_eq!(reply["status"], status, "{frame:.80}: {reply}");
        assert_eq!(reply["code"], code, "{frame:.80}: {reply}");
        assert!(!reply["detail"].as_str().unwrap().is_empty());
    }
    ca.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let binary = ca.recv().await;
    assert_eq!(
        (binary["status"].as_u64(), binary["code"].as_str()),
        (Some(400), Some("invalid-body"))
    );
    // Still alive: init works, a second update within a second is rate limited (error frame,
    // connection kept), and a third after the interval is accepted.
    ca.init(HELSINKI).await;
    ca.move_to(HELSINKI).await;
    let limited = ca.recv().await;
    assert_eq!(
        (
            limited["type"].as_str(),
            limited["status"].as_u64(),
            limited["code"].as_str()
        ),
        (Some("error"), Some(429), Some("rate-limited"))
    );
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    ca.move_to(HELSINKI).await;
    ca.assert_silent(QUIET).await;
    // Only one history fix per accepted update.
    let history = wait_for_history(&app, a, 2).await;
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(app.get("/healthz").await.status, 200);
}
both_backends!(
    bad_frames_get_errors_and_the_connection_survives,
    bad_frames_and_auth
);

/// The update rate limit is per user, not per connection: a second connection of the same
/// user shares the first one's allowance, while another user is not affected.
async fn rate_limit_per_user(backend: Backend) {
    let app = spawn_app_with(backend, one_update_per_second()).await;
    let a = create_user(&app, "two-phones").await;
    let b = create_user(&app, "bystander").await;
    let mut phone = WsClient::connect(&app, a).await;
    let mut tablet = WsClient::connect(&app, a).await;
    let mut other = WsClient::connect(&app, b).await;
    phone.init(HELSINKI).await;
    // The tablet's init is an update within the phone's second: answered, but not shared.
    tablet.init(HELSINKI).await;
    let reply = tablet.recv().await;
    assert_eq!(
        (
            reply["type"].as_str(),
            reply["status"].as_u64(),
            reply["code"].as_str()
        ),
        (Some("error"), Some(429), Some("rate-limited")),
        "{reply}"
    );
    other.init(HELSINKI).await;
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    // The phone's update takes user a's slot for this second: the tablet's is refused, the
    // other user's is not.
    phone.move_to(north_of(HELSINKI, 10.0)).await;
    phone.assert_silent(QUIET).await;
    tablet.move_to(north_of(HELSINKI, 20.0)).await;
    let reply = tablet.recv().await;
    assert_eq!(
        (
            reply["type"].as_str(),
            reply["status"].as_u64(),
            reply["code"].as_str()
        ),
        (Some("error"), Some(429), Some("rate-limited")),
        "{reply}"
    );
    other.move_to(north_of(HELSINKI, 30.0)).await;
    other.assert_silent(QUIET).await;
    // Refused updates are not stored: the phone's init and its update.
    let history = wait_for_history(&app, a, 2).await;
    assert_eq!(history.len(), 2, "{history:?}");
    tokio::time::sleep(QUIET).await;
    let history = wait_for_history(&app, a, 3).await;
    assert_eq!(history.len(), 2, "{history:?}");
}
both_backends!(
    rate_limit_is_per_user_across_connections,
    rate_limit_per_user
);

/// Polls the caller's history until it has `n` fixes (writes are batched).
async fn wait_for_history(app: &TestApp, user: i64, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let reply = app
            .send(
                Method::GET,
                &format!("/v1/users/{user}/locations"),
                Some(&app.token(user)),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let locations = reply.body["locations"].as_array().unwrap().clone();
        if locations.len() >= n || tokio::time::Instant::now() > deadline {
            return locations;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
async fn rest_endpoints(backend: Backend) {
    let app = spawn_app_with(backend, friends_options()).await;
    // Users: admin only, names checked.
    let reply = app
        .send(
            Method::POST,
            "/v1/users",
            Some(&app.token(5)),
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_problem(&reply, 403, "non-admin creating a user");
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(201)}),
        json!({"name": "nul\u{0}byte"}),
        json!({"name": "line\nfeed"}),
        json!({"nom": "x"}),
        json!([]),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/v1/users",
                Some(&app.admin_token),
                Some(&body),
            )
            .await;
        assert_problem(&reply, 400, &body.to_string());
    }
    let reply = app.send(Method::GET, "/v1/friends", None, None).await;
    assert_problem(&reply, 401, "friends without a token");
    let a = create_user(&app, "Ann").await;
    let b = create_user(&app, "Bob").await;
    let c = create_user(&app, "Cid").await;
    let (ta, tb) = (app.token(a), app.token(b));
    for (body, status) in [
        (json!({"friend_id": a}), 400),
        (json!({"friend_id": 999_999}), 404),
        (json!({"friend_id": "b"}), 400),
    ] {
        let reply = app
            .send(Method::POST, "/v1/friends", Some(&ta), Some(&body))
            .await;
        assert_problem(&reply, status, &body.to_string());
    }
    befriend(&app, a, b).await;
    befriend(&app, a, c).await;
    let reply = app
        .send(
            Method::POST,
            "/v1/friends",
            Some(&tb),
            Some(&json!({"friend_id": a})),
        )
        .await;
    assert_problem(&reply, 409, "befriending twice (from the other side)");
    let list = app.send(Method::GET, "/v1/friends", Some(&ta), None).await;
    assert_eq!(
        list.body,
        json!({"friends": [{"id": b, "name": "Bob"}, {"id": c, "name": "Cid"}]})
    );
    let list = app.send(Method::GET, "/v1/friends", Some(&tb), None).await;
    assert_eq!(
        list.body,
        json!({"friends": [{"id": a, "name": "Ann"}]}),
        "mutual"
    );
    let reply = app
        .send(Method::DELETE, &format!("/v1/friends/{a}"), Some(&tb), None)
        .await;
    assert_eq!(reply.status, 204);
    let list = app.send(Method::GET, "/v1/friends", Some(&ta), None).await;
    assert_eq!(
        list.body,
        json!({"friends": [{"id": c, "name": "Cid"}]}),
        "ended on both sides"
    );

    // History: own only, ranges, paging, erasure.
    let mut ca = WsClient::connect(&app, a).await;
    ca.init(HELSINKI).await;
    for step in 1..=4 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        ca.move_to(north_of(HELSINKI, step as f64 * 100.0)).await;
    }
    // Once the server has answered a later frame, the fixes before it are readable at once
    // (reading waits for the queued writes), not after the writer's next batch.
    ca.send(json!({"type": "teleport"})).await;
    assert_eq!(ca.recv().await["status"], 400);
    let all = app
        .send(
            Method::GET,
            &format!("/v1/users/{a}/locations"),
            Some(&ta),
            None,
        )
        .await;
    let all = all.body["locations"].as_array().unwrap().clone();
    assert_eq!(all.len(), 5, "{all:?}");
    let times: Vec<f64> = all
        .iter()
        .map(|p| p["timestamp"].as_f64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    assert!((all[4]["latitude"].as_f64().unwrap() - north_of(HELSINKI, 400.0).0).abs() < 1e-9);
    let page = app
        .send(
            Method::GET,
            &format!("/v1/users/{a}/locations?limit=2"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(page.body["locations"].as_array().unwrap().len(), 2);
    let next = page.body["next_from"]
        .as_f64()
        .expect("next_from on a cut page");
    assert_eq!(next, times[1]);
    let range = app
        .send(
            Method::GET,
            &format!("/v1/users/{a}/locations?from={}&to={}", times[1], times[3]),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(range.body["locations"].as_array().unwrap().len(), 3);
    for query in [
        "from=5&to=1",
        "limit=0",
        "limit=10001",
        "from=abc",
        "colour=red",
    ] {
        let reply = app
            .send(
                Method::GET,
                &format!("/v1/users/{a}/locations?{query}"),
                Some(&ta),
                None,
            )
            .await;
        assert_problem(&reply, 400, query);
    }
    let other = app
        .send(
            Method::GET,
            &format!("/v1/users/{a}/locations"),
            Some(&tb),
            None,
        )
        .await;
    assert_problem(&other, 403, "reading someone else's history");
    let other = app
        .send(
            Method::DELETE,
            &format!("/v1/users/{a}/locations"),
            Some(&tb),
            None,
        )
        .await;
    assert_problem(&other, 403, "erasing someone else's history");
    assert_eq!(
        wait_for_history(&app, a, 5).await.len(),
        5,
        "refused requests change nothing"
    );
    let erased = app
        .send(
            Method::DELETE,
            &format!("/v1/users/{a}/locations"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(erased.status, 204);
    let after = app
        .send(
            Method::GET,
            &format!("/v1/users/{a}/locations"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(after.body["locations"], json!([]));
}
both_backends!(users_friendships_and_history, rest_endpoints);

async fn nearby_random_person(backend: Backend) {
    let app = spawn_app_with(
        backend,
        friends_with(friends::FriendsConfig {
            location_min_interval_ms: 50,
            nearby_person_interval_s: 0.2,
            ..friends::FriendsConfig::default()
        }),
    )
    .await;
    let a = create_user(&app, "a").await;
    let b = create_user(&app, "b").await;
    let c = create_user(&app, "c").await;
    let (mut ca, mut cb, mut cc) = (
        WsClient::connect(&app, a).await,
        WsClient::connect(&app, b).await,
        WsClient::connect(&app, c).await,
    );
    // c has not opted in: it neither sees nor is seen.
    cc.init(HELSINKI).await;
    let opt_in = |at: (f64, f64)| json!({"type": "init", "latitude": at.0, "longitude": at.1, "timestamp": now_s(), "nearby_random": true});
    ca.send(opt_in(HELSINKI)).await;
    assert_eq!(ca.recv().await["type"], "nearby_friends");
    let b_at = north_of(HELSINKI, 1_500.0);
    cb.send(opt_in(b_at)).await;
    assert_eq!(cb.recv().await["type"], "nearby_friends");
    let person = ca.recv().await;
    assert_eq!(person["type"], "nearby_person", "{person}");
    assert!(
        person.get("user_id").is_none(),
        "strangers never see a user id: {person}"
    );
    // Rounded to about 100 m, never the exact fix.
    assert!((person["latitude"].as_f64().unwrap() - b_at.0).abs() <= 0.0005 + 1e-12);
    assert_ne!(person["latitude"].as_f64().unwrap(), b_at.0);
    cc.assert_silent(QUIET).await;
    // b moves 100 km away, into other cells: a hears nothing more.
    tokio::time::sleep(Duration::from_millis(60)).await;
    cb.move_to(north_of(HELSINKI, 100_000.0)).await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    cb.move_to(north_of(HELSINKI, 100_100.0)).await;
    // A share sent from the old place just before the move may still be on its way.
    let until = tokio::time::Instant::now() + Duration::from_millis(300);
    while tokio::time::timeout_at(until, ca.ws.next()).await.is_ok() {}
    ca.assert_silent(QUIET).await;
    // a follows: after crossing cells, a subscribes to the new neighbourhood and hears b.
    tokio::time::sleep(Duration::from_millis(60)).await;
    ca.move_to(north_of(HELSINKI, 100_500.0)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    cb.move_to(north_of(HELSINKI, 100_200.0)).await;
    let person = ca.recv().await;
    assert_eq!(person["type"], "nearby_person", "{person}");
}
both_backends!(nearby_random_person_follows_cells, nearby_random_person);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_refuses_new_connections_closes_with_going_away_and_flushes_history() {
    let options = friends_with(friends::FriendsConfig {
        drain_grace_s: 0.5,
        location_min_interval_ms: 50,
        ..friends::FriendsConfig::default()
    });
    let mut app = spawn_app_with(Backend::Embedded, options).await;
    let a = create_user(&app, "a").await;
    let mut ca = WsClient::connect(&app, a).await;
    ca.init(HELSINKI).await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    ca.move_to(north_of(HELSINKI, 10.0)).await;
    ca.assert_silent(Duration::from_millis(100)).await;
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!(
        "{}/v1/ws/friends?token={}",
        app.address.replace("http://", "ws://"),
        app.token(a)
    );
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503)
        }
        other => panic!(
            "a new connection while draining must be refused: {:?}",
            other.map(|_| ())
        ),
    }
    let code = ca.close_code(Duration::from_secs(5)).await;
    assert_eq!(code, Some(CloseCode::Away));
    app.stopped().await;
    let history = friends::store::history(&app.backends.db, a, 0.0, f64::MAX, 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 2, "both fixes were written before exit");
}

/// With a long `WS_WRITE_GAP_MS`, a friend's move that follows another within the gap waits
/// for the next write, but leaves at once with a reply to the client's own frame, and with
/// the "going away" close; nothing is lost or reordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_writes_hold_moves_but_not_replies_and_flush_before_closing() {
    let options = friends_with(friends::FriendsConfig {
        ws_write_gap_ms: 3_000,
        drain_grace_s: 0.2,
        location_min_interval_ms: 50,
        ..friends::FriendsConfig::default()
    });
    let mut app = spawn_app_with(Backend::Embedded, options).await;
    let a = create_user(&app, "a").await;
    let b = create_user(&app, "b").await;
    let c = create_user(&app, "c").await;
    befriend(&app, a, b).await;
    befriend(&app, a, c).await;
    let (mut ca, mut cb, mut cc) = (
        WsClient::connect(&app, a).await,
        WsClient::connect(&app, b).await,
        WsClient::connect(&app, c).await,
    );
    let (b_at, c_at) = (north_of(HELSINKI, 100.0), north_of(HELSINKI, 200.0));
    cb.init(b_at).await;
    cc.init(c_at).await;
    // The reply to init is a write; moves within the next 3 s wait for the next one.
    ca.init(HELSINKI).await;
    // Past b's 50 ms minimum interval since its init.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let b_moved = north_of(b_at, 10.0);
    cb.move_to(b_moved).await;
    ca.assert_silent(Duration::from_millis(500)).await;
    assert_friend_location(&ca.recv().await, b, b_moved, HELSINKI);
    // Held again, until a's own frame needs an answer: then the move goes first.
    let c_moved = north_of(c_at, 10.0);
    cc.move_to(c_moved).await;
    ca.assert_silent(Duration::from_millis(300)).await;
    let asked = std::time::Instant::now();
    ca.ws.send(Message::text("not json")).await.unwrap();
    assert_friend_location(&ca.recv().await, c, c_moved, HELSINKI);
    assert_eq!(ca.recv().await["status"], 400);
    assert!(
        asked.elapsed() < Duration::from_millis(1_500),
        "the reply waited for the write gap: {:?}",
        asked.elapsed()
    );
    // A held move goes out before the close.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let b_again = north_of(b_moved, 10.0);
    cb.move_to(b_again).await;
    ca.assert_silent(Duration::from_millis(300)).await;
    app.begin_shutdown();
    assert_friend_location(&ca.recv().await, b, b_again, HELSINKI);
    assert_eq!(
        ca.close_code(Duration::from_secs(5)).await,
        Some(CloseCode::Away)
    );
    app.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_redis_see_each_others_users() {
    let database =
        crate::helpers::fresh_postgres_database(&crate::helpers::test_database_url()).await;
    let prefix = format!("shared{}", rand::random::<u32>());
    let options = Options {
        database_url: Some(database),
        cache_prefix: Some(prefix),
        ..friends_options()
    };
    let one = spawn_app_with(Backend::Postgres, options.clone()).await;
    let two = spawn_app_with(Backend::Postgres, options).await;
    let a = create_user(&one, "a").await;
    let b = create_user(&two, "b").await;
    let c = create_user(&two, "c").await;
    befriend(&one, a, b).await;
    befriend(&two, c, a).await;
    let mut ca = WsClient::connect(&one, a).await;
    let mut cb = WsClient::connect(&two, b).await;
    let mut cc = WsClient::connect(&two, c).await;
    ca.init(HELSINKI).await;
    // b's init answer comes from the shared location cache, written by the other process.
    let b_at = north_of(HELSINKI, 700.0);
    let nearby = cb.init(b_at).await;
    assert_eq!(nearby["friends"][0]["user_id"], a, "{nearby}");
    assert_friend_location(&ca.recv().await, b, b_at, HELSINKI);
    cc.init(north_of(HELSINKI, 50_000.0)).await; // out of range of a
    tokio::time::sleep(Duration::from_millis(60)).await;
    let moved = north_of(HELSINKI, 100.0);
    ca.move_to(moved).await;
    assert_friend_location(&cb.recv().await, a, moved, b_at);
    cc.assert_silent(QUIET).await;
    ca.assert_silent(QUIET).await;
}
