//! Fresh PostgreSQL databases on a server the caller names (the test run's, or the one a
//! benchmark was given), so that runs never share state and can drop what they made.

use anyhow::Context;
use rand::Rng;
use sqlx::Connection;

/// Creates a database with a random `geo_test_` name on the server of `admin_url` (a URL
/// naming any existing database, as a superuser); returns the new database's URL. Panics
/// with how to get a server when it cannot (for tests).
pub async fn fresh_database(admin_url: &str) -> String {
    let name = format!("geo_test_{}", rand::rng().random::<u64>());
    create_database(admin_url, &name)
        .await
        .unwrap_or_else(|err| {
            panic!("{err:#}; run the suite with ./scripts/test.sh, which starts a server")
        })
}

/// Creates `name` (letters, digits and `_` only) on the server of `admin_url` and returns its
/// URL.
pub async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    check_name(name)?;
    let mut conn = connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {name}"))?;
    database_url(admin_url, name)
}

/// Drops `name`, disconnecting whoever still uses it.
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let mut conn = connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping database {name}"))?;
    Ok(())
}

/// `url` with its database replaced by `name` (query parameters kept; a URL without a
/// database gets one).
pub fn database_url(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").context("the database URL has no scheme")? + 3;
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

async fn connect(admin_url: &str) -> anyhow::Result<sqlx::PgConnection> {
    sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {admin_url}"))
}

fn check_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{name:?} is not a plain database name"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls_swap_only_the_database() {
        let url = |admin, name| super::database_url(admin, name).unwrap();
        assert_eq!(
            url("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            url("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(url("postgres://u@h", "x"), "postgres://u@h/x");
        assert!(super::database_url("u@h/db", "x").is_err());
        assert!(super::check_name("a; DROP").is_err());
    }
}
