//! The SQL store: one `sqlx::AnyPool` over SQLite (embedded default) or PostgreSQL, with the
//! migrations of `migrations/<backend>/` applied at start-up.
//!
//! Queries are written once in the dialect both engines accept (`$1` placeholders,
//! `RETURNING`, `ON CONFLICT`); where they differ, callers branch on [`Backend`].

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

/// Which engine is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool and its backend.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

impl Db {
    /// Connects to `url`, or to the SQLite file `data_dir/geo.sqlite3` when there is none,
    /// and applies migrations.
    pub async fn connect(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let url = match url.filter(|u| !u.is_empty()) {
            Some(url) => url.to_string(),
            None => {
                // Created 0600 before SQLite opens it: the database holds location history,
                // and SQLite gives its -wal and -shm files the database's mode.
                crate::files::private_dir(data_dir)?;
                let path = data_dir.join("geo.sqlite3");
                crate::files::create_private_file(&path)?;
                format!("sqlite://{}?mode=rwc", path.display())
            }
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:");
        };
        let options = AnyConnectOptions::from_str(&url).context("parsing DATABASE_URL")?;
        let max_connections = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = pool_options(backend, max_connections)
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        if backend == Backend::Sqlite {
            // Files of an explicit `sqlite:` URL (and older installations' 0644 ones) are
            // tightened once open, when the -wal and -shm files exist too.
            if let Some(path) = sqlite_file(&url) {
                crate::files::tighten_sqlite_files(&path)?;
            }
        }
        let db = Db { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    /// A second pool on the same database with the same settings, for a component that
    /// runs on a runtime of its own (a pool's connections belong to the runtime that opened
    /// them). Connects lazily, so it must be called on that runtime.
    pub fn own_pool(&self, max_connections: u32) -> Db {
        let options = (*self.pool.connect_options()).clone();
        Db {
            pool: pool_options(self.backend, max_connections).connect_lazy_with(options),
            backend: self.backend,
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying database migrations")
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

/// The database file a `sqlite:` URL names (in-memory databases name none that exists).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

fn pool_options(backend: Backend, max_connections: u32) -> AnyPoolOptions {
    let options = AnyPoolOptions::new()
        .max_connections(max_connections)
        // An outage should turn into a quick 503, not a hung request.
        .acquire_timeout(Duration::from_secs(3));
    match backend {
        // SQLite takes one writer at a time; WAL lets readers go on meanwhile.
        Backend::Sqlite => options.after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; \
                     PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                )
                .await?;
                Ok(())
            })
        }),
        Backend::Postgres => options,
    }
}

/// Whether an error means the database cannot be reached (as opposed to a bad query).
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db_err) => db_err.code().is_some_and(|code| {
            // Class 08: connection exception; 57P0x: shutting down / cannot connect now;
            // SQLite 5/6: busy / locked for longer than the busy timeout.
            code.starts_with("08") || code.starts_with("57P") || code == "5" || code == "6"
        }),
        _ => false,
    }
}

/// `$start, $start+1, ...`: `n` numbered placeholders.
pub fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The row tuples of a multi-row `VALUES` list: `($1, ..., $cols), ($cols+1, ...), ...` on
/// PostgreSQL, `(?, ..., ?), ...` on SQLite. Only for statements whose parameters are all in
/// the list, bound row by row in order.
///
/// SQLite looks a numbered parameter (`$n`) up by a linear scan of the statement's names,
/// so binding `$n`s costs the square of their number (a 1,000-row history insert spent
/// most of its time in `sqlite3_bind_parameter_name`); anonymous `?`s bind by position.
pub fn values_list(backend: Backend, rows: usize, cols: usize) -> String {
    let anonymous = format!("({})", vec!["?"; cols].join(", "));
    let row = |r: usize| match backend {
        Backend::Postgres => format!("({})", placeholders(r * cols + 1, cols)),
        Backend::Sqlite => anonymous.clone(),
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    /// The embedded default's database and its WAL files are private from the first byte,
    /// and an older installation's 0644 files and 0755 directory are tightened.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_sqlite_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("var");
        let db = Db::connect(None, &dir).await.unwrap();
        sqlx::query("CREATE TABLE probe (x INTEGER)")
            .execute(&db.pool)
            .await
            .unwrap();
        let files = ["geo.sqlite3", "geo.sqlite3-wal", "geo.sqlite3-shm"].map(|f| dir.join(f));
        assert_eq!(mode(&dir), 0o700);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        db.pool.close().await;

        let loose = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        loose(&dir, 0o755);
        // Closing the last connection may checkpoint and delete the WAL files.
        for file in files.iter().filter(|f| f.exists()) {
            loose(file, 0o644);
        }
        let db = Db::connect(None, &dir).await.unwrap();
        sqlx::query("INSERT INTO probe VALUES (1)")
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(mode(&dir), 0o700);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        db.pool.close().await;

        // An explicit sqlite: URL's files are tightened the same way.
        let other = root.path().join("other.db");
        std::fs::write(&other, b"").unwrap();
        loose(&other, 0o644);
        let url = format!("sqlite://{}", other.display());
        let db = Db::connect(Some(&url), &dir).await.unwrap();
        assert_eq!(mode(&other), 0o600);
        db.pool.close().await;
    }

    #[test]
    fn values_lists_number_on_postgres_and_stay_anonymous_on_sqlite() {
        assert_eq!(
            values_list(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_list(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}
