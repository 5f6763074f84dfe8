//! The printed report: per size a header, a table per radius, the nearest-20 table, the HTTP
//! lines and notes; then one PASS/MISS line per target of the proximity issue.

use std::fmt::Write;
use std::time::Duration;

use super::http::HttpResult;
use super::stats::Measurement;

/// One radius: the quadtree first, then each other engine that ran.
pub struct RadiusReport {
    pub radius_m: f64,
    pub rows: Vec<Measurement>,
}

/// Everything measured at one size.
pub struct SizeReport {
    pub n: usize,
    pub generate_time: Duration,
    pub build_time: Duration,
    pub index_bytes: usize,
    pub node_count: usize,
    pub leaf_capacity: usize,
    /// `/proc/loadavg` when the size started (other work on the machine skews timings).
    pub load_average: String,
    pub radii: Vec<RadiusReport>,
    /// Quadtree nearest-20 first, then PostGIS KNN when it ran.
    pub nearest: Vec<Measurement>,
    pub http: Vec<HttpResult>,
    pub notes: Vec<String>,
}

impl SizeReport {
    pub fn bytes_per_business(&self) -> f64 {
        self.index_bytes as f64 / self.n.max(1) as f64
    }

    /// The quadtree's speed-up over the engine whose name starts with `prefix` at `radius_m`.
    fn speedup(&self, radius_m: f64, prefix: &str) -> Option<f64> {
        let radius = self.radii.iter().find(|r| r.radius_m == radius_m)?;
        let quadtree = radius.rows.first()?;
        let other = radius
            .rows
            .iter()
            .skip(1)
            .find(|m| m.engine.starts_with(prefix))?;
        speedup(quadtree, other)
    }
}

/// Ratio of the other engine's mean per-query time to the quadtree's on the same centres.
fn speedup(quadtree: &Measurement, other: &Measurement) -> Option<f64> {
    let base = quadtree.mean_ns_first(other.queries());
    (base > 0.0 && other.queries() > 0).then(|| other.mean_ns() / base)
}

fn fmt_count(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn table(out: &mut String, rows: &[Measurement]) {
    let _ = writeln!(
        out,
        "  {:<44} {:>7} {:>11} {:>12} {:>11} {:>11} {:>10} {:>9}",
        "engine", "queries", "mean total", "queries/s", "p50 us", "p99 us", "speed-up", "|dtotal|"
    );
    let Some(quadtree) = rows.first() else {
        return;
    };
    for m in rows {
        let ratio = speedup(quadtree, m).map_or("-".into(), |r| format!("{r:.1}x"));
        let diff = if std::ptr::eq(m, quadtree) {
            "-".to_string()
        } else {
            format!("{:.2}", m.mean_abs_total_diff(quadtree))
        };
        let _ = writeln!(
            out,
            "  {:<44} {:>7} {:>11} {:>12.0} {:>11.1} {:>11.1} {:>10} {:>9}",
            m.engine,
            m.queries(),
            fmt_count(m.mean_total()),
            m.qps(),
            m.p50_us(),
            m.p99_us(),
            ratio,
            diff
        );
    }
    for m in rows {
        if let Some(note) = &m.note {
            let _ = writeln!(out, "  note: {note}");
        }
    }
}

pub fn render_size(r: &SizeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== bench nearby: {} synthetic businesses (generated in {:.1} s) ===",
        r.n,
        r.generate_time.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "index: quadtree built in {:.2} s; {} bytes = {:.1} bytes per business; {} nodes \
         (leaf capacity {})",
        r.build_time.as_secs_f64(),
        r.index_bytes,
        r.bytes_per_business(),
        r.node_count,
        r.leaf_capacity
    );
    let _ = writeln!(
        out,
        "load average when this size started: {}",
        r.load_average
    );
    let _ = writeln!(
        out,
        "query centres: random data points within 20 km of a city centre, jittered by up to 50 m; \
         the same list for every engine (slower engines run its first queries).\n\
         in-process engines: one query at a time on one thread (queries/s on one core); Redis \
         and PostGIS: one connection, one query at a time (queries/s = 1 / mean latency).\n\
         mean total = mean matches within r over the engine's own queries (the quadtree's \
         over all centres, so it can differ from the others' even when every total agrees).\n\
         speed-up = engine's mean per-query time / quadtree's on the same centres; |dtotal| = \
         mean |total - quadtree total| on the same centres."
    );
    for radius in &r.radii {
        let _ = writeln!(
            out,
            "\n-- total + nearest 20 within {} m --",
            radius.radius_m
        );
        table(&mut out, &radius.rows);
    }
    if !r.nearest.is_empty() {
        let _ = writeln!(out, "\n-- nearest 20 at any distance --");
        table(&mut out, &r.nearest);
    }
    for h in &r.http {
        let _ = writeln!(
            out,
            "\nHTTP GET /v1/search/nearby radius {} m limit 20: {:.0} req/s, p50 {:.2} ms, \
             p99 {:.2} ms, {} connections, {} requests in {:.1} s, {} errors; load: {}",
            h.radius_m,
            h.requests_per_s,
            h.p50_ms,
            h.p99_ms,
            h.connections,
            h.requests,
            h.seconds,
            h.errors,
            h.tool
        );
    }
    if !r.http.is_empty() {
        let _ = writeln!(
            out,
            "(the server runs in the bench process on the same 2 cores as the load generator)"
        );
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out);
        for note in &r.notes {
            let _ = writeln!(out, "note: {note}");
        }
    }
    out
}

fn check(
    out: &mut Vec<String>,
    label: &str,
    value: Option<(f64, String)>,
    pass: impl Fn(f64) -> bool,
) {
    match value {
        Some((v, shown)) => out.push(format!(
            "{} {label}: {shown}",
            if pass(v) { "PASS" } else { "MISS" }
        )),
        None => out.push(format!("n/a  {label}: not measured")),
    }
}

pub fn render_targets(reports: &[SizeReport]) -> String {
    let mut out = String::from("\n=== targets (same run, same machine) ===\n");
    for r in reports {
        let mut lines = Vec::new();
        let redis_5k = r.speedup(5000.0, "Redis");
        check(
            &mut lines,
            "total+20 at 5 km >= 100x Redis GEOSEARCH",
            redis_5k.map(|v| (v, format!("{v:.0}x"))),
            |v| v >= 100.0,
        );
        let redis_500 = r.speedup(500.0, "Redis");
        check(
            &mut lines,
            "total+20 at 500 m >= 10x Redis GEOSEARCH",
            redis_500.map(|v| (v, format!("{v:.0}x"))),
            |v| v >= 10.0,
        );
        let knn = match (r.nearest.first(), r.nearest.get(1)) {
            (Some(q), Some(p)) => speedup(q, p),
            _ => None,
        };
        check(
            &mut lines,
            "nearest-20 >= 10x PostGIS KNN",
            knn.map(|v| (v, format!("{v:.0}x"))),
            |v| v >= 10.0,
        );
        let http = r.http.iter().find(|h| h.radius_m == 1000.0);
        check(
            &mut lines,
            "HTTP at 1 km >= 20,000 searches/s with p99 < 10 ms",
            http.map(|h| {
                let ok = h.requests_per_s >= 20_000.0 && h.p99_ms < 10.0 && h.errors == 0;
                (
                    if ok { 1.0 } else { 0.0 },
                    format!(
                        "{:.0} req/s, p99 {:.2} ms, {} errors",
                        h.requests_per_s, h.p99_ms, h.errors
                    ),
                )
            }),
            |v| v > 0.5,
        );
        let bpb = r.bytes_per_business();
        check(
            &mut lines,
            "index <= 32 bytes per business",
            Some((bpb, format!("{bpb:.1} B"))),
            |v| v <= 32.0,
        );
        let secs = r.build_time.as_secs_f64();
        if r.n >= 10_000_000 {
            check(
                &mut lines,
                "10M businesses indexed in < 10 s",
                Some((secs, format!("{secs:.2} s for {}", r.n))),
                |v| v < 10.0,
            );
        }
        let _ = writeln!(out, "n = {}: {}", r.n, lines.join("; "));
    }
    if !reports.iter().any(|r| r.n >= 10_000_000) {
        out.push_str("n/a  10M businesses indexed in < 10 s: no size >= 10,000,000 in this run\n");
    }
    out
}
