//! The report: a table per extract and engine, the synthetic country's figures, and the
//! PASS/MISS lines of the routing issue's targets.

use super::*;

pub(super) fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

pub(super) fn render(
    results: &[ExtractResult],
    synthetic: Option<&SyntheticResult>,
    args: &RouteArgs,
) -> String {
    let mut out = String::new();
    out.push_str("# bench route\n\n");
    out.push_str(&format!(
        "Driving, pairs of random points within about 200 m of random road nodes (seed {}), single thread; \
         tiles warm in a 1 GiB cache. Latency in ms.\n\n",
        args.seed
    ));
    for r in results {
        out.push_str(&format!("## {} ({} pairs)\n\n", r.name, r.pairs));
        out.push_str("| engine | p50 ms | p99 ms | mean ms | settled (mean) | notes |\n|---|---|---|---|---|---|\n");
        for row in &r.rows {
            let m = &row.measurement;
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.0} | {} |\n",
                m.engine,
                ms(m.p50_us()),
                ms(m.p99_us()),
                ms(m.mean_ns() / 1e3),
                m.mean_total(),
                row.detail
            ));
        }
        let ours = &r.rows[0].measurement;
        for row in &r.rows[1..] {
            let m = &row.measurement;
            if m.engine.starts_with("pgr_") {
                out.push_str(&format!(
                    "\n{}: geostack is {:.0}x faster at p50, {:.0}x at p99.",
                    m.engine,
                    m.p50_us() / ours.p50_us().max(0.001),
                    m.p99_us() / ours.p99_us().max(0.001)
                ));
            }
        }
        out.push_str(&format!(
            "\nHierarchical vs exact cost: {} of {} within 1%, worst {:.4}.\n",
            r.within_1pct, r.pairs, r.worst_ratio
        ));
        for note in &r.notes {
            out.push_str(&format!("{note}\n"));
        }
        out.push('\n');
    }
    if let Some(s) = synthetic {
        out.push_str(&format!(
            "## synthetic country: {} nodes, {} edges, {:.1} MB of tiles (generated in {:.1} s)\n\n",
            s.nodes,
            s.edges,
            s.tile_bytes as f64 / 1e6,
            s.build_seconds
        ));
        out.push_str(&format!(
            "{} west-to-east pairs, mean straight-line distance {:.0} km; tile cache limited to {:.1} MB \
             ({:.0}% of the tiles); {:.1} tiles touched per route, {} tile loads from storage in all, \
             {:.1} MB cached at the end.\n\n",
            s.pairs,
            s.mean_km,
            s.cache_bytes_limit as f64 / 1e6,
            100.0 * s.cache_bytes_limit as f64 / s.tile_bytes.max(1) as f64,
            s.tiles_per_route,
            s.fetched,
            s.cache_bytes as f64 / 1e6
        ));
        out.push_str(
            "| engine | p50 ms | p99 ms | mean ms | settled (mean) |\n|---|---|---|---|---|\n",
        );
        let mut rows = vec![&s.default];
        if let Some((exact, _)) = &s.exact {
            rows.push(exact);
        }
        for m in rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.0} |\n",
                m.engine,
                ms(m.p50_us()),
                ms(m.p99_us()),
                ms(m.mean_ns() / 1e3),
                m.mean_total()
            ));
        }
        if let Some((exact, worst)) = &s.exact {
            out.push_str(&format!(
                "\nExact mode on the first {} pairs: hierarchical cost at most {:.4}x the optimum.\n",
                exact.queries(),
                worst
            ));
        }
        out.push('\n');
    }
    out.push_str("## Targets\n\n");
    for r in results.iter().filter(|r| r.name.starts_with("porto")) {
        let ours = &r.rows[0].measurement;
        let pass = |ok: bool| if ok { "PASS" } else { "MISS" };
        out.push_str(&format!(
            "- {} Porto p50 under 1 ms in process: {} ms\n",
            pass(ours.p50_us() < 1000.0),
            ms(ours.p50_us())
        ));
        out.push_str(&format!(
            "- {} Porto p99 under 5 ms in process: {} ms\n",
            pass(ours.p99_us() < 5000.0),
            ms(ours.p99_us())
        ));
        if let Some(d) = r
            .rows
            .iter()
            .find(|row| row.measurement.engine == "pgr_dijkstra")
        {
            let ratio = d.measurement.p50_us() / ours.p50_us().max(0.001);
            out.push_str(&format!(
                "- {} at least 100x pgr_dijkstra (p50): {ratio:.0}x\n",
                pass(ratio >= 100.0)
            ));
        }
    }
    if let Some(s) = synthetic {
        out.push_str(&format!(
            "- {} synthetic {:.0} km routes under 100 ms p99: {} ms\n",
            if s.default.p99_us() < 100_000.0 {
                "PASS"
            } else {
                "MISS"
            },
            s.mean_km,
            ms(s.default.p99_us())
        ));
    }
    out
}
