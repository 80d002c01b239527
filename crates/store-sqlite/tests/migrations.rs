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

/// Migration 0017 on sales kept before it: each gets its VAT as a column and its lines
/// as rows (ids from hyphenated text to 16 bytes), so reports sum them in the database.
#[tokio::test]
async fn sales_kept_before_reports_get_their_vat_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("old.db"))
        .create_if_missing(true)
        .foreign_keys(false); // the sale alone, without its tenant, branch and session rows
    let pool = SqlitePool::connect_with(options).await.unwrap();
    migrations_before(17).run(&pool).await.unwrap();
    let (sale, latte, muffin) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let details = serde_json::json!({
        "lines": [{"menu_item_id": latte, "qty": 2, "unit_price_cents": 275},
                  {"menu_item_id": muffin, "qty": 1, "unit_price_cents": 300}],
        "totals": {"subtotal_cents": 850, "vat_cents": 77, "total_cents": 850},
    });
    sqlx::query(
        "INSERT INTO sales (id, tenant_id, branch_id, device_id, cash_session_id, client_op_id, receipt_no, actor_id, \
         total_cents, price_drift_cents, details, occurred_at, applied_at) VALUES (?, ?, ?, ?, ?, ?, 'A-1', ?, 850, 0, ?, 0, 0)",
    )
    .bind(sale)
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(details.to_string())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();
    let vat: i64 = sqlx::query("SELECT vat_cents FROM sales WHERE id = ?").bind(sale).fetch_one(&pool).await.unwrap().get(0);
    assert_eq!(vat, 77);
    let rows = sqlx::query("SELECT line_no, menu_item_id, qty, unit_price_cents FROM sale_lines WHERE sale_id = ? ORDER BY line_no")
        .bind(sale)
        .fetch_all(&pool)
        .await
        .unwrap();
    let lines: Vec<(i64, Uuid, i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(lines, vec![(0, latte, 2, 275), (1, muffin, 1, 300)]);
}
