//! The location history: every accepted fix, kept for [`retention`](HistoryTable::sweep)
//! days. On PostgreSQL the table is partitioned by day of reception (`traffic_fixes_YYYYMMDD`),
//! created here a day ahead and dropped whole when past retention; on SQLite rows are
//! deleted by reception time. Writes are idempotent (see the migration's key).

use std::collections::BTreeSet;
use std::sync::Mutex;

use kit::db::{Backend, Db, values_list};

use super::fixes::FixBatch;

const DAY_MS: i64 = 86_400_000;
const COLUMNS: usize = 9;
/// Rows per statement: under both databases' parameter limits with room to spare.
const ROWS_PER_INSERT: usize = 2_000;

/// The history table and the partitions known to exist.
pub struct HistoryTable {
    db: Db,
    days: Mutex<BTreeSet<i64>>,
}

fn partition_name(day: i64) -> String {
    let date = chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_else(|| day.to_string());
    format!("traffic_fixes_{date}")
}

impl HistoryTable {
    pub fn new(db: Db) -> HistoryTable {
        HistoryTable {
            db,
            days: Mutex::new(BTreeSet::new()),
        }
    }

    /// Makes sure the partitions for the days of `received_ms` values exist (PostgreSQL).
    async fn ensure_partitions(&self, days: impl Iterator<Item = i64>) -> sqlx::Result<()> {
        if self.db.backend != Backend::Postgres {
            return Ok(());
        }
        let missing: Vec<i64> = {
            let known = self.days.lock().unwrap_or_else(|e| e.into_inner());
            days.filter(|d| !known.contains(d))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        for day in missing {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF traffic_fixes \
                 FOR VALUES FROM ({}) TO ({})",
                partition_name(day),
                day * DAY_MS,
                (day + 1) * DAY_MS
            );
            match sqlx::query(&sql).execute(&self.db.pool).await {
                Ok(_) => {}
                // Two instances creating the same day at once: the loser's CREATE fails on
                // the catalog's unique index although IF NOT EXISTS; the table is there.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
                Err(e) => return Err(e),
            }
            self.days
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(day);
        }
        Ok(())
    }

    /// Today's and tomorrow's partitions, so writes around midnight never wait on DDL.
    pub async fn prepare(&self, now_ms: i64) -> sqlx::Result<()> {
        let today = now_ms.div_euclid(DAY_MS);
        self.ensure_partitions([today, today + 1].into_iter()).await
    }

    /// Writes every fix of `batches`; rows already there are left as they are.
    pub async fn write(&self, batches: &[&FixBatch]) -> sqlx::Result<u64> {
        self.ensure_partitions(batches.iter().map(|b| b.received_ms.div_euclid(DAY_MS)))
            .await?;
        let rows: Vec<_> = batches
            .iter()
            .flat_map(|b| b.fixes.iter().map(move |f| (*b, f)))
            .collect();
        let mut written = 0;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO traffic_fixes (user_id, ts, latitude, longitude, speed_mps, \
                 heading_deg, accuracy_m, mode, received_ms) VALUES {} ON CONFLICT DO NOTHING",
                values_list(self.db.backend, chunk.len(), COLUMNS)
            );
            let mut query = sqlx::query(&sql);
            for (batch, fix) in chunk {
                query = query
                    .bind(batch.user_id)
                    .bind(fix.timestamp)
                    .bind(fix.latitude)
                    .bind(fix.longitude)
                    .bind(fix.speed_mps)
                    .bind(fix.heading_deg)
                    .bind(fix.accuracy_m)
                    .bind(batch.mode.as_str())
                    .bind(batch.received_ms);
            }
            written += query.execute(&self.db.pool).await?.rows_affected();
        }
        Ok(written)
    }

    /// Removes fixes received more than `retention_days` before `now_ms`: whole days'
    /// partitions on PostgreSQL (a day is dropped once all of it is past), rows on SQLite.
    pub async fn sweep(&self, retention_days: f64, now_ms: i64) -> sqlx::Result<u64> {
        let cutoff_ms = now_ms - (retention_days * DAY_MS as f64) as i64;
        match self.db.backend {
            Backend::Sqlite => Ok(
                sqlx::query("DELETE FROM traffic_fixes WHERE received_ms < ?")
                    .bind(cutoff_ms)
                    .execute(&self.db.pool)
                    .await?
                    .rows_affected(),
            ),
            Backend::Postgres => {
                let names: Vec<(String,)> = sqlx::query_as(
                    "SELECT c.relname::text FROM pg_inherits i \
                     JOIN pg_class c ON c.oid = i.inhrelid \
                     JOIN pg_class p ON p.oid = i.inhparent \
                     WHERE p.relname = 'traffic_fixes'",
                )
                .fetch_all(&self.db.pool)
                .await?;
                let last_day_to_drop = cutoff_ms.div_euclid(DAY_MS) - 1;
                let mut dropped = 0;
                for (name,) in names {
                    let Some(day) = partition_day(&name) else {
                        continue;
                    };
                    if day <= last_day_to_drop {
                        sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
                            .execute(&self.db.pool)
                            .await?;
                        self.days
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&day);
                        dropped += 1;
                    }
                }
                Ok(dropped)
            }
        }
    }
}

/// The day a partition holds, from its name (only names this module makes).
fn partition_day(name: &str) -> Option<i64> {
    let date = name.strip_prefix("traffic_fixes_")?;
    let date = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
    let ms = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
    Some(ms.div_euclid(DAY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        let day = 1_796_601_600_000i64.div_euclid(DAY_MS);
        let name = partition_name(day);
        assert_eq!(name, "traffic_fixes_20261207");
        assert_eq!(partition_day(&name), Some(day));
        assert_eq!(partition_day("traffic_fixes_default"), None);
    }
}
