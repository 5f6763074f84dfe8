//! Bulk loads of users and friendships, for operators' migrations and the benchmarks: rows
//! with ids chosen by the caller, friendships made without the consent round trip
//! ([`crate::store::ask_friendship`] is the only path a user's own call takes).

use kit::db::{Backend, Db, values_list};

use crate::store::now_ms;

/// Rows per multi-row INSERT: within both engines' parameter limits (SQLite's is 32,766).
const ROWS_PER_INSERT: usize = 5000;

/// Inserts users with the given ids and names in one transaction. On PostgreSQL the id
/// sequence is moved past the largest id, so the next user to register does not collide.
pub async fn insert_users(db: &Db, users: &[(i64, String)]) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    for chunk in users.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO friend_users (id, name, created_ms) VALUES {}",
            values_list(db.backend, chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for (id, name) in chunk {
            query = query.bind(*id).bind(name.as_str()).bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    if db.backend == Backend::Postgres {
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('friend_users', 'id'), \
             (SELECT max(id) FROM friend_users))",
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    analyze(db, "friend_users").await
}

/// Makes every pair friends (both directions) in one transaction; pairs that already are
/// stay as they are.
pub async fn insert_friendships(db: &Db, pairs: &[(i64, i64)]) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    // Each pair is two rows.
    for chunk in pairs.chunks(ROWS_PER_INSERT / 2) {
        let sql = format!(
            "INSERT INTO friendships (user_id, friend_id, created_ms) VALUES {} \
             ON CONFLICT DO NOTHING",
            values_list(db.backend, chunk.len() * 2, 3)
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for &(a, b) in chunk {
            query = query.bind(a).bind(b).bind(now).bind(b).bind(a).bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    analyze(db, "friendships").await
}

/// Fresh planner statistics after a bulk load: PostgreSQL would otherwise plan the friends
/// lookups on an empty table's estimates until autovacuum comes by.
async fn analyze(db: &Db, table: &str) -> Result<(), sqlx::Error> {
    if db.backend == Backend::Postgres {
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bulk_users_and_friendships_read_back_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path()).await.unwrap();
        let users: Vec<(i64, String)> = (1..=12_000).map(|id| (id, format!("user {id}"))).collect();
        insert_users(&db, &users).await.unwrap();
        let pairs: Vec<(i64, i64)> = (2..=6_001).map(|id| (1, id)).collect();
        insert_friendships(&db, &pairs).await.unwrap();
        insert_friendships(&db, &pairs[..10]).await.unwrap();

        assert_eq!(
            crate::store::user(&db, 11_999).await.unwrap().unwrap().name,
            "user 11999"
        );
        assert_eq!(crate::store::friend_ids(&db, 1).await.unwrap().len(), 6_000);
        assert!(crate::store::are_friends(&db, 6_001, 1).await.unwrap());
        assert!(!crate::store::are_friends(&db, 6_002, 1).await.unwrap());
        let next = crate::store::create_user(&db, "new").await.unwrap();
        assert_eq!(next.id, 12_001);
    }
}
