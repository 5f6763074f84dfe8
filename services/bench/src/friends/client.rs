//! One client process (`geostack-bench friends-client`): holds its share of the users'
//! WebSockets, walks them around the city, and reports what it sent and received.

use super::*;

pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the parent has asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
    /// Send from `start` (Unix seconds); count what was sent in `[window_start, window_end)`.
    Go {
        start: f64,
        window_start: f64,
        window_end: f64,
    },
    Stop,
    Exit,
}

/// Only what the client needs of a server frame.
#[derive(Deserialize)]
pub(super) struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: &'a str,
    #[serde(default)]
    pub(super) timestamp: Option<f64>,
    #[serde(default)]
    pub(super) status: Option<u16>,
}

pub(super) const LATENCY_SHARDS: usize = 16;

/// Counters of one client process.
pub(super) struct ClientStats {
    pub(super) ready: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) open: AtomicI64,
    pub(super) sent: AtomicU64,
    pub(super) sent_window: AtomicU64,
    pub(super) deliveries: AtomicU64,
    pub(super) deliveries_window: AtomicU64,
    pub(super) friend_left: AtomicU64,
    pub(super) unparsed: AtomicU64,
    pub(super) lost: AtomicU64,
    pub(super) going_away: AtomicU64,
    pub(super) errors: Mutex<BTreeMap<u16, u64>>,
    pub(super) first_failure: Mutex<Option<String>>,
    pub(super) latency: Vec<Mutex<Histogram<u64>>>,
}

impl ClientStats {
    pub(super) fn new() -> ClientStats {
        ClientStats {
            ready: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            open: AtomicI64::new(0),
            sent: AtomicU64::new(0),
            sent_window: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            deliveries_window: AtomicU64::new(0),
            friend_left: AtomicU64::new(0),
            unparsed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            going_away: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            first_failure: Mutex::new(None),
            latency: (0..LATENCY_SHARDS)
                .map(|_| Mutex::new(new_latency_histogram()))
                .collect(),
        }
    }

    /// Counts a text frame; `window` selects the deliveries whose latency is recorded.
    /// Returns the frame type when it is `nearby_friends` or `error`.
    pub(super) fn on_frame(
        &self,
        text: &str,
        window: (f64, f64),
        shard: usize,
    ) -> Option<&'static str> {
        let Ok(frame) = serde_json::from_str::<Incoming>(text) else {
            self.unparsed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match frame.kind {
            "friend_location" => {
                self.deliveries.fetch_add(1, Ordering::Relaxed);
                if let Some(ts) = frame.timestamp
                    && ts >= window.0
                    && ts < window.1
                {
                    self.deliveries_window.fetch_add(1, Ordering::Relaxed);
                    let us = ((now_unix() - ts) * 1e6).clamp(1.0, LATENCY_MAX_US as f64) as u64;
                    let mut hist = self.latency[shard % LATENCY_SHARDS]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    let _ = hist.record(us);
                }
                None
            }
            "friend_left" => {
                self.friend_left.fetch_add(1, Ordering::Relaxed);
                None
            }
            "nearby_friends" => Some("nearby_friends"),
            "error" => {
                let status = frame.status.unwrap_or(0);
                *self
                    .errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(status)
                    .or_insert(0) += 1;
                Some("error")
            }
            _ => None,
        }
    }

    pub(super) fn fail(&self, err: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(err);
        }
    }

    pub(super) fn result_line(&self) -> Value {
        let mut merged = new_latency_histogram();
        for shard in &self.latency {
            let _ = merged.add(&*shard.lock().unwrap_or_else(|e| e.into_inner()));
        }
        let latency: Vec<[u64; 2]> = merged
            .iter_recorded()
            .map(|v| [v.value_iterated_to(), v.count_at_value()])
            .collect();
        let errors: BTreeMap<String, u64> = self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "event": "result",
            "open": self.open.load(Ordering::Relaxed),
            "sent": get(&self.sent),
            "sent_window": get(&self.sent_window),
            "deliveries": get(&self.deliveries),
            "deliveries_window": get(&self.deliveries_window),
            "friend_left": get(&self.friend_left),
            "unparsed": get(&self.unparsed),
            "lost": get(&self.lost),
            "errors": errors,
            "latency_us": latency,
        })
    }
}

/// A tiny seeded generator for the moves (8 bytes per connection).
pub(super) struct SplitMix(pub(super) u64);

impl SplitMix {
    pub(super) fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Everything a connection task shares.
pub(super) struct ClientContext {
    pub(super) port: u16,
    pub(super) interval: Duration,
    pub(super) step_m: f64,
    pub(super) half_m: f64,
    pub(super) seed: u64,
    pub(super) config: WebSocketConfig,
    pub(super) stats: ClientStats,
}

/// A random step of at most `step` metres along each axis, reflected at the edges of the
/// square of half-side `half`.
pub(super) fn walk(from: Xy, rng: &mut SplitMix, step: f64, half: f64) -> Xy {
    let reflect = |v: f64| {
        if v > half {
            2.0 * half - v
        } else if v < -half {
            -2.0 * half - v
        } else {
            v
        }
    };
    Xy {
        x: reflect(from.x + (rng.next_f64() * 2.0 - 1.0) * step),
        y: reflect(from.y + (rng.next_f64() * 2.0 - 1.0) * step),
    }
}

pub(super) fn location_frame(kind: &str, at: Xy, timestamp: f64) -> String {
    let p = to_latlon(at);
    format!(
        r#"{{"type":"{kind}","latitude":{:.7},"longitude":{:.7},"timestamp":{timestamp:.6}}}"#,
        p.lat, p.lon
    )
}

pub(super) fn emit(value: Value) {
    println!("{value}");
}

/// `bench friends-client`: connects `count` users, reports, then follows stdin.
///
/// It runs on one thread of its own (a current-thread runtime): a client's work is many
/// small wake-ups, which one thread serves without cross-thread wake-ups and work
/// stealing, leaving more of the machine to the server under test.
pub async fn client(args: ClientArgs) -> anyhow::Result<()> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    kit::runtime::run_on_thread("friends-client", async move {
        let _ = done_tx.send(client_inner(&args).await);
    })?;
    let outcome = done_rx
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the client thread panicked")));
    if let Err(err) = &outcome {
        emit(json!({"event": "error", "message": format!("{err:#}")}));
    }
    outcome
}

pub(super) async fn client_inner(args: &ClientArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.first + args.count <= args.total,
        "users {}..{} are beyond --total {}",
        args.first,
        args.first + args.count,
        args.total
    );
    let side_m = args.area_km * 1000.0;
    let positions = place_users(args.total, side_m, args.seed);
    let auth = kit::auth::Auth::from_secret(args.jwt_secret.as_bytes());
    let interval = Duration::from_millis(args.interval_ms);
    let context = Arc::new(ClientContext {
        port: args.port,
        interval,
        step_m: WALK_M_PER_S * interval.as_secs_f64(),
        half_m: side_m / 2.0,
        seed: args.seed,
        config: WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(1 << 20)),
        stats: ClientStats::new(),
    });
    // One channel per connection: polling an empty one costs an atomic, not a lock.
    let mut phases = Vec::with_capacity(args.count);
    let handshakes = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mine = positions
        .iter()
        .enumerate()
        .skip(args.first)
        .take(args.count);
    for (i, &position) in mine {
        let token = auth.mint(i as i64 + 1, false, 7 * 86_400)?;
        let (phase_tx, phase_rx) = mpsc::unbounded_channel();
        phases.push(phase_tx);
        tasks.spawn(connection(
            context.clone(),
            i,
            position,
            token,
            phase_rx,
            handshakes.clone(),
        ));
    }
    let set_phase = |phase: Phase| {
        for tx in &phases {
            let _ = tx.send(phase);
        }
    };
    let stats = &context.stats;
    let started = Instant::now();
    let mut last_progress = Instant::now();
    loop {
        let ready = stats.ready.load(Ordering::Relaxed);
        let failed = stats.failed.load(Ordering::Relaxed);
        if ready + failed >= args.count as u64 {
            let first_failure = stats
                .first_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            emit(json!({
                "event": "ready",
                "ready": ready,
                "failed": failed,
                "secs": started.elapsed().as_secs_f64(),
                "first_failure": first_failure,
            }));
            break;
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            emit(json!({"event": "progress", "ready": ready, "failed": failed}));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("go") => {
                let mut number = || -> anyhow::Result<f64> {
                    Ok(words.next().context("go needs three times")?.parse()?)
                };
                let (start, window_start, window_end) = (number()?, number()?, number()?);
                set_phase(Phase::Go {
                    start,
                    window_start,
                    window_end,
                });
            }
            Some("stop") => {
                set_phase(Phase::Stop);
                emit(stats.result_line());
            }
            Some("exit") => break,
            _ => {}
        }
    }
    // The parent is done (or gone): close everything.
    set_phase(Phase::Exit);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    emit(json!({
        "event": "closed",
        "going_away": stats.going_away.load(Ordering::Relaxed),
    }));
    Ok(())
}

/// Connects (retrying), sends `init` and waits for `nearby_friends`.
pub(super) async fn connect_and_init(
    context: &ClientContext,
    at: Xy,
    token: &str,
) -> Result<Socket, String> {
    let url = format!(
        "ws://127.0.0.1:{}/v1/ws/friends?token={token}",
        context.port
    );
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
        let connected = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(context.config), true),
        )
        .await;
        let mut socket = match connected {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(err)) => {
                last = format!("connect: {err}");
                continue;
            }
            Err(_) => {
                last = "connect: timed out after 30 s".into();
                continue;
            }
        };
        if let Err(err) = socket
            .send(Message::text(location_frame("init", at, now_unix())))
            .await
        {
            last = format!("sending init: {err}");
            continue;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    match context
                        .stats
                        .on_frame(text.as_str(), (f64::INFINITY, f64::INFINITY), 0)
                    {
                        Some("nearby_friends") => return Ok(socket),
                        Some(_) => {
                            last = format!("init answered with {}", text.as_str());
                            break;
                        }
                        None => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(err))) => {
                    last = format!("waiting for nearby_friends: {err}");
                    break;
                }
                Ok(None) => {
                    last = "closed before nearby_friends".into();
                    break;
                }
                Err(_) => {
                    last = "no nearby_friends within 30 s".into();
                    break;
                }
            }
        }
    }
    Err(last)
}

/// One simulated user: connect, idle until `go`, then an update every interval (staggered
/// by a low-discrepancy offset so the load is smooth), counting what arrives.
pub(super) async fn connection(
    context: Arc<ClientContext>,
    index: usize,
    start: Xy,
    token: String,
    mut phases: mpsc::UnboundedReceiver<Phase>,
    handshakes: Arc<Semaphore>,
) {
    let stats = &context.stats;
    let mut socket = {
        let Ok(_permit) = handshakes.acquire().await else {
            return;
        };
        match connect_and_init(&context, start, &token).await {
            Ok(socket) => socket,
            Err(err) => {
                stats.fail(err);
                return;
            }
        }
    };
    stats.ready.fetch_add(1, Ordering::Relaxed);
    stats.open.fetch_add(1, Ordering::Relaxed);
    let mut rng = SplitMix(context.seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut here = start;
    // Golden-ratio offsets spread any subset of users evenly over the interval.
    let offset = context
        .interval
        .mul_f64((index as f64 * 0.618_033_988_749_894_9).fract());
    let min_gap = context.interval.mul_f64(0.95);
    let mut window = (f64::INFINITY, f64::INFINITY);
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let timer = tokio::time::sleep_until(far);
    tokio::pin!(timer);
    let mut armed = false;
    let mut scheduled = far;
    let mut closed_by_server = false;
    loop {
        tokio::select! {
            phase = phases.recv() => {
                match phase {
                    None | Some(Phase::Exit) => break,
                    Some(Phase::Go { start, window_start, window_end }) => {
                        window = (window_start, window_end);
                        scheduled = instant_at(start) + offset;
                        timer.as_mut().reset(scheduled);
                        armed = true;
                    }
                    Some(Phase::Stop) => armed = false,
                }
            }
            () = &mut timer, if armed => {
                here = walk(here, &mut rng, context.step_m, context.half_m);
                let ts = now_unix();
                if socket.send(Message::text(location_frame("location", here, ts))).await.is_err() {
                    stats.lost.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
                if ts >= window.0 && ts < window.1 {
                    stats.sent_window.fetch_add(1, Ordering::Relaxed);
                }
                // On schedule, but never closer than 95 % of the interval to the last send.
                let now = tokio::time::Instant::now();
                scheduled = (scheduled + context.interval).max(now + min_gap);
                timer.as_mut().reset(scheduled);
            }
            message = socket.next() => {
                match message {
                    Some(Ok(Message::Text(text))) => {
                        stats.on_frame(text.as_str(), window, index);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        closed_by_server = true;
                        if frame.is_some_and(|f| u16::from(f.code) == 1001) {
                            stats.going_away.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        if !closed_by_server {
                            stats.lost.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                }
            }
        }
    }
    stats.open.fetch_sub(1, Ordering::Relaxed);
}
