//! The report: a table per deployment and the PASS/MISS lines of the targets.

use super::*;

pub(super) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

pub(super) fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Share of deliveries per latency band (a bump at 40 ms is TCP's delayed ACK meeting
/// Nagle's algorithm on a socket without `TCP_NODELAY`).
pub(super) fn latency_buckets(latency: &Histogram<u64>) -> String {
    pub(super) const EDGES_MS: [u64; 8] = [1, 5, 20, 35, 50, 100, 500, 1000];
    let mut counts = [0u64; EDGES_MS.len() + 1];
    for v in latency.iter_recorded() {
        let ms = v.value_iterated_to() as f64 / 1000.0;
        let band = EDGES_MS
            .iter()
            .position(|&edge| ms < edge as f64)
            .unwrap_or(EDGES_MS.len());
        counts[band] += v.count_at_value();
    }
    let total = latency.len().max(1) as f64;
    let mut low = 0;
    let mut parts = Vec::new();
    for (band, count) in counts.iter().enumerate() {
        let label = match EDGES_MS.get(band) {
            Some(high) => format!("{low}-{high}"),
            None => format!(">={low}"),
        };
        parts.push(format!("{label} ms {:.2} %", *count as f64 / total * 100.0));
        low = EDGES_MS.get(band).copied().unwrap_or(low);
    }
    parts.join(", ")
}

#[expect(
    clippy::too_many_lines,
    reason = "the report's layout, one section after another"
)]
pub(super) fn render(r: &Report, plan: &Plan, graph: &GraphStats) -> String {
    let mut out = String::new();
    let row = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "  {label:<34} {value}");
    };
    let _ = writeln!(
        out,
        "\n== {} ({}) ==",
        r.deployment.name(),
        r.deployment.describe()
    );
    let counter = |name: &str| r.server_counters.get(name).copied().unwrap_or(0.0);
    row(
        &mut out,
        "setup",
        format!(
            "users and friendships written in {:.1} s; server ready in {:.1} s",
            r.load_time.as_secs_f64(),
            r.server_start.as_secs_f64()
        ),
    );
    row(
        &mut out,
        "connect (init -> nearby_friends)",
        format!(
            "{} of {} in {:.1} s from {} client processes{}",
            thousands(r.ready as f64),
            thousands(plan.clients as f64),
            r.connect_time.as_secs_f64(),
            plan.shares.len(),
            if r.failed > 0 {
                format!(
                    "; {} failed (first: {})",
                    r.failed,
                    r.first_failure.as_deref().unwrap_or("?")
                )
            } else {
                String::new()
            }
        ),
    );
    row(
        &mut out,
        "server RSS idle",
        format!(
            "{} before clients, {} with {} idle connections: {:.1} KiB per connection",
            mib(r.rss_base),
            mib(r.rss_idle),
            thousands(r.ready as f64),
            r.idle_bytes_per_connection() / 1024.0
        ),
    );
    let _ = writeln!(
        out,
        "  steady state: {:.1} s measured after {} s of warm-up; {} clients with {} friends each, \
         one update per client every {} ms (server minimum {} ms, write gap {})",
        r.window_s,
        plan.warmup.as_secs(),
        thousands(plan.clients as f64),
        plan.friends,
        plan.interval_ms,
        plan.min_interval_ms,
        plan.write_gap_ms
            .map_or("the server default".into(), |gap| format!("{gap} ms"))
    );
    row(
        &mut out,
        "connections held",
        format!(
            "{} open at the end (server gauge: idle {}, end {}){}",
            thousands(r.held as f64),
            r.gauge_idle.map_or("?".into(), thousands),
            r.gauge_end.map_or("?".into(), thousands),
            if r.lost > 0 {
                format!("; {} lost", r.lost)
            } else {
                String::new()
            }
        ),
    );
    let offered = plan.clients as f64 * 1000.0 / plan.interval_ms as f64;
    row(
        &mut out,
        "updates/s",
        format!(
            "{} sent (offered {}), {} accepted by the server",
            thousands(r.per_s(r.sent)),
            thousands(offered),
            thousands(counter("friends_updates_total") / r.window_s)
        ),
    );
    row(
        &mut out,
        "deliveries/s (friend_location)",
        format!(
            "{} received, {} forwarded by the server; {:.2} per update (graph: {:.2})",
            thousands(r.per_s(r.deliveries)),
            thousands(counter("friends_deliveries_total") / r.window_s),
            r.deliveries as f64 / r.sent.max(1) as f64,
            graph.fan_out
        ),
    );
    row(
        &mut out,
        "latency send -> friend receives",
        if r.latency.is_empty() {
            "no deliveries".into()
        } else {
            format!(
                "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
                r.p(0.50),
                r.p(0.90),
                r.p(0.99),
                r.p(0.999),
                r.latency.max() as f64 / 1000.0
            )
        },
    );
    if !r.latency.is_empty() {
        row(
            &mut out,
            "latency distribution",
            latency_buckets(&r.latency),
        );
    }
    row(
        &mut out,
        "error frames (whole run)",
        if r.errors.is_empty() {
            "none".into()
        } else {
            r.errors
                .iter()
                .map(|(status, n)| format!("{status}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    row(
        &mut out,
        "other frames (whole run)",
        format!("{} friend_left, {} unparsed", r.friend_left, r.unparsed),
    );
    row(
        &mut out,
        "server counters in the window",
        format!(
            "{} publishes failed, {} events dropped, {} updates rate-limited, \
             {} history rows written, {} dropped",
            thousands(counter("friends_publish_failed_total")),
            thousands(counter("friends_events_dropped_total")),
            thousands(counter("friends_updates_rate_limited_total")),
            thousands(counter("friends_history_written_total")),
            thousands(counter("friends_history_dropped_total"))
        ),
    );
    row(
        &mut out,
        "server CPU, RSS",
        format!(
            "{:.0} % of one core; RSS {} at the end ({:.1} KiB per connection)",
            r.server_cpu,
            mib(r.rss_end),
            r.rss_end as f64 / r.held.max(1) as f64 / 1024.0
        ),
    );
    let mut others = format!("clients {:.0} %", r.clients_cpu);
    if let Some(cpu) = r.redis_cpu {
        let _ = write!(others, ", Redis (3 servers) {cpu:.0} %");
    }
    if let Some(cpu) = r.postgres_cpu {
        let _ = write!(others, ", PostgreSQL backends {cpu:.0} %");
    }
    if let Some(busy) = r.machine_busy {
        let _ = write!(
            others,
            "; machine {busy:.0} % busy of {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    row(&mut out, "other CPU (% of one core)", others);
    row(
        &mut out,
        "drain (SIGTERM -> exit)",
        match r.drain {
            Some(took) => format!(
                "{:.2} s with DRAIN_GRACE_S = {DRAIN_GRACE_S}; {} clients got 1001 going away; {}",
                took.as_secs_f64(),
                thousands(r.going_away as f64),
                r.drain_note
            ),
            None => r.drain_note.clone(),
        },
    );
    row(
        &mut out,
        "server log",
        format!("{} warnings, {} errors", r.log.warnings, r.log.errors),
    );
    for sample in &r.log.samples {
        let _ = writeln!(out, "    {sample}");
    }
    out
}

pub(super) fn render_targets(
    reports: &[Report],
    failures: &[(Deployment, String)],
    plan: &Plan,
) -> String {
    let mut out = String::from("\ntargets (2-core machine; clients, server and Redis share it):\n");
    let mut line = |pass: bool, text: String| {
        let _ = writeln!(out, "  {}  {text}", if pass { "PASS" } else { "MISS" });
    };
    for r in reports {
        let name = r.deployment.name();
        if plan.clients >= 19_000 {
            line(
                r.held >= 19_000,
                format!(
                    "{name}: {} connections held by one server process (target >= 19,000)",
                    thousands(r.held as f64)
                ),
            );
        }
        let target = r.deployment.deliveries_target();
        line(
            r.per_s(r.deliveries) >= target,
            format!(
                "{name}: {} deliveries/s sustained (target >= {})",
                thousands(r.per_s(r.deliveries)),
                thousands(target)
            ),
        );
        let p99 = (!r.latency.is_empty()).then(|| r.p(0.99));
        line(
            p99.is_some_and(|p| p < 100.0),
            format!(
                "{name}: p99 latency {} (target < 100 ms)",
                p99.map_or("n/a".into(), |p| format!("{p:.1} ms"))
            ),
        );
        let per_conn = r.idle_bytes_per_connection() / 1024.0;
        line(
            per_conn <= 16.0,
            format!(
                "{name}: {per_conn:.1} KiB server memory per idle connection (target <= 16 KiB)"
            ),
        );
    }
    for (deployment, err) in failures {
        line(
            false,
            format!("{}: did not complete: {err}", deployment.name()),
        );
    }
    if plan.clients < 19_000 {
        let _ = writeln!(
            out,
            "  (the 19,000-connection target is checked only with --clients >= 19000; with {} \
             clients the offered load is {} updates/s)",
            plan.clients,
            thousands(plan.clients as f64 * 1000.0 / plan.interval_ms as f64)
        );
    }
    out
}
