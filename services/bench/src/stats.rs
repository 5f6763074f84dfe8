//! Latency recording: one [`Recorder`] per engine and radius, turned into a [`Measurement`]
//! (an HDR histogram of nanoseconds plus the total each query returned, in centre order).

use std::time::Duration;

use hdrhistogram::Histogram;

/// What one engine did on one workload.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub engine: String,
    /// Latency per query, nanoseconds.
    pub hist: Histogram<u64>,
    /// Results returned per query (the total of matches, or the hits for nearest-k), in the
    /// order of the shared centre list.
    pub totals: Vec<usize>,
    /// Latency per query, nanoseconds, in the same order.
    pub latencies_ns: Vec<u64>,
    /// Extra remark printed under the table (how it was run).
    pub note: Option<String>,
}

impl Measurement {
    pub fn queries(&self) -> usize {
        self.totals.len()
    }

    pub fn mean_total(&self) -> f64 {
        if self.totals.is_empty() {
            return 0.0;
        }
        self.totals.iter().sum::<usize>() as f64 / self.totals.len() as f64
    }

    pub fn mean_ns(&self) -> f64 {
        self.hist.mean()
    }

    /// Exact mean latency of the first `k` queries (the centres a slower engine also ran).
    pub fn mean_ns_first(&self, k: usize) -> f64 {
        let k = k.min(self.latencies_ns.len());
        if k == 0 {
            return 0.0;
        }
        self.latencies_ns[..k].iter().sum::<u64>() as f64 / k as f64
    }

    /// Queries per second of one client issuing one query at a time: 1 / mean latency.
    pub fn qps(&self) -> f64 {
        let mean = self.mean_ns();
        if mean > 0.0 { 1e9 / mean } else { 0.0 }
    }

    pub fn p50_us(&self) -> f64 {
        self.hist.value_at_quantile(0.50) as f64 / 1e3
    }

    pub fn p99_us(&self) -> f64 {
        self.hist.value_at_quantile(0.99) as f64 / 1e3
    }

    /// Mean |total difference| against a reference over the centres both ran.
    pub fn mean_abs_total_diff(&self, reference: &Measurement) -> f64 {
        let pairs = self.totals.len().min(reference.totals.len());
        if pairs == 0 {
            return 0.0;
        }
        let sum: usize = self.totals[..pairs]
            .iter()
            .zip(&reference.totals[..pairs])
            .map(|(a, b)| a.abs_diff(*b))
            .sum();
        sum as f64 / pairs as f64
    }
}

/// Collects per-query latencies and totals.
pub struct Recorder {
    engine: String,
    hist: Histogram<u64>,
    totals: Vec<usize>,
    latencies_ns: Vec<u64>,
}

impl Recorder {
    pub fn new(engine: impl Into<String>) -> Recorder {
        Recorder {
            engine: engine.into(),
            hist: new_histogram(),
            totals: Vec::new(),
            latencies_ns: Vec::new(),
        }
    }

    pub fn record(&mut self, elapsed: Duration, total: usize) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX).max(1);
        // Values above the histogram's range are clamped rather than dropped.
        self.hist.saturating_record(ns);
        self.totals.push(total);
        self.latencies_ns.push(ns);
    }

    pub fn len(&self) -> usize {
        self.totals.len()
    }

    pub fn finish(self, note: Option<String>) -> Measurement {
        Measurement {
            engine: self.engine,
            hist: self.hist,
            totals: self.totals,
            latencies_ns: self.latencies_ns,
            note,
        }
    }
}

/// 1 ns .. 10 min at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("3 significant digits is valid"))
}

/// Stop rule for the slow engines: at most `max_queries`, and no more once `budget` has
/// passed (after a minimum of 20 queries, so percentiles still mean something).
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub max_queries: usize,
    pub budget: Duration,
}

impl Budget {
    pub fn should_stop(&self, done: usize, spent: Duration) -> bool {
        done >= self.max_queries || (done >= 20 && spent >= self.budget)
    }
}
