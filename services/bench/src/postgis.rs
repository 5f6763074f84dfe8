//! The PostGIS anchor: the same points in `bench_businesses(id, geog geography(Point,4326))`
//! with a GiST index, in a database created for the run and dropped after it.
//!
//! Queries, on the sphere (`use_spheroid = false`, like the project's haversine):
//! KNN `ORDER BY geog <-> p LIMIT 20`, and "total + nearest 20" as `count(*)` with
//! `ST_DWithin` plus `ST_DWithin ... ORDER BY distance LIMIT 20`.

use std::time::{Duration, Instant};

use crate::synth::businesses::SynthBusiness;
use anyhow::Context;
use geo_core::LatLon;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};

use super::inprocess::PAGE;
use super::stats::{Budget, Measurement, Recorder};

const POINT: &str = "ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography";

/// A database of its own on the server at `--postgres-url`.
pub struct PostGis {
    admin: PgConnectOptions,
    database: String,
    pool: PgPool,
    pub load_time: Duration,
    pub index_time: Duration,
    pub table_bytes: i64,
    pub index_bytes: i64,
}

impl PostGis {
    /// Creates `geostack_bench_<pid>_<n>`, the PostGIS extension (installing Debian's
    /// package when missing and running as root), the table, and loads `data` with COPY.
    pub async fn load(url: &str, data: &[SynthBusiness]) -> anyhow::Result<PostGis> {
        let admin: PgConnectOptions = url.parse().context("parsing --postgres-url")?;
        let database = format!("geostack_bench_{}_{}", std::process::id(), data.len());
        create_database(&admin, &database).await?;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(admin.clone().database(&database))
            .await?;
        let mut this = PostGis {
            admin,
            database,
            pool,
            load_time: Duration::ZERO,
            index_time: Duration::ZERO,
            table_bytes: 0,
            index_bytes: 0,
        };
        // The database is dropped if anything below fails.
        match this.prepare(data).await {
            Ok(()) => Ok(this),
            Err(err) => {
                this.drop_database().await;
                Err(err)
            }
        }
    }

    async fn prepare(&mut self, data: &[SynthBusiness]) -> anyhow::Result<()> {
        create_postgis(&mut *self.pool.acquire().await?).await?;
        sqlx::query(
            "CREATE TABLE bench_businesses (id bigint PRIMARY KEY, geog geography(Point, 4326))",
        )
        .execute(&self.pool)
        .await?;
        let started = Instant::now();
        let mut conn = self.pool.acquire().await?;
        let mut copy = conn
            .copy_in_raw("COPY bench_businesses (id, geog) FROM STDIN")
            .await?;
        let mut buffer = String::with_capacity(1 << 20);
        for (i, b) in data.iter().enumerate() {
            use std::fmt::Write;
            let _ = writeln!(
                buffer,
                "{}\tSRID=4326;POINT({} {})",
                i + 1,
                b.location.lon,
                b.location.lat
            );
            if buffer.len() >= 1 << 20 {
                copy.send(buffer.as_bytes()).await?;
                buffer.clear();
            }
        }
        if !buffer.is_empty() {
            copy.send(buffer.as_bytes()).await?;
        }
        copy.finish().await?;
        drop(conn);
        self.load_time = started.elapsed();
        let started = Instant::now();
        sqlx::query("CREATE INDEX bench_businesses_geog ON bench_businesses USING GIST (geog)")
            .execute(&self.pool)
            .await?;
        sqlx::query("VACUUM ANALYZE bench_businesses")
            .execute(&self.pool)
            .await?;
        self.index_time = started.elapsed();
        let row = sqlx::query(
            "SELECT pg_relation_size('bench_businesses') AS t, \
             pg_relation_size('bench_businesses_geog') AS i",
        )
        .fetch_one(&self.pool)
        .await?;
        self.table_bytes = row.try_get("t")?;
        self.index_bytes = row.try_get("i")?;
        Ok(())
    }

    /// Count within r plus the 20 nearest within r, sequentially on one connection.
    pub async fn nearby(
        &self,
        centres: &[LatLon],
        radius_m: f64,
        budget: Budget,
    ) -> anyhow::Result<Measurement> {
        let count_sql = format!(
            "SELECT count(*) AS n FROM bench_businesses WHERE ST_DWithin(geog, {POINT}, $3, false)"
        );
        let page_sql = format!(
            "SELECT id, ST_Distance(geog, {POINT}, false) AS d FROM bench_businesses \
             WHERE ST_DWithin(geog, {POINT}, $3, false) ORDER BY d LIMIT {PAGE}"
        );
        let mut conn = self.pool.acquire().await?;
        let mut rec = Recorder::new("PostGIS ST_DWithin count + ordered page");
        let started = Instant::now();
        for c in centres {
            if budget.should_stop(rec.len(), started.elapsed()) {
                break;
            }
            let t = Instant::now();
            let total: i64 = sqlx::query(&count_sql)
                .bind(c.lon)
                .bind(c.lat)
                .bind(radius_m)
                .fetch_one(&mut *conn)
                .await?
                .try_get("n")?;
            let page = sqlx::query(&page_sql)
                .bind(c.lon)
                .bind(c.lat)
                .bind(radius_m)
                .fetch_all(&mut *conn)
                .await?;
            rec.record(t.elapsed(), usize::try_from(total).unwrap_or(0));
            std::hint::black_box(page);
        }
        Ok(rec.finish(None))
    }

    /// KNN: `ORDER BY geog <-> p LIMIT 20` (GiST index order), distances on the sphere.
    pub async fn nearest(&self, centres: &[LatLon], budget: Budget) -> anyhow::Result<Measurement> {
        let sql = format!(
            "SELECT id, ST_Distance(geog, {POINT}, false) AS d FROM bench_businesses \
             ORDER BY geog <-> {POINT} LIMIT {PAGE}"
        );
        let mut conn = self.pool.acquire().await?;
        let mut rec = Recorder::new("PostGIS KNN <-> LIMIT 20");
        let started = Instant::now();
        for c in centres {
            if budget.should_stop(rec.len(), started.elapsed()) {
                break;
            }
            let t = Instant::now();
            let rows = sqlx::query(&sql)
                .bind(c.lon)
                .bind(c.lat)
                .fetch_all(&mut *conn)
                .await?;
            rec.record(t.elapsed(), rows.len());
        }
        Ok(rec.finish(None))
    }

    /// Whether KNN uses the GiST index (the plan's first lines), for the report.
    pub async fn knn_plan(&self, c: LatLon) -> anyhow::Result<String> {
        let sql = format!(
            "EXPLAIN SELECT id FROM bench_businesses ORDER BY geog <-> {POINT} LIMIT {PAGE}"
        );
        let rows = sqlx::query(&sql)
            .bind(c.lon)
            .bind(c.lat)
            .fetch_all(&self.pool)
            .await?;
        let lines: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect();
        Ok(lines.join(" / "))
    }

    /// Closes the pool and drops the database (errors are printed, not returned).
    pub async fn drop_database(&self) {
        self.pool.close().await;
        drop_database(&self.admin, &self.database).await;
    }
}

/// A connection to the administrative database, with an error naming the server.
pub(super) async fn connect_admin(admin: &PgConnectOptions) -> anyhow::Result<sqlx::PgConnection> {
    admin.connect().await.with_context(|| {
        format!(
            "connecting to PostgreSQL at {}:{} as {}",
            admin.get_host(),
            admin.get_port(),
            admin.get_username()
        )
    })
}

/// Creates `database` (dropping a leftover of the same name first) on the server of `admin`.
pub(super) async fn create_database(
    admin: &PgConnectOptions,
    database: &str,
) -> anyhow::Result<()> {
    let mut conn = connect_admin(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping a leftover database {database}"))?;
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating the benchmark database {database}"))?;
    Ok(())
}

/// `CREATE EXTENSION IF NOT EXISTS postgis` on `conn`, installing Debian's package first when
/// the extension is missing and this process runs as root.
pub(super) async fn create_postgis(conn: &mut PgConnection) -> anyhow::Result<()> {
    if let Err(first) = sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
        .execute(&mut *conn)
        .await
    {
        eprintln!("  PostGIS extension unavailable ({first}); installing postgresql-15-postgis-3");
        install_postgis().context("installing PostGIS")?;
        sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
            .execute(&mut *conn)
            .await
            .context("CREATE EXTENSION postgis after installing it")?;
    }
    Ok(())
}

/// Drops `database` on the server of `admin`, closing its connections (errors are printed,
/// not returned).
pub(super) async fn drop_database(admin: &PgConnectOptions, database: &str) {
    let result = async {
        let mut conn = admin.connect().await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(err) = result {
        eprintln!("  could not drop database {database}: {err:#}");
    }
}

/// PostGIS for the server's major version (15 here).
fn install_postgis() -> anyhow::Result<()> {
    super::apt_install(
        &["postgresql-15-postgis-3"],
        "the PostGIS anchor (or pass --skip-postgis)",
    )
}
