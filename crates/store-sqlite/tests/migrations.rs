//! Migrations applied to a database that already holds data: an older schema is built
//! with the migrations before the one under test, rows are written as the code of that
//! time wrote them, then every migration runs.

use std::borrow::Cow;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::Row;
use uuid::Uuid;

async fn pool(dir: &tempfile::TempDir) -> SqlitePool {
    let options = SqliteConnectOptions::new().filename(dir.path().join("old.db")).create_if_missing(true);
    SqlitePool::connect_with(options).await.unwrap()
}

/// The migrator with the migrations before `version` only.
fn migrations_before(version: i64) -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("./migrations");
    let older: Vec<_> = m.migrations.iter().filter(|x| x.version < version).cloned().collect();
    m.migrations = Cow::Owned(older);
    m
}

#[tokio::test]
async fn tenants_made_before_slugs_get_one_each() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(&dir).await;
    migrations_before(12).run(&pool).await.unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    for id in [a, b] {
        sqlx::query("INSERT INTO tenants (id, name, policy, created_at) VALUES (?, 'Café', '{}', 0)")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();
    for id in [a, b] {
        let slug: String = sqlx::query("SELECT slug FROM tenants WHERE id = ?").bind(id).fetch_one(&pool).await.unwrap().get(0);
        assert_eq!(slug, format!("tenant-{}", id.simple()));
        assert!(is_slug(&slug), "{slug}");
    }
}

/// What `modula_rules::validate::slug` accepts (lowercase letters, digits, hyphens, not
/// at the ends), restated: this crate does not depend on the rules.
fn is_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 48
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}
