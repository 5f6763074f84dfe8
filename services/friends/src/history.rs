//! Location history writes, batched: updates are queued and written by one task in
//! multi-row inserts, so the write-heavy stream costs one statement per batch rather than
//! one per update.

use std::time::Duration;

use kit::db::Db;
use kit::runtime::run_on_thread;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::store::{self, HistoryRow};

/// Most fixes waiting to be written; beyond it new ones are dropped (and counted), so a
/// database outage cannot exhaust memory.
const QUEUE: usize = 200_000;
const BATCH: usize = 10_000;
/// How long a failing batch is retried before it is given up.
const RETRY_FOR: Duration = Duration::from_secs(30);

enum Message {
    Row(HistoryRow),
    Flush(oneshot::Sender<()>),
}

/// The queue in front of the history table.
#[derive(Clone)]
pub struct HistoryWriter {
    tx: mpsc::Sender<Message>,
}

impl HistoryWriter {
    /// The writer gets a thread, runtime and pool of its own: as a task among thousands of busy
    /// WebSocket tasks, each of its many awaits per statement waited its turn, and under
    /// `bench friends` it wrote 300 rows/s while 9,000/s arrived. It ends when the last
    /// handle is dropped and what was queued is written.
    ///
    /// Batches start at most once per `linger` (a flush starts one at once). Each transaction
    /// has a fixed cost (commit, WAL frames of the index pages it touched) that a handful of
    /// rows cannot amortise: writing whatever had arrived, a few rows at a time, took 13 % of
    /// the embedded server's CPU under `bench friends` (about 40 us per row). The index is
    /// keyed by user, so a batch dirties about one index page per user in it: the longer the
    /// linger, the more of a user's rows share that page.
    pub fn spawn(db: Db, linger: Duration) -> anyhow::Result<HistoryWriter> {
        let (tx, rx) = mpsc::channel(QUEUE);
        run_on_thread("history-writer", async move {
            write_batches(db.own_pool(2), rx, linger).await
        })?;
        Ok(HistoryWriter { tx })
    }

    /// Queues a fix; `false` when the queue is full and it was dropped.
    pub fn append(&self, row: HistoryRow) -> bool {
        let queued = self.tx.try_send(Message::Row(row)).is_ok();
        if !queued {
            metrics::counter!("friends_history_dropped_total").increment(1);
        }
        queued
    }

    /// Returns once every fix queued before the call is written (or given up).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(db: Db, mut rx: mpsc::Receiver<Message>, linger: Duration) {
    let mut messages = Vec::with_capacity(BATCH);
    let mut rows = Vec::with_capacity(BATCH);
    let mut waiters = Vec::new();
    let mut last_write: Option<Instant> = None;
    while next_batch(&mut rx, &mut messages, last_write, linger).await {
        last_write = Some(Instant::now());
        for message in messages.drain(..) {
            match message {
                Message::Row(row) => rows.push(row),
                Message::Flush(done) => waiters.push(done),
            }
        }
        if !rows.is_empty() {
            // In index order, each index page is dirtied in one run: in arrival order a batch
            // touched the same pages again and again, and once they outnumbered SQLite's page
            // cache, wrote them to the WAL again and again.
            rows.sort_unstable_by(|a, b| {
                (a.user_id, a.point.timestamp)
                    .partial_cmp(&(b.user_id, b.point.timestamp))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            write_with_retry(&db, &rows).await;
            rows.clear();
        }
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Fills `messages` with the next batch: from the first message on, whatever arrives until
/// `linger` after the previous batch started, [`BATCH`] messages or a flush, whichever
/// comes first. `false` once the queue is closed and empty.
async fn next_batch(
    rx: &mut mpsc::Receiver<Message>,
    messages: &mut Vec<Message>,
    previous: Option<Instant>,
    linger: Duration,
) -> bool {
    if rx.recv_many(messages, BATCH).await == 0 {
        return false;
    }
    let Some(previous) = previous else {
        return true;
    };
    let due = previous + linger;
    let mut flush = has_flush(messages);
    while messages.len() < BATCH && !flush {
        let before = messages.len();
        match tokio::time::timeout_at(due, rx.recv_many(messages, BATCH - before)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => flush = has_flush(&messages[before..]),
        }
    }
    true
}

fn has_flush(messages: &[Message]) -> bool {
    messages.iter().any(|m| matches!(m, Message::Flush(_)))
}

async fn write_with_retry(db: &Db, rows: &[HistoryRow]) {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match store::append_history(db, rows).await {
            Ok(()) => {
                metrics::counter!("friends_history_written_total").increment(rows.len() as u64);
                return;
            }
            Err(err) if started.elapsed() < RETRY_FOR => {
                tracing::warn!(error = %err, rows = rows.len(), "history write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(err) => {
                tracing::error!(error = %err, rows = rows.len(), "history write given up");
                metrics::counter!("friends_history_dropped_total").increment(rows.len() as u64);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::HistoryPoint;

    const LINGER: Duration = Duration::from_secs(1);

    fn row(user_id: i64) -> Message {
        Message::Row(HistoryRow {
            user_id,
            point: HistoryPoint {
                latitude: 60.0,
                longitude: 25.0,
                timestamp: 1.0,
            },
            received_ms: 0,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn batches_gather_rows_for_the_linger_and_a_flush_cuts_it_short() {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let mut batch = Vec::new();
        // Idle writer: the first row goes at once.
        tx.send(row(1)).await.unwrap();
        assert!(next_batch(&mut rx, &mut batch, None, LINGER).await);
        assert_eq!(batch.len(), 1);
        batch.clear();
        let started = Instant::now();
        // A row every 6 % of the linger: the next batch takes those of the whole linger.
        let sender = tx.clone();
        let feeding = tokio::spawn(async move {
            for user in 0..50 {
                sender.send(row(user)).await.unwrap();
                tokio::time::sleep(LINGER * 6 / 100).await;
            }
        });
        assert!(next_batch(&mut rx, &mut batch, Some(started), LINGER).await);
        assert_eq!(started.elapsed(), LINGER);
        assert_eq!(batch.len(), 17, "rows sent at 0, 6, .., 96 % of it");
        batch.clear();
        feeding.await.unwrap();
        // A flush ends the wait at once, taking what came before it.
        let (done, _wait) = oneshot::channel();
        tx.send(Message::Flush(done)).await.unwrap();
        let flushed_at = Instant::now();
        assert!(next_batch(&mut rx, &mut batch, Some(flushed_at), LINGER).await);
        assert_eq!(flushed_at.elapsed(), Duration::ZERO);
        assert_eq!(batch.len(), 34, "the 33 rows left and the flush");
        batch.clear();
        drop(tx);
        assert!(!next_batch(&mut rx, &mut batch, Some(flushed_at), LINGER).await);
    }
}
