//! Reads of the pulled cache: staff, policy, menu and branch status.

use modula_wire::{BranchStatus, Policy, Role};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::db;
use crate::error::TerminalResult;

/// A cached staff member (from the `staff` scope).
#[derive(Debug, Clone, Deserialize)]
pub struct CachedStaff {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Branches.
    #[serde(default)]
    pub branch_ids: Vec<Uuid>,
    /// Active?
    pub active: bool,
    /// argon2id PHC string.
    #[serde(default)]
    pub pin_hash: String,
}

/// A cached menu item (from the `menu` scope).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CachedMenuItem {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Price in cents.
    pub price_cents: i64,
    /// Category.
    pub category: String,
    /// On sale?
    pub active: bool,
    /// What one unit uses.
    #[serde(default)]
    pub recipe: Vec<modula_wire::admin::RecipeLine>,
}

/// A cached staff member.
pub async fn cached_staff(conn: &mut SqliteConnection, id: Uuid) -> TerminalResult<Option<CachedStaff>> {
    let v = db::cached(conn, "staff", id).await?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// The cached effective policy of the branch.
pub async fn cached_policy(conn: &mut SqliteConnection, branch_id: Uuid) -> TerminalResult<Option<Policy>> {
    let v = db::cached(conn, "policy", branch_id).await?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// The cached menu (active and inactive items).
pub async fn cached_menu(conn: &mut SqliteConnection) -> TerminalResult<Vec<CachedMenuItem>> {
    let items = db::cached_scope(conn, "menu").await?;
    Ok(items.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
}

/// The cached status of the branch (`None` before the first pull).
pub async fn branch_status(conn: &mut SqliteConnection, branch_id: Uuid) -> TerminalResult<Option<BranchStatus>> {
    let v = db::cached(conn, "branch", branch_id).await?;
    Ok(v.and_then(|v| v["status"].as_str().and_then(BranchStatus::parse)))
}
