//! Per-client-IP token bucket for anonymous endpoints (`RATE_LIMIT_PER_IP`, 0 = off).
//!
//! A plain mutex over a map is enough: the critical section is a few arithmetic operations,
//! far shorter than anything else a request does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// Shared limiter state.
#[derive(Clone)]
pub struct IpRateLimiter {
    per_second: f64,
    buckets: Arc<Mutex<HashMap<IpAddr, Bucket>>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Most client IPs tracked (about 50 bytes each with the map's slack: 5 MB). A flood from
/// more addresses than this within a second or so resets the buckets, which costs the
/// limiter precision under exactly the attack it cannot stop, and never costs memory.
const MAX_TRACKED: usize = 100_000;

impl IpRateLimiter {
    pub fn new(per_second: u32) -> IpRateLimiter {
        IpRateLimiter {
            per_second: per_second as f64,
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes one token for `ip`; `Err(wait)` when none is left.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let burst = self.per_second.max(1.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            // A bucket that has refilled is no different from a new one: forget it.
            let per_second = self.per_second;
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < burst
            });
            // Still crowded: start over, rather than sweep again on every request.
            if buckets.len() >= MAX_TRACKED / 2 {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

/// Middleware: every request except the ops endpoints counts against its client IP (a token
/// is not checked here, so carrying one must not exempt a client).
pub async fn limit_per_ip(
    State(limiter): State<IpRateLimiter>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let exempt = matches!(path, "/healthz" | "/livez" | "/readyz" | "/metrics");
    if !exempt {
        let ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(ip) = ip
            && let Err(wait) = limiter.check(ip)
        {
            return ApiError::RateLimited { retry_after: wait }.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_then_refills() {
        let limiter = IpRateLimiter::new(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_err());
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.check(other).is_ok());
        std::thread::sleep(Duration::from_millis(600));
        assert!(limiter.check(ip).is_ok());
    }

    #[test]
    fn a_flood_of_addresses_is_tracked_within_the_bound() {
        let limiter = IpRateLimiter::new(1);
        for i in 0..(MAX_TRACKED as u32 * 3) {
            let ip = IpAddr::from(std::net::Ipv6Addr::from(u128::from(i) + 1));
            let _ = limiter.check(ip);
            let _ = limiter.check(ip);
        }
        let tracked = limiter.buckets.lock().unwrap().len();
        assert!(tracked <= MAX_TRACKED, "{tracked}");
        // A client limited just now stays limited.
        let busy: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(limiter.check(busy).is_ok());
        assert!(limiter.check(busy).is_err());
    }
}

/// At most one event per key (a user id) per interval, such as one location update per
/// second per user. The last accepted time is compared and replaced atomically per key;
/// the cache's expiry only frees memory (an expired entry may stay visible until moka's
/// maintenance runs, so the time is compared, not the entry's presence).
#[derive(Clone)]
pub struct PerKeyInterval {
    interval: Duration,
    recent: Option<moka::sync::Cache<i64, Instant>>,
}

impl PerKeyInterval {
    /// `interval` zero: everything passes.
    pub fn new(interval: Duration) -> PerKeyInterval {
        let recent = (!interval.is_zero())
            .then(|| moka::sync::Cache::builder().time_to_live(interval).build());
        PerKeyInterval { interval, recent }
    }

    /// Whether `key` may act now (and, if so, counts it): `Err(wait)` otherwise.
    pub fn take(&self, key: i64) -> Result<(), Duration> {
        use moka::ops::compute::Op;
        let Some(recent) = &self.recent else {
            return Ok(());
        };
        let now = Instant::now();
        let mut wait = None;
        recent.entry(key).and_compute_with(|last| match last {
            Some(last) if now.saturating_duration_since(*last.value()) < self.interval => {
                wait = Some(self.interval - now.saturating_duration_since(*last.value()));
                Op::Nop
            }
            _ => Op::Put(now),
        });
        wait.map_or(Ok(()), Err)
    }
}
