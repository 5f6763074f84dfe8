//! Nearby friends against hostile and unlucky clients: the unfriend guarantee with a stalled
//! socket (one process, and two processes on Redis), friendship by consent, the update rate
//! limit across reconnects, unlinkable "nearby random person" sessions, and the WebSocket's
//! protocol edges (size, UTF-8, idle clients, connection caps).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::both_backends;
use crate::friends::{
    HELSINKI, WsClient, ask_friend, befriend, create_user, friends_options, friends_with, north_of,
    now_s,
};
use crate::helpers::{Backend, Options, TestApp, assert_problem, spawn_app_with};

fn ws_url(app: &TestApp, user: i64) -> String {
    format!(
        "{}/v1/ws/friends?token={}",
        app.address.replace("http://", "ws://"),
        app.token(user)
    )
}

/// A client whose socket has a 4 KiB receive buffer: once it stops reading, the server's
/// writes to it block almost at once (with [`stalling`]'s small server send buffer).
async fn connect_small_buffer(app: &TestApp, user: i64) -> WsClient {
    let addr: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(ws_url(app, user), MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    WsClient { user_id: user, ws }
}

/// Connects, then waits for the answer to a frame, so that the server's side of the
/// connection is running (and subscribed to the user's notices) before the test goes on:
/// the client sees the upgrade complete before the server's task has started.
async fn connect_ready(app: &TestApp, user: i64) -> WsClient {
    let mut client = WsClient::connect(app, user).await;
    client.send(json!({"type": "hello"})).await;
    assert_eq!(client.recv().await["status"], 400);
    client
}

fn opt_in(at: (f64, f64)) -> Value {
    json!({"type": "init", "latitude": at.0, "longitude": at.1, "timestamp": now_s(),
           "nearby_random": true})
}

async fn unfriend(app: &TestApp, from: i64, to: i64) -> crate::helpers::Reply {
    app.send(
        Method::DELETE,
        &format!("/v1/friends/{to}"),
        Some(&app.token(from)),
        None,
    )
    .await
}

async fn requests(app: &TestApp, user: i64) -> crate::helpers::Reply {
    app.send(
        Method::GET,
        "/v1/friends/requests",
        Some(&app.token(user)),
        None,
    )
    .await
}

/// Every text frame that arrives until the stream stays quiet for `quiet` (or closes).
async fn drain(client: &mut WsClient, quiet: Duration) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(quiet, client.ws.next()).await {
        match message {
            Ok(Message::Text(text)) => frames.push(serde_json::from_str(&text).unwrap()),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    frames
}

/// Reads and discards whatever arrives for `wait`.
async fn skip_for(client: &mut WsClient, wait: Duration) {
    let until = tokio::time::Instant::now() + wait;
    while tokio::time::timeout_at(until, client.ws.next())
        .await
        .is_ok()
    {}
}

/// `options` with a 4 KiB server send buffer: on loopback the kernel would otherwise grow
/// it to over a megabyte, which a test's flood does not fill in seconds.
fn stalling(options: Options) -> Options {
    Options {
        send_buffer_bytes: 4096,
        ..options
    }
}

fn flood_settings() -> friends::FriendsConfig {
    friends::FriendsConfig {
        location_min_interval_ms: 50,
        // Strangers share often, to fill the stalled client's inbox.
        nearby_person_interval_s: 0.01,
        // Long enough that the stalled socket stays open through the test.
        ws_write_timeout_s: 120.0,
        ..friends::FriendsConfig::default()
    }
}

/// The repro: b stops reading, its inbox overflows with strangers' positions, a
/// unfriends b; when b reads again, a's later moves must not reach it (the old code dropped
/// the unfriend with the overflow and went on forwarding). `for_a` and `for_b` may be two
/// processes sharing PostgreSQL and Redis.
async fn unfriend_reaches_stalled_socket(for_a: &TestApp, for_b: &TestApp) {
    let a = create_user(for_a, "a").await;
    let b = create_user(for_a, "b").await;
    befriend(for_a, a, b).await;
    let mut strangers = Vec::new();
    for n in 0..6 {
        let id = create_user(for_b, &format!("stranger {n}")).await;
        let mut client = WsClient::connect(for_b, id).await;
        client
            .send(opt_in(north_of(HELSINKI, 100.0 * n as f64)))
            .await;
        strangers.push(client);
    }
    let mut cb = connect_small_buffer(for_b, b).await;
    cb.send(opt_in(HELSINKI)).await;
    assert_eq!(cb.recv().await["type"], "nearby_friends");
    let mut ca = WsClient::connect(for_a, a).await;
    let before = north_of(HELSINKI, 500.0);
    ca.init(before).await;
    // b reads nothing from here on; strangers' shares pile up until its writes block and
    // its inbox overflows.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let removed = unfriend(for_a, a, b).await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    // The strangers leave; b reads again and catches up with everything queued.
    for mut client in strangers {
        let _ = client.ws.close(None).await;
    }
    let backlog = drain(&mut cb, Duration::from_secs(2)).await;
    assert!(
        backlog.iter().any(|f| f["type"] == "nearby_person"),
        "the flood reached b: {} frames",
        backlog.len()
    );
    // a moves on after the unfriend: b must hear nothing of it, now or later.
    let after = north_of(HELSINKI, 700.0);
    for step in 0..4 {
        tokio::time::sleep(Duration::from_millis(80)).await;
        ca.move_to(north_of(after, step as f64)).await;
    }
    let later = drain(&mut cb, Duration::from_secs(2)).await;
    for frame in backlog.iter().chain(&later) {
        if frame["type"] == "friend_location" || frame["type"] == "nearby_friends" {
            let leaked =
                frame["user_id"] == a && frame["latitude"].as_f64() >= Some(after.0 - 1e-6);
            let listed = frame["friends"]
                .as_array()
                .is_some_and(|list| list.iter().any(|f| f["user_id"] == a));
            assert!(
                !leaked && !listed,
                "a's location after the unfriend reached b: {frame}"
            );
        }
    }
    // b's socket is still usable, and the friendship is gone for it too.
    cb.send(json!({"type": "subscribe", "friend_id": a})).await;
    let refused = cb.recv().await;
    assert_eq!(refused["status"], 403, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfriend_reaches_a_stalled_socket_embedded() {
    let app = spawn_app_with(Backend::Embedded, stalling(friends_with(flood_settings()))).await;
    unfriend_reaches_stalled_socket(&app, &app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfriend_reaches_a_stalled_socket_across_two_processes_on_redis() {
    let database =
        crate::helpers::fresh_postgres_database(&crate::helpers::test_database_url()).await;
    let options = Options {
        database_url: Some(database),
        cache_prefix: Some(format!("stall{}", rand::random::<u32>())),
        ..stalling(friends_with(flood_settings()))
    };
    let one = spawn_app_with(Backend::Postgres, options.clone()).await;
    let two = spawn_app_with(Backend::Postgres, options).await;
    unfriend_reaches_stalled_socket(&one, &two).await;
}

/// Friendship needs both users: a request shares nothing until it is accepted; requests can
/// be listed, withdrawn and declined.
async fn friendship_by_consent(backend: Backend) {
    let app = spawn_app_with(backend, friends_options()).await;
    let a = create_user(&app, "Ann").await;
    let b = create_user(&app, "Bob").await;
    let c = create_user(&app, "Cid").await;
    let mut cb = connect_ready(&app, b).await;
    // Notices reach a connection before its init.
    let asked = ask_friend(&app, a, b).await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    assert_eq!(asked.body, json!({"status": "pending", "friend_id": b}));
    assert_eq!(
        cb.recv().await,
        json!({"type": "friend_request", "user_id": a, "name": "Ann"})
    );
    let again = ask_friend(&app, a, b).await;
    assert_eq!(
        (again.status, &again.body),
        (202, &asked.body),
        "repeating is 202 again"
    );
    cb.assert_silent(Duration::from_millis(300)).await;
    let mine = requests(&app, a).await;
    assert_eq!(
        mine.body,
        json!({"incoming": [], "outgoing": [{"id": b, "name": "Bob"}]})
    );
    let theirs = requests(&app, b).await;
    assert_eq!(
        theirs.body,
        json!({"incoming": [{"id": a, "name": "Ann"}], "outgoing": []})
    );
    // Pending: nothing flows, and b cannot subscribe to a.
    let mut ca = WsClient::connect(&app, a).await;
    ca.init(HELSINKI).await;
    assert_eq!(
        cb.init(north_of(HELSINKI, 300.0)).await["friends"],
        json!([])
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    ca.move_to(north_of(HELSINKI, 10.0)).await;
    cb.assert_silent(Duration::from_millis(300)).await;
    cb.send(json!({"type": "subscribe", "friend_id": a})).await;
    assert_eq!(cb.recv().await["status"], 403);
    assert_eq!(
        app.send(Method::GET, "/v1/friends", Some(&app.token(a)), None)
            .await
            .body,
        json!({"friends": []})
    );
    // b accepts by asking back: 201, both sides told, and locations flow with no subscribe.
    let accepted = ask_friend(&app, b, a).await;
    assert_eq!(accepted.status, 201, "{:?}", accepted.body);
    assert_eq!(accepted.body, json!({"id": a, "name": "Ann"}));
    let added = |id: i64, name: &str| json!({"type": "friend_added", "user_id": id, "name": name});
    let to_b = cb.recv().await;
    assert_eq!(to_b, added(a, "Ann"));
    let to_a = ca.recv().await;
    assert_eq!(to_a, added(b, "Bob"));
    // The server followed the new friend: its cached fix is shown at once.
    assert_eq!(cb.recv().await["type"], "friend_location");
    assert_eq!(ca.recv().await["type"], "friend_location");
    tokio::time::sleep(Duration::from_millis(60)).await;
    let moved = north_of(HELSINKI, 20.0);
    ca.move_to(moved).await;
    let seen = cb.recv().await;
    assert_eq!(
        (seen["type"].as_str(), &seen["user_id"]),
        (Some("friend_location"), &json!(a))
    );
    assert_eq!(
        requests(&app, a).await.body,
        json!({"incoming": [], "outgoing": []})
    );
    assert_problem(&ask_friend(&app, a, b).await, 409, "already friends");

    // Declining and withdrawing.
    assert_eq!(ask_friend(&app, c, a).await.status, 202);
    assert_eq!(unfriend(&app, a, c).await.status, 204, "a declines c");
    assert_eq!(
        ask_friend(&app, a, c).await.status,
        202,
        "declined: asking is a new request"
    );
    assert_eq!(unfriend(&app, a, c).await.status, 204, "a withdraws");
    assert_eq!(
        requests(&app, c).await.body,
        json!({"incoming": [], "outgoing": []})
    );
    assert_problem(
        &unfriend(&app, a, c).await,
        404,
        "neither friends nor asking",
    );
    assert_problem(&ask_friend(&app, a, a).await, 400, "oneself");
    assert_problem(&ask_friend(&app, a, 999_999).await, 404, "unknown user");
    assert_problem(
        &app.send(Method::GET, "/v1/friends/requests", None, None)
            .await,
        401,
        "requests without a token",
    );
}
both_backends!(friendship_needs_both_users_consent, friendship_by_consent);

/// Reconnecting does not buy extra updates: an init within the interval answers the
/// friends list but neither stores nor shares its position.
async fn reconnect_rate_limit(backend: Backend) {
    let options = friends_with(friends::FriendsConfig {
        location_min_interval_ms: 1_000,
        ..friends::FriendsConfig::default()
    });
    let app = spawn_app_with(backend, options).await;
    let a = create_user(&app, "a").await;
    let b = create_user(&app, "b").await;
    befriend(&app, a, b).await;
    let mut cb = WsClient::connect(&app, b).await;
    cb.init(HELSINKI).await;
    let started = std::time::Instant::now();
    let mut refused = 0;
    for n in 0..10 {
        let mut ca = WsClient::connect(&app, a).await;
        ca.init(north_of(HELSINKI, 10.0 * n as f64)).await;
        if let Some(frame) = ca.recv_within(Duration::from_millis(50)).await {
            assert_eq!(frame["status"], 429, "{frame}");
            refused += 1;
        }
        ca.ws.close(None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = elapsed.ceil() as usize + 1;
    let heard = drain(&mut cb, Duration::from_millis(500)).await;
    let moves = heard
        .iter()
        .filter(|f| f["type"] == "friend_location")
        .count();
    assert!(
        moves <= allowed,
        "{moves} of a's inits reached b in {elapsed:.1} s"
    );
    assert!(refused >= 10 - allowed, "only {refused} inits were refused");
    let history = app
        .send(
            Method::GET,
            &format!("/v1/users/{a}/locations"),
            Some(&app.token(a)),
            None,
        )
        .await;
    let stored = history.body["locations"].as_array().unwrap().len();
    assert!(
        stored <= allowed,
        "{stored} history rows from 10 inits in {elapsed:.1} s"
    );
}
both_backends!(
    reconnecting_does_not_bypass_the_rate_limit,
    reconnect_rate_limit
);

/// A friend who also meets the user as a "nearby random person" cannot pair the two: the
/// stranger's time is rounded to the minute (a friend's is exact) and the session changes
/// when the friendship ends.
async fn unlinkable_nearby_person(backend: Backend) {
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
    befriend(&app, a, b).await;
    let mut ca = WsClient::connect(&app, a).await;
    let mut cb = WsClient::connect(&app, b).await;
    ca.send(opt_in(HELSINKI)).await;
    assert_eq!(ca.recv().await["type"], "nearby_friends");
    cb.send(opt_in(north_of(HELSINKI, 300.0))).await;
    let mut exact = None;
    let mut sessions = Vec::new();
    while sessions.is_empty() || exact.is_none() {
        let frame = ca.recv().await;
        match frame["type"].as_str() {
            Some("friend_location") => exact = frame["timestamp"].as_f64(),
            Some("nearby_person") => {
                let t = frame["timestamp"].as_f64().unwrap();
                assert_eq!(t % 60.0, 0.0, "a stranger's time is to the minute: {frame}");
                sessions.push(frame["session"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    assert_ne!(exact.unwrap() % 60.0, 0.0, "the friend's own time is exact");
    assert_eq!(unfriend(&app, a, b).await.status, 204);
    // Shares already on their way when the friendship ended may still arrive.
    skip_for(&mut ca, Duration::from_millis(500)).await;
    let mut after = Vec::new();
    while after.len() < 2 {
        let frame = ca.recv().await;
        if frame["type"] == "nearby_person" {
            after.push(frame["session"].as_str().unwrap().to_string());
        }
    }
    assert!(
        !after.iter().any(|s| sessions.contains(s)),
        "b's session outlived the unfriend: before {sessions:?}, after {after:?}"
    );
}
both_backends!(
    nearby_person_cannot_be_linked_to_a_friend,
    unlinkable_nearby_person
);

async fn raw_client(
    app: &TestApp,
    user: i64,
) -> WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(ws_url(app, user))
        .await
        .unwrap()
        .0
}

/// The next close frame's code, skipping other messages.
async fn close_code(
    ws: &mut WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.ok()?? {
            Ok(Message::Close(frame)) => return frame.map(|f| f.code),
            Ok(_) => continue,
            Err(err) => panic!("expected a close frame, got {err}"),
        }
    }
}

/// The protocol's edges end with the close codes the contract names, each with a close
/// frame: 1009 for an oversized message, 1007 for text that is not UTF-8, 1001 for a client
/// that answers no ping; and a user may hold only `WS_MAX_PER_USER` sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_edges_close_with_the_contracts_codes() {
    let app = spawn_app_with(
        Backend::Embedded,
        friends_with(friends::FriendsConfig {
            ws_ping_interval_s: 0.2,
            ws_idle_timeout_s: 1.0,
            ws_max_per_user: 2,
            ..friends::FriendsConfig::default()
        }),
    )
    .await;
    let a = create_user(&app, "a").await;
    let b = create_user(&app, "b").await;

    let mut ws = raw_client(&app, a).await;
    ws.send(Message::text("x".repeat(70_000))).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));

    let mut ws = raw_client(&app, a).await;
    let mut bad = b"{\"type\": \"init\", \"x\": \"".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    // tungstenite's client refuses to build such a frame; send it as raw bytes.
    let frame = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
        bad,
        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    ws.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Invalid));

    // A client that never reads never answers a ping: closed as idle, with 1001.
    let mut idle = raw_client(&app, b).await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!(close_code(&mut idle).await, Some(CloseCode::Away));

    // A client that reads (and so answers pings) stays.
    let mut alive = WsClient::connect(&app, b).await;
    alive.init(HELSINKI).await;
    alive.assert_silent(Duration::from_millis(1_600)).await;

    // Two sockets per user at most here: the third is refused with 429.
    let _second = WsClient::connect(&app, b).await;
    match tokio_tungstenite::connect_async(ws_url(&app, b)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!("a third socket must be refused: {:?}", other.map(|_| ())),
    }
    // Closing one frees its place.
    alive.ws.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _third = WsClient::connect(&app, b).await;
}

/// A client that stops reading is closed after the write timeout instead of holding its
/// buffers forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_closed_after_the_write_timeout() {
    let app = spawn_app_with(
        Backend::Embedded,
        stalling(friends_with(friends::FriendsConfig {
            nearby_person_interval_s: 0.01,
            ws_write_timeout_s: 1.0,
            ..friends::FriendsConfig::default()
        })),
    )
    .await;
    let b = create_user(&app, "b").await;
    let mut strangers = Vec::new();
    for n in 0..6 {
        let id = create_user(&app, &format!("s{n}")).await;
        let mut client = WsClient::connect(&app, id).await;
        client
            .send(opt_in(north_of(HELSINKI, 50.0 * n as f64)))
            .await;
        // The strangers read, so that the one-second write timeout closes b alone and the
        // flood goes on.
        strangers.push(tokio::spawn(async move {
            while let Some(Ok(_)) = client.ws.next().await {}
        }));
    }
    let mut cb = connect_small_buffer(&app, b).await;
    cb.send(opt_in(HELSINKI)).await;
    // b does not read; its writes block and time out after a second.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for stranger in strangers {
        stranger.abort();
    }
    // Reading now finds what the kernel buffered, then the end of the connection (with
    // the server still holding it, the stream would only fall quiet).
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match cb.ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled socket was never closed");
}
