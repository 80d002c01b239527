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

/// Migration 0013 on a database with staff and tokens of the PIN sign-in time: the PIN
/// lockouts are cleared, tokens from a PIN sign-in (with an expiry) and cashier tokens
/// are revoked, the owner's `admin init` token (no expiry) and device tokens stay.
#[tokio::test]
async fn pin_born_tokens_are_revoked_when_passwords_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(&dir).await;
    migrations_before(13).run(&pool).await.unwrap();
    let (tenant, owner, cashier, device) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query("INSERT INTO tenants (id, name, slug, policy, created_at) VALUES (?, 'Café', 'cafe', '{}', 0)")
        .bind(tenant)
        .execute(&pool)
        .await
        .unwrap();
    for (id, role, failures) in [(owner, "owner", 4), (cashier, "cashier", 5)] {
        sqlx::query(
            "INSERT INTO staff (id, tenant_id, name, role, pin_hash, active, failed_pin_attempts, locked_until, updated_at) \
             VALUES (?, ?, 'X', ?, 'h', 1, ?, 999999999999, 0)",
        )
        .bind(id)
        .bind(tenant)
        .bind(role)
        .bind(failures)
        .execute(&pool)
        .await
        .unwrap();
    }
    let tokens = [("a", "staff", owner, None), ("b", "staff", owner, Some(9_999_999_999i64)), ("c", "staff", cashier, None), ("d", "device", device, None)];
    for (hash, kind, subject, expires_at) in tokens {
        sqlx::query("INSERT INTO tokens (token_hash, tenant_id, kind, subject_id, created_at, expires_at) VALUES (?, ?, ?, ?, 0, ?)")
            .bind(hash)
            .bind(tenant)
            .bind(kind)
            .bind(subject)
            .bind(expires_at)
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();
    let left: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM tokens ORDER BY token_hash").fetch_all(&pool).await.unwrap();
    assert_eq!(left, ["a", "d"], "the owner's init token and the device token stay");
    let rows = sqlx::query("SELECT failed_logins, locked_until, login, password_hash FROM staff").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row.get::<i64, _>(0), 0, "PIN failure counts are cleared");
        assert_eq!(row.get::<Option<i64>, _>(1), None, "PIN locks are cleared");
        assert_eq!(row.get::<Option<String>, _>(2), None);
        assert_eq!(row.get::<Option<String>, _>(3), None);
    }
}
