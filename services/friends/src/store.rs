//! Users, mutual friendships and location history in the SQL store (SQLite or PostgreSQL,
//! one dialect for both).

use std::time::{SystemTime, UNIX_EPOCH};

use kit::db::{Backend, Db, values_list};
use serde::Serialize;
use sqlx::Row;

use crate::Result;

/// A registered user.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// One stored fix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryPoint {
    pub latitude: f64,
    pub longitude: f64,
    /// The client's fix time, Unix seconds.
    pub timestamp: f64,
}

/// A fix waiting to be written to the history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryRow {
    pub user_id: i64,
    pub point: HistoryPoint,
    pub received_ms: i64,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub async fn create_user(db: &Db, name: &str) -> Result<User> {
    let row = sqlx::query(
        "INSERT INTO friend_users (name, created_ms) VALUES ($1, $2) RETURNING id, name",
    )
    .bind(name)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
    })
}

pub async fn user(db: &Db, id: i64) -> Result<Option<User>> {
    let row = sqlx::query("SELECT id, name FROM friend_users WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(user_from).transpose()
}

/// Whether `a` and `b` are friends now.
pub async fn are_friends(db: &Db, a: i64, b: i64) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2")
        .bind(a)
        .bind(b)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.is_some())
}

pub async fn friends(db: &Db, user_id: i64) -> Result<Vec<User>> {
    users(
        db,
        "SELECT u.id, u.name FROM friendships f JOIN friend_users u ON u.id = f.friend_id \
         WHERE f.user_id = $1 ORDER BY u.id",
        user_id,
    )
    .await
}

/// Runs a query of `(id, name)` rows with one parameter.
async fn users(db: &Db, sql: &str, param: i64) -> Result<Vec<User>> {
    let rows = sqlx::query(sql).bind(param).fetch_all(&db.pool).await?;
    rows.iter().map(user_from).collect()
}

/// A row with the columns `id` and `name`.
fn user_from(row: &sqlx::any::AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
    })
}

pub async fn friend_ids(db: &Db, user_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT friend_id FROM friendships WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?;
    let ids = rows.iter().map(|row| row.try_get("friend_id"));
    Ok(ids.collect::<Result<_, sqlx::Error>>()?)
}

/// What asking for a friendship did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The request waits for the other user; `new` is false when it was already waiting.
    Pending { new: bool },
    /// The other user had asked already: the two are friends now.
    Accepted,
    /// They were friends before.
    AlreadyFriends,
}

/// `from` asks `to` to be friends: a friendship when `to` has asked `from` already, else a
/// pending request. Concurrent asks of one pair are serialised, so that two users asking
/// each other at once become friends rather than leaving two pending requests.
pub async fn ask_friendship(db: &Db, from: i64, to: i64) -> Result<Asked> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    match db.backend {
        Backend::Postgres => {
            sqlx::query("SELECT id FROM friend_users WHERE id IN ($1, $2) ORDER BY id FOR UPDATE")
                .bind(from)
                .bind(to)
                .fetch_all(&mut *tx)
                .await?;
        }
        // A write statement takes SQLite's one writer lock for the whole transaction, so
        // that the reads below cannot go stale before this transaction writes.
        Backend::Sqlite => {
            sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND from_id <> $1")
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
    }
    let friends = sqlx::query("SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2")
        .bind(from)
        .bind(to)
        .fetch_optional(&mut *tx)
        .await?;
    if friends.is_some() {
        return Ok(Asked::AlreadyFriends);
    }
    let asked_back = sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2")
        .bind(to)
        .bind(from)
        .execute(&mut *tx)
        .await?;
    if asked_back.rows_affected() > 0 {
        sqlx::query("DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2")
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO friendships (user_id, friend_id, created_ms) VALUES ($1, $2, $3), \
             ($2, $1, $3) ON CONFLICT DO NOTHING",
        )
        .bind(from)
        .bind(to)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Asked::Accepted);
    }
    let asked = sqlx::query(
        "INSERT INTO friend_requests (from_id, to_id, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(from)
    .bind(to)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Asked::Pending {
        new: asked.rows_affected() > 0,
    })
}

/// Withdraws `a`'s request to `b` or declines `b`'s request to `a`; `false` if neither was
/// waiting.
pub async fn drop_request(db: &Db, a: i64, b: i64) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM friend_requests WHERE (from_id = $1 AND to_id = $2) \
         OR (from_id = $2 AND to_id = $1)",
    )
    .bind(a)
    .bind(b)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// `from`, when their request to `to` is still waiting (not yet accepted, withdrawn or
/// declined).
pub async fn pending_request(db: &Db, from: i64, to: i64) -> Result<Option<User>> {
    let row = sqlx::query(
        "SELECT u.id, u.name FROM friend_requests r JOIN friend_users u ON u.id = r.from_id \
         WHERE r.from_id = $1 AND r.to_id = $2",
    )
    .bind(from)
    .bind(to)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(user_from).transpose()
}

/// Requests waiting for `user_id` (`incoming`) and sent by them (`outgoing`), oldest first.
pub async fn requests(db: &Db, user_id: i64) -> Result<(Vec<User>, Vec<User>)> {
    let incoming = users(
        db,
        "SELECT u.id, u.name FROM friend_requests r JOIN friend_users u ON u.id = r.from_id \
         WHERE r.to_id = $1 ORDER BY r.created_ms, u.id",
        user_id,
    )
    .await?;
    let outgoing = users(
        db,
        "SELECT u.id, u.name FROM friend_requests r JOIN friend_users u ON u.id = r.to_id \
         WHERE r.from_id = $1 ORDER BY r.created_ms, u.id",
        user_id,
    )
    .await?;
    Ok((incoming, outgoing))
}

/// Makes `a` and `b` friends at once (both directions), without a request: for operators'
/// bulk loads and benchmarks, never for a user's own call. `false` if they already were.
pub async fn add_friendship(db: &Db, a: i64, b: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO friendships (user_id, friend_id, created_ms) VALUES ($1, $2, $3), ($2, $1, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(a)
    .bind(b)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends the friendship on both sides; `false` if there was none.
pub async fn remove_friendship(db: &Db, a: i64, b: i64) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM friendships WHERE (user_id = $1 AND friend_id = $2) \
         OR (user_id = $2 AND friend_id = $1)",
    )
    .bind(a)
    .bind(b)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Rows per history INSERT: 5,000 parameters, within both engines' limits (SQLite's is
/// 32,766) and cheap to bind on both (see [`values_list`]).
const HISTORY_ROWS_PER_INSERT: usize = 1000;

/// Writes many fixes in one transaction, a multi-row statement per chunk.
pub async fn append_history(db: &Db, rows: &[HistoryRow]) -> Result<()> {
    let mut tx = db.pool.begin().await?;
    for chunk in rows.chunks(HISTORY_ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO location_history (user_id, ts, latitude, longitude, received_ms) \
             VALUES {}",
            values_list(db.backend, chunk.len(), 5)
        );
        // Not kept prepared: batch sizes vary, and a cache of 5,000-parameter statements
        // cost about 40 MB for no gain at one statement per batch.
        let mut query = sqlx::query(&sql).persistent(false);
        for row in chunk {
            query = query
                .bind(row.user_id)
                .bind(row.point.timestamp)
                .bind(row.point.latitude)
                .bind(row.point.longitude)
                .bind(row.received_ms);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Fixes of `user_id` with `from <= ts <= to`, oldest first, at most `limit`.
pub async fn history(
    db: &Db,
    user_id: i64,
    from: f64,
    to: f64,
    limit: i64,
) -> Result<Vec<HistoryPoint>> {
    let rows = sqlx::query(
        "SELECT ts, latitude, longitude FROM location_history \
         WHERE user_id = $1 AND ts >= $2 AND ts <= $3 ORDER BY ts, received_ms LIMIT $4",
    )
    .bind(user_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(HistoryPoint {
                timestamp: row.try_get("ts")?,
                latitude: row.try_get("latitude")?,
                longitude: row.try_get("longitude")?,
            })
        })
        .collect()
}

/// Erases the history of `user_id`; returns the number of fixes removed.
pub async fn delete_history(db: &Db, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM location_history WHERE user_id = $1")
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}

/// The retention sweep: removes fixes received more than `retention_days` before `now_ms`.
pub async fn sweep_history(db: &Db, retention_days: f64, now_ms: i64) -> Result<u64> {
    let cutoff_ms = now_ms - (retention_days * 86_400_000.0) as i64;
    let done = sqlx::query("DELETE FROM location_history WHERE received_ms < $1")
        .bind(cutoff_ms)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
