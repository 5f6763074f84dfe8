//! The report: a table per extract, a summary table, and the PASS/MISS lines of the import
//! issue's targets.

use super::*;

pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Figures of one extract, derived from its runs.
pub(super) struct Figures {
    pub(super) ours_seconds: Option<f64>,
    pub(super) ours_peak: Option<u64>,
    pub(super) tile_bytes: Option<u64>,
    pub(super) anchor_seconds: Option<f64>,
    pub(super) anchor_peak: Option<u64>,
}

impl ExtractReport {
    pub(super) fn figures(&self) -> Figures {
        let ours = self.ours.as_ref().ok();
        let anchor = match &self.anchor {
            Anchor::Done(a) => Some(a),
            _ => None,
        };
        Figures {
            ours_seconds: ours.map(|r| median(r.iter().map(|r| r.wall.as_secs_f64()).collect())),
            ours_peak: ours.and_then(|r| r.iter().filter_map(peak_of).max()),
            tile_bytes: ours.and_then(|r| r.first()).map(|r| r.summary.tile_bytes),
            anchor_seconds: anchor
                .map(|a| median(a.runs.iter().map(|r| r.wall.as_secs_f64()).collect())),
            anchor_peak: anchor.and_then(|a| a.runs.iter().filter_map(|r| r.peak_bytes).max()),
        }
    }

    pub(super) fn speedup(&self) -> Option<f64> {
        let f = self.figures();
        Some(f.anchor_seconds? / f.ours_seconds?)
    }

    pub(super) fn is_porto(&self) -> bool {
        self.name.starts_with("porto")
    }
}

/// Peak memory of one of our runs: GNU time's figure, else the child's own VmHWM.
pub(super) fn peak_of(run: &OursRun) -> Option<u64> {
    run.peak_bytes.or(run.summary.peak_rss_bytes)
}

pub(super) fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("?".into(), |b| format!("{:.1}", b as f64 / MIB))
}

/// 1234567 -> "1,234,567".
pub(super) fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn secs_list(values: impl Iterator<Item = Duration>) -> String {
    values
        .map(|d| format!("{:.3}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[expect(
    clippy::too_many_lines,
    reason = "the report's layout, one table after another"
)]
pub(super) fn render_extract(
    r: &ExtractReport,
    runs: usize,
    tools: Option<&AnchorTools>,
) -> String {
    let mut out = String::new();
    let f = r.figures();
    let _ = writeln!(
        out,
        "\n=== bench import: {} ({} bytes, {:.2} MB) ===",
        r.name,
        thousands(r.input_bytes),
        r.input_bytes as f64 / 1e6
    );
    let anchor_name = tools.map_or("osm2pgrouting".into(), |t| t.version.clone());
    let _ = writeln!(
        out,
        "  {:<34} {:<50} {}",
        "", "geostack import roads", anchor_name
    );
    let row = |out: &mut String, label: &str, ours: String, anchor: String| {
        let _ = writeln!(out, "  {label:<34} {ours:<50} {anchor}");
    };
    let anchor = match &r.anchor {
        Anchor::Done(a) => Ok(a),
        Anchor::Skipped(why) => Err(format!("skipped ({why})")),
        Anchor::Failed(_) => Err("FAILED (see note)".to_string()),
    };
    let runs_ours: &[OursRun] = match &r.ours {
        Ok(runs) => runs,
        Err(err) => {
            let _ = writeln!(out, "  our import FAILED: {err}");
            &[]
        }
    };
    let osm_nodes = runs_ours.first().map(|r| r.summary.graph.osm_nodes);
    row(
        &mut out,
        &format!("median seconds, wall ({runs} run(s))"),
        f.ours_seconds.map_or("-".into(), |s| {
            format!("{s:.3} [{}]", secs_list(runs_ours.iter().map(|r| r.wall)))
        }),
        match &anchor {
            Ok(a) => format!(
                "{:.3} [{}]",
                f.anchor_seconds.unwrap_or(f64::NAN),
                secs_list(a.runs.iter().map(|r| r.wall))
            ),
            Err(e) => e.clone(),
        },
    );
    if !runs_ours.is_empty() {
        let reported =
            |g: fn(&Summary) -> f64| median(runs_ours.iter().map(|r| g(&r.summary)).collect());
        row(
            &mut out,
            "median seconds, reported by import",
            format!(
                "{:.3} (read {:.3}, build {:.3}, encode {:.3}, write {:.3})",
                reported(|s| s.seconds),
                reported(|s| s.read_seconds),
                reported(|s| s.build_seconds),
                reported(|s| s.encode_seconds),
                reported(|s| s.write_seconds)
            ),
            String::new(),
        );
    }
    if let (Some(nodes), Some(s)) = (osm_nodes, f.ours_seconds) {
        row(
            &mut out,
            "OSM nodes read per second (wall)",
            format!(
                "{} ({} nodes)",
                thousands((nodes as f64 / s) as u64),
                thousands(nodes)
            ),
            f.anchor_seconds
                .map_or(String::new(), |a| thousands((nodes as f64 / a) as u64)),
        );
    }
    let self_reported = runs_ours
        .iter()
        .filter_map(|r| r.summary.peak_rss_bytes)
        .max();
    row(
        &mut out,
        "peak RSS MiB (max of runs)",
        if runs_ours.is_empty() {
            "-".into()
        } else {
            format!(
                "{} (GNU time; own VmHWM {})",
                mib(f.ours_peak),
                mib(self_reported)
            )
        },
        if anchor.is_ok() {
            format!("{} (GNU time)", mib(f.anchor_peak))
        } else {
            String::new()
        },
    );
    if let Some(first) = runs_ours.first() {
        let g = &first.summary.graph;
        let rows = match &anchor {
            Ok(a) => a.runs.first().map_or(String::new(), |r| {
                format!(
                    "{} ways rows (edges), {} vertices",
                    thousands(r.ways as u64),
                    thousands(r.vertices as u64)
                )
            }),
            Err(_) => String::new(),
        };
        row(
            &mut out,
            "graph nodes / edges",
            format!(
                "{} / {} ({} OSM ways)",
                thousands(g.graph_nodes),
                thousands(g.graph_edges),
                thousands(g.osm_ways)
            ),
            rows,
        );
        for level in &first.summary.levels {
            row(
                &mut out,
                &format!("tiles {} ({}°)", level.level, level.tile_size_deg),
                format!(
                    "{} tiles, {} bytes",
                    thousands(level.tiles),
                    thousands(level.bytes)
                ),
                String::new(),
            );
        }
        let tb = first.summary.tile_bytes;
        row(
            &mut out,
            "tile bytes (tiles / input)",
            format!(
                "{} ({:.2}x input)",
                thousands(tb),
                tb as f64 / r.input_bytes as f64
            ),
            String::new(),
        );
    }
    if let Some(x) = r.speedup() {
        let _ = writeln!(out, "  {:<34} {x:.1}x", "speed-up (osm2pgrouting / ours)");
    }
    match &r.anchor {
        Anchor::Done(a) => {
            let _ = writeln!(out, "  note: osm2pgrouting input: {}", a.conversion);
        }
        Anchor::Failed(err) => {
            let _ = writeln!(out, "  note: osm2pgrouting failed: {err}");
        }
        Anchor::Skipped(_) => {}
    }
    out
}

pub(super) fn render_summary(reports: &[ExtractReport]) -> String {
    let mut out = String::from("\n=== bench import: all extracts (median wall seconds) ===\n");
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>8} {:>10} {:>8} {:>9} {:>7} {:>9} {:>8} {:>8} {:>8}",
        "extract",
        "input MB",
        "ours s",
        "nodes/s",
        "ours MiB",
        "tiles MB",
        "t/input",
        "o2pgr s",
        "o2pgr MiB",
        "ways",
        "speed-up"
    );
    for r in reports {
        let f = r.figures();
        let nodes = r
            .ours
            .as_ref()
            .ok()
            .and_then(|runs| runs.first())
            .map(|r| r.summary.graph.osm_nodes);
        let ways = match &r.anchor {
            Anchor::Done(a) => a.runs.first().map(|r| thousands(r.ways as u64)),
            _ => None,
        };
        let _ = writeln!(
            out,
            "  {:<24} {:>9.2} {:>8} {:>10} {:>8} {:>9} {:>7} {:>9} {:>8} {:>8} {:>8}",
            r.name,
            r.input_bytes as f64 / 1e6,
            f.ours_seconds
                .map_or("FAILED".into(), |s| format!("{s:.3}")),
            match (nodes, f.ours_seconds) {
                (Some(n), Some(s)) => thousands((n as f64 / s) as u64),
                _ => "-".into(),
            },
            mib(f.ours_peak),
            f.tile_bytes
                .map_or("-".into(), |b| format!("{:.2}", b as f64 / 1e6)),
            f.tile_bytes.map_or("-".into(), |b| format!(
                "{:.2}",
                b as f64 / r.input_bytes as f64
            )),
            match &r.anchor {
                Anchor::Done(_) => f.anchor_seconds.map_or("-".into(), |s| format!("{s:.2}")),
                Anchor::Skipped(_) => "skipped".into(),
                Anchor::Failed(_) => "FAILED".into(),
            },
            mib(f.anchor_peak),
            ways.unwrap_or_else(|| "-".into()),
            r.speedup().map_or("-".into(), |x| format!("{x:.1}x")),
        );
    }
    out.push_str(
        "  (ours: geostack import roads as a child process, wall clock from spawn to exit; \
         osm2pgrouting: wall clock of the import into an empty PostGIS + pgRouting database, \
         XML conversion excluded; peak = max over runs of GNU time's maximum RSS)\n",
    );
    out
}

pub(super) fn render_targets(reports: &[ExtractReport]) -> String {
    let mut out = String::from("\n=== targets (same run, same machine) ===\n");
    let verdict = |pass: bool| if pass { "PASS" } else { "MISS" };

    // 1. At least 10x faster than osm2pgrouting on every extract.
    let measured: Vec<(&str, f64)> = reports
        .iter()
        .filter_map(|r| Some((r.name.as_str(), r.speedup()?)))
        .collect();
    let unmeasured: Vec<&str> = reports
        .iter()
        .filter(|r| r.speedup().is_none())
        .map(|r| r.name.as_str())
        .collect();
    if measured.is_empty() {
        out.push_str("n/a  >= 10x faster than osm2pgrouting: not measured\n");
    } else {
        let slow: Vec<String> = measured
            .iter()
            .filter(|(_, x)| *x < 10.0)
            .map(|(n, x)| format!("{n} {x:.1}x"))
            .collect();
        let min = measured
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(String::new(), |(n, x)| format!("lowest {x:.1}x on {n}"));
        let _ = write!(
            out,
            "{} >= 10x faster than osm2pgrouting on every extract: {min}",
            verdict(slow.is_empty() && unmeasured.is_empty())
        );
        if !slow.is_empty() {
            let _ = write!(out, "; below 10x: {}", slow.join(", "));
        }
        if !unmeasured.is_empty() {
            let _ = write!(out, "; not measured: {}", unmeasured.join(", "));
        }
        out.push('\n');
    }

    // 2 and 3. Porto under 5 s and under 1 GiB.
    match reports.iter().find(|r| r.is_porto()) {
        None => out.push_str(
            "n/a  Porto imported in < 5 s: porto not in this run\n\
             n/a  Porto peak memory < 1 GiB: porto not in this run\n",
        ),
        Some(porto) => {
            let f = porto.figures();
            match f.ours_seconds {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "{} Porto imported in < 5 s: {s:.2} s (median wall)",
                        verdict(s < 5.0)
                    );
                }
                None => out.push_str("MISS Porto imported in < 5 s: the import failed\n"),
            }
            match f.ours_peak {
                Some(b) => {
                    let _ = writeln!(
                        out,
                        "{} Porto peak memory < 1 GiB: {:.1} MiB",
                        verdict(b < GIB),
                        b as f64 / MIB
                    );
                }
                None => out.push_str("n/a  Porto peak memory < 1 GiB: not measured\n"),
            }
        }
    }

    // 4. Tiles smaller than the input, per extract.
    let mut bigger = Vec::new();
    let mut worst: Option<(&str, f64)> = None;
    for r in reports {
        match r.figures().tile_bytes {
            Some(b) => {
                let ratio = b as f64 / r.input_bytes as f64;
                if b >= r.input_bytes {
                    bigger.push(format!("{} {ratio:.2}x", r.name));
                }
                if worst.is_none_or(|(_, w)| ratio > w) {
                    worst = Some((r.name.as_str(), ratio));
                }
            }
            None => bigger.push(format!("{} not measured", r.name)),
        }
    }
    let _ = write!(
        out,
        "{} tiles smaller than the input on every extract: {}",
        verdict(bigger.is_empty()),
        worst.map_or("no tiles".into(), |(n, w)| format!(
            "largest ratio {w:.2}x on {n}"
        ))
    );
    if !bigger.is_empty() {
        let _ = write!(out, "; not smaller: {}", bigger.join(", "));
    }
    out.push('\n');
    out
}
