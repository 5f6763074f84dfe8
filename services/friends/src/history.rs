//! Location history writes, batched: updates are queued and written by one task in
//! multi-row inserts, so the write-heavy stream costs one statement per batch rather than
//! one per update.

use std::time::Duration;

use kit::db::Db;
use kit::runtime::run_on_thread;
use tokio::sync::{mpsc, oneshot};

use crate::store::{self, HistoryRow};

/// Most fixes waiting to be written; beyond it new ones are dropped (and counted), so a
/// database outage cannot exhaust memory.
const QUEUE: usize = 200_000;
const BATCH: usize = 2_000;
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
    pub fn spawn(db: Db) -> anyhow::Result<HistoryWriter> {
        let (tx, rx) = mpsc::channel(QUEUE);
        run_on_thread("history-writer", async move {
            write_batches(db.own_pool(2), rx).await
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

async fn write_batches(db: Db, mut rx: mpsc::Receiver<Message>) {
    let mut messages = Vec::with_capacity(BATCH);
    let mut rows = Vec::with_capacity(BATCH);
    let mut waiters = Vec::new();
    while rx.recv_many(&mut messages, BATCH).await > 0 {
        for message in messages.drain(..) {
            match message {
                Message::Row(row) => rows.push(row),
                Message::Flush(done) => waiters.push(done),
            }
        }
        if !rows.is_empty() {
            write_with_retry(&db, &rows).await;
            rows.clear();
        }
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
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
