//! SQL for businesses, the published snapshot and the geohash index table.
//!
//! Every statement is written once in the dialect SQLite and PostgreSQL share (`$n`
//! placeholders, `RETURNING`, `ON CONFLICT`, `IS DISTINCT FROM`).

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use geo_core::{Cell, LatLon};
use kit::db::{Db, placeholders, values_list};
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

use crate::model::{Business, BusinessFields, INDEXED_PRECISIONS, ImportedBusiness, Summary};

pub use crate::error::Result;

/// Rows per multi-row INSERT: 16 columns x 400 rows stays under every engine's parameter limit.
const BATCH_ROWS: usize = 400;

const BUSINESS_COLUMNS: &str = "id, name, category, address, city, state, country, postcode, \
     latitude, longitude, opening_hours, phone, website, owner_id, revision, updated_at";

pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn business_from_row(row: &AnyRow) -> Result<Business> {
    Ok(Business {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        category: row.try_get("category")?,
        address: row.try_get("address")?,
        city: row.try_get("city")?,
        state: row.try_get("state")?,
        country: row.try_get("country")?,
        postcode: row.try_get("postcode")?,
        latitude: row.try_get("latitude")?,
        longitude: row.try_get("longitude")?,
        opening_hours: row.try_get("opening_hours")?,
        phone: row.try_get("phone")?,
        website: row.try_get("website")?,
        owner_id: row.try_get("owner_id")?,
        revision: row.try_get("revision")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn summary_from_row(row: &AnyRow) -> Result<Summary> {
    Ok(Summary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        category: row.try_get("category")?,
        latitude: row.try_get("latitude")?,
        longitude: row.try_get("longitude")?,
        opening_hours: row.try_get("opening_hours")?,
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the twelve business fields in column order: name, category, address, city, state,
/// country, postcode, latitude, longitude, opening_hours, phone, website.
fn bind_fields<'q>(query: AnyQuery<'q>, f: &'q BusinessFields) -> AnyQuery<'q> {
    query
        .bind(&f.name)
        .bind(&f.category)
        .bind(&f.address)
        .bind(&f.city)
        .bind(&f.state)
        .bind(&f.country)
        .bind(&f.postcode)
        .bind(f.location.lat)
        .bind(f.location.lon)
        .bind(&f.opening_hours)
        .bind(&f.phone)
        .bind(&f.website)
}

pub async fn get_business(db: &Db, id: i64) -> Result<Option<Business>> {
    let sql = format!("SELECT {BUSINESS_COLUMNS} FROM businesses WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(business_from_row).transpose()
}

pub async fn insert_business(db: &Db, owner_id: i64, f: &BusinessFields) -> Result<Business> {
    let sql = format!(
        "INSERT INTO businesses (name, category, address, city, state, country, postcode, \
         latitude, longitude, opening_hours, phone, website, owner_id, revision, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14) \
         RETURNING {BUSINESS_COLUMNS}"
    );
    let row = bind_fields(sqlx::query(&sql), f)
        .bind(owner_id)
        .bind(now_s())
        .fetch_one(&db.pool)
        .await?;
    business_from_row(&row)
}

/// Full replace; `None` when the row does not exist.
pub async fn replace_business(db: &Db, id: i64, f: &BusinessFields) -> Result<Option<Business>> {
    let sql = format!(
        "UPDATE businesses SET name = $1, category = $2, address = $3, city = $4, state = $5, \
         country = $6, postcode = $7, latitude = $8, longitude = $9, opening_hours = $10, \
         phone = $11, website = $12, revision = revision + 1, updated_at = $13 \
         WHERE id = $14 RETURNING {BUSINESS_COLUMNS}"
    );
    let row = bind_fields(sqlx::query(&sql), f)
        .bind(now_s())
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(business_from_row).transpose()
}

/// Returns whether a row was deleted.
pub async fn delete_business(db: &Db, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM businesses WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn count_businesses(db: &Db) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM businesses")
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("n")?)
}

/// Inserts or updates imported rows by OSM reference; unchanged rows keep their revision.
/// Returns the number of rows inserted or changed.
pub async fn upsert_imported(db: &Db, records: &[ImportedBusiness]) -> Result<u64> {
    const COLS: usize = 14;
    let mut changed = 0;
    let now = now_s();
    let mut conn = db.pool.acquire().await?;
    let mut tx = conn.begin().await?;
    for chunk in records.chunks(BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO businesses (osm_ref, name, category, address, city, state, country, \
             postcode, latitude, longitude, opening_hours, phone, website, updated_at) \
             VALUES {} \
             ON CONFLICT (osm_ref) DO UPDATE SET name = excluded.name, \
             category = excluded.category, address = excluded.address, city = excluded.city, \
             state = excluded.state, country = excluded.country, postcode = excluded.postcode, \
             latitude = excluded.latitude, longitude = excluded.longitude, \
             opening_hours = excluded.opening_hours, phone = excluded.phone, \
             website = excluded.website, updated_at = excluded.updated_at, \
             revision = businesses.revision + 1 \
             WHERE businesses.name IS DISTINCT FROM excluded.name \
             OR businesses.category IS DISTINCT FROM excluded.category \
             OR businesses.address IS DISTINCT FROM excluded.address \
             OR businesses.city IS DISTINCT FROM excluded.city \
             OR businesses.state IS DISTINCT FROM excluded.state \
             OR businesses.country IS DISTINCT FROM excluded.country \
             OR businesses.postcode IS DISTINCT FROM excluded.postcode \
             OR businesses.latitude IS DISTINCT FROM excluded.latitude \
             OR businesses.longitude IS DISTINCT FROM excluded.longitude \
             OR businesses.opening_hours IS DISTINCT FROM excluded.opening_hours \
             OR businesses.phone IS DISTINCT FROM excluded.phone \
             OR businesses.website IS DISTINCT FROM excluded.website",
            values_list(db.backend, chunk.len(), COLS)
        );
        let mut query = sqlx::query(&sql);
        for r in chunk {
            query = bind_fields(query.bind(&r.osm_ref), &r.fields).bind(now);
        }
        changed += query.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(changed)
}

/// Inserts generated rows without an OSM reference (benchmarks and tests), owned by `owner_id`.
pub async fn insert_many(db: &Db, owner_id: Option<i64>, rows: &[BusinessFields]) -> Result<()> {
    const COLS: usize = 8;
    let now = now_s();
    let mut conn = db.pool.acquire().await?;
    let mut tx = conn.begin().await?;
    for chunk in rows.chunks(BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO businesses (name, category, latitude, longitude, opening_hours, \
             owner_id, address, updated_at) VALUES {}",
            values_list(db.backend, chunk.len(), COLS)
        );
        let mut query = sqlx::query(&sql);
        for f in chunk {
            query = query
                .bind(&f.name)
                .bind(&f.category)
                .bind(f.location.lat)
                .bind(f.location.lon)
                .bind(&f.opening_hours)
                .bind(owner_id)
                .bind(&f.address)
                .bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The published snapshot, ordered by id.
pub async fn load_published(db: &Db) -> Result<(i64, Vec<Summary>)> {
    let version = published_version(db).await?;
    let rows = sqlx::query(
        "SELECT id, name, category, latitude, longitude, opening_hours \
         FROM published_businesses ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    let summaries = rows.iter().map(summary_from_row).collect::<Result<_>>()?;
    Ok((version, summaries))
}

/// The live publication version (0 before the first publication).
pub async fn published_version(db: &Db) -> Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM index_publications")
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("v")?)
}

/// Published summaries for `ids` (missing ids are skipped).
pub async fn published_summaries(db: &Db, ids: &[i64]) -> Result<Vec<Summary>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(BATCH_ROWS) {
        let sql = format!(
            "SELECT id, name, category, latitude, longitude, opening_hours \
             FROM published_businesses WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&db.pool).await? {
            out.push(summary_from_row(&row)?);
        }
    }
    Ok(out)
}

/// Business ids per geohash cell from the index table; every requested cell is in the answer,
/// empty when nothing is there.
pub async fn ids_in_cells(db: &Db, cells: &[String]) -> Result<Vec<(String, Vec<i64>)>> {
    let mut out: Vec<(String, Vec<i64>)> = cells.iter().map(|c| (c.clone(), Vec::new())).collect();
    let position: std::collections::HashMap<&str, usize> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    for chunk in cells.chunks(BATCH_ROWS) {
        let sql = format!(
            "SELECT geohash, business_id FROM geohash_index WHERE geohash IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for cell in chunk {
            query = query.bind(cell);
        }
        for row in query.fetch_all(&db.pool).await? {
            let geohash: String = row.try_get("geohash")?;
            let id: i64 = row.try_get("business_id")?;
            if let Some(&i) = position.get(geohash.as_str()) {
                out[i].1.push(id);
            }
        }
    }
    for (_, ids) in &mut out {
        ids.sort_unstable();
    }
    Ok(out)
}

/// What a publication changed: the cache keys to invalidate.
#[derive(Debug, Default, Clone)]
pub struct PublicationDiff {
    pub version: i64,
    pub businesses: i64,
    /// Ids added, changed or removed.
    pub touched_ids: Vec<i64>,
    /// Geohash cells (all indexed lengths) whose id lists changed.
    pub touched_cells: Vec<String>,
    pub changed: usize,
    pub removed: usize,
}

fn cells_of(p: LatLon) -> impl Iterator<Item = String> {
    INDEXED_PRECISIONS
        .into_iter()
        .map(move |len| Cell::containing(p, len).to_string())
}

/// Publishes the live table: copies changed rows into the snapshot, moves their geohash index
/// rows, and records a new version, in one transaction. Returns what changed.
pub async fn publish(db: &Db) -> Result<PublicationDiff> {
    let mut conn = db.pool.acquire().await?;
    let mut tx = conn.begin().await?;

    let changed_rows = sqlx::query(
        "SELECT b.id, b.name, b.category, b.latitude, b.longitude, b.opening_hours, b.revision, \
                p.latitude AS old_latitude, p.longitude AS old_longitude \
         FROM businesses b LEFT JOIN published_businesses p ON p.id = b.id \
         WHERE p.id IS NULL OR p.revision <> b.revision",
    )
    .fetch_all(&mut *tx)
    .await?;
    let removed_rows = sqlx::query(
        "SELECT p.id, p.latitude, p.longitude FROM published_businesses p \
         WHERE NOT EXISTS (SELECT 1 FROM businesses b WHERE b.id = p.id)",
    )
    .fetch_all(&mut *tx)
    .await?;

    let mut touched_cells: HashSet<String> = HashSet::new();
    let mut index_deletes: Vec<(String, i64)> = Vec::new();
    let mut index_inserts: Vec<(String, i64)> = Vec::new();
    let mut upserts: Vec<(Summary, i64)> = Vec::with_capacity(changed_rows.len());
    for row in &changed_rows {
        let summary = summary_from_row(row)?;
        let revision: i64 = row.try_get("revision")?;
        let old_lat: Option<f64> = row.try_get("old_latitude")?;
        let old_lon: Option<f64> = row.try_get("old_longitude")?;
        let new_cells: Vec<String> = cells_of(summary.location()).collect();
        if let (Some(lat), Some(lon)) = (old_lat, old_lon) {
            for cell in cells_of(LatLon::clamped(lat, lon)) {
                if !new_cells.contains(&cell) {
                    index_deletes.push((cell.clone(), summary.id));
                }
                touched_cells.insert(cell);
            }
        }
        for cell in new_cells {
            index_inserts.push((cell.clone(), summary.id));
            touched_cells.insert(cell);
        }
        upserts.push((summary, revision));
    }
    let mut removed_ids = Vec::with_capacity(removed_rows.len());
    for row in &removed_rows {
        let id: i64 = row.try_get("id")?;
        let lat: f64 = row.try_get("latitude")?;
        let lon: f64 = row.try_get("longitude")?;
        for cell in cells_of(LatLon::clamped(lat, lon)) {
            index_deletes.push((cell.clone(), id));
            touched_cells.insert(cell);
        }
        removed_ids.push(id);
    }

    // In key order, so the index B-tree is appended to rather than split at random.
    index_inserts.sort_unstable();
    for (cell, id) in &index_deletes {
        sqlx::query("DELETE FROM geohash_index WHERE geohash = $1 AND business_id = $2")
            .bind(cell)
            .bind(*id)
            .execute(&mut *tx)
            .await?;
    }
    for chunk in index_inserts.chunks(BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO geohash_index (geohash, business_id) VALUES {} ON CONFLICT DO NOTHING",
            values_list(db.backend, chunk.len(), 2)
        );
        let mut query = sqlx::query(&sql);
        for (cell, id) in chunk {
            query = query.bind(cell).bind(*id);
        }
        query.execute(&mut *tx).await?;
    }
    for chunk in upserts.chunks(BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO published_businesses \
             (id, name, category, latitude, longitude, opening_hours, revision) VALUES {} \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, category = excluded.category, \
             latitude = excluded.latitude, longitude = excluded.longitude, \
             opening_hours = excluded.opening_hours, revision = excluded.revision",
            values_list(db.backend, chunk.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for (s, revision) in chunk {
            query = query
                .bind(s.id)
                .bind(&s.name)
                .bind(&s.category)
                .bind(s.latitude)
                .bind(s.longitude)
                .bind(&s.opening_hours)
                .bind(*revision);
        }
        query.execute(&mut *tx).await?;
    }
    for chunk in removed_ids.chunks(BATCH_ROWS) {
        let sql = format!(
            "DELETE FROM published_businesses WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *tx).await?;
    }
    let businesses: i64 = sqlx::query("SELECT COUNT(*) AS n FROM published_businesses")
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
    let version: i64 = sqlx::query(
        "INSERT INTO index_publications (published_at, businesses, changed, removed) \
         VALUES ($1, $2, $3, $4) RETURNING version",
    )
    .bind(now_s())
    .bind(businesses)
    .bind(upserts.len() as i64)
    .bind(removed_ids.len() as i64)
    .fetch_one(&mut *tx)
    .await?
    .try_get("version")?;
    tx.commit().await?;

    let mut touched_ids: Vec<i64> = upserts.iter().map(|(s, _)| s.id).collect();
    touched_ids.extend(&removed_ids);
    let mut touched_cells: Vec<String> = touched_cells.into_iter().collect();
    touched_cells.sort();
    Ok(PublicationDiff {
        version,
        businesses,
        touched_ids,
        touched_cells,
        changed: upserts.len(),
        removed: removed_ids.len(),
    })
}
