//! The Redis anchor: the same points in one geo set of a Redis started for the run, queried
//! with `GEOSEARCH ... BYRADIUS r m ASC COUNT 20 WITHDIST` plus `GEOSEARCHSTORE` (the count of
//! all matches), timed together as one "total + nearest 20" operation.

use std::time::{Duration, Instant};

use crate::synth::businesses::SynthBusiness;
use anyhow::Context;
use geo_core::LatLon;
use redis::aio::MultiplexedConnection;

use super::inprocess::PAGE;
use super::stats::{Budget, Measurement, Recorder};

const KEY: &str = "geostack:bench:businesses";
const TMP_KEY: &str = "geostack:bench:matches";

/// The loaded geo set on one connection.
pub struct RedisAnchor {
    conn: MultiplexedConnection,
    pub load_time: Duration,
    pub used_memory: Option<u64>,
}

impl RedisAnchor {
    /// Connects, replaces the geo set with `data` (member = id, ids 1..=n) in pipelined
    /// batches of GEOADD.
    pub async fn load(url: &str, data: &[SynthBusiness]) -> anyhow::Result<RedisAnchor> {
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        // A GEOSEARCHSTORE over hundreds of thousands of matches takes longer than the
        // client's default response timeout (500 ms).
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(Duration::from_secs(300)));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let started = Instant::now();
        redis::cmd("DEL")
            .arg(KEY)
            .arg(TMP_KEY)
            .query_async::<()>(&mut conn)
            .await?;
        const MEMBERS_PER_GEOADD: usize = 1000;
        const GEOADDS_PER_PIPELINE: usize = 20;
        let mut pipe = redis::pipe();
        let mut queued = 0;
        for (chunk_index, chunk) in data.chunks(MEMBERS_PER_GEOADD).enumerate() {
            let mut cmd = redis::cmd("GEOADD");
            cmd.arg(KEY);
            for (i, b) in chunk.iter().enumerate() {
                let id = chunk_index * MEMBERS_PER_GEOADD + i + 1;
                cmd.arg(b.location.lon).arg(b.location.lat).arg(id);
            }
            pipe.add_command(cmd).ignore();
            queued += 1;
            if queued == GEOADDS_PER_PIPELINE {
                pipe.query_async::<()>(&mut conn).await?;
                pipe = redis::pipe();
                queued = 0;
            }
        }
        if queued > 0 {
            pipe.query_async::<()>(&mut conn).await?;
        }
        let load_time = started.elapsed();
        let stored: usize = redis::cmd("ZCARD").arg(KEY).query_async(&mut conn).await?;
        anyhow::ensure!(
            stored == data.len(),
            "Redis holds {stored} members, expected {} (latitudes beyond +-85.05 cannot be \
             stored)",
            data.len()
        );
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await?;
        let used_memory = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok());
        Ok(RedisAnchor {
            conn,
            load_time,
            used_memory,
        })
    }

    /// GEOSEARCH (first 20 with distances) + GEOSEARCHSTORE (count of all) per centre,
    /// sequentially on one connection.
    pub async fn nearby(
        &mut self,
        centres: &[LatLon],
        radius_m: f64,
        budget: Budget,
    ) -> anyhow::Result<Measurement> {
        let mut rec = Recorder::new("Redis GEOSEARCH + GEOSEARCHSTORE");
        let started = Instant::now();
        for c in centres {
            if budget.should_stop(rec.len(), started.elapsed()) {
                break;
            }
            let t = Instant::now();
            let page: Vec<(String, f64)> = redis::cmd("GEOSEARCH")
                .arg(KEY)
                .arg("FROMLONLAT")
                .arg(c.lon)
                .arg(c.lat)
                .arg("BYRADIUS")
                .arg(radius_m)
                .arg("m")
                .arg("ASC")
                .arg("COUNT")
                .arg(PAGE)
                .arg("WITHDIST")
                .query_async(&mut self.conn)
                .await?;
            let total: usize = redis::cmd("GEOSEARCHSTORE")
                .arg(TMP_KEY)
                .arg(KEY)
                .arg("FROMLONLAT")
                .arg(c.lon)
                .arg(c.lat)
                .arg("BYRADIUS")
                .arg(radius_m)
                .arg("m")
                .query_async(&mut self.conn)
                .await?;
            rec.record(t.elapsed(), total);
            std::hint::black_box(page);
        }
        Ok(rec.finish(None))
    }

    /// Frees the server's memory for the next size.
    pub async fn clear(mut self) -> anyhow::Result<()> {
        redis::cmd("DEL")
            .arg(KEY)
            .arg(TMP_KEY)
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(())
    }
}
