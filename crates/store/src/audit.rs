//! Audit events that belong to no op, and the audit trail read with the op log's.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// Audit: the part of [`Tx`] for audit events of no op and the audit trail.
#[async_trait]
pub trait AuditTx: Send {
    /// Appends audit events that belong to no op, in order (an op's event is stored with
    /// the op, [`OpRecord::audit`]).
    async fn insert_audits(&mut self, events: &[AuditRecord]) -> StoreResult<()>;

    /// Records an event a device reported (no op) once by its `event_id`; `false` when
    /// the tenant already has an event with that id (nothing is written).
    async fn insert_device_event(&mut self, event: &AuditRecord, event_id: Uuid) -> StoreResult<bool>;

    /// Audit events of a branch applied at or after `since`, oldest first, at most `limit`:
    /// those stored with applied ops and those of [`AuditTx::insert_audits`].
    async fn list_audit(&mut self, tenant_id: Uuid, branch_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>>;

    /// Audit events of the tenant that belong to no branch (server sign-ins refused or
    /// locked), applied at or after `since`, oldest first, at most `limit`.
    async fn list_tenant_audit(&mut self, tenant_id: Uuid, since: Timestamp, limit: i64) -> StoreResult<Vec<AuditRecord>>;
}

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Tenant.
    pub tenant_id: Uuid,
    /// Branch, when branch-scoped.
    pub branch_id: Option<Uuid>,
    /// `sale`, `cashSession`, `attendance`, …
    pub module: String,
    /// `finalize`, `open`, …
    pub action: String,
    /// Who.
    pub actor_id: Option<Uuid>,
    /// Which device.
    pub device_id: Option<Uuid>,
    /// Which op.
    pub client_op_id: Option<Uuid>,
    /// Lane.
    pub lane: Lane,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// When the server applied it.
    pub applied_at: Timestamp,
    /// Anything else (drift, negative stock, …).
    pub details: modula_wire::JsonText,
}

impl AuditRecord {
    /// Decodes a row of the audit trail (`audit_events`, or an applied op's audit
    /// columns under the same names).
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(AuditRecord {
            tenant_id: row.uuid("tenant_id")?,
            branch_id: row.opt_uuid("branch_id")?,
            module: row.text("module")?,
            action: row.text("action")?,
            actor_id: row.opt_uuid("actor_id")?,
            device_id: row.opt_uuid("device_id")?,
            client_op_id: row.opt_uuid("client_op_id")?,
            lane: Lane::parse(&row.text("lane")?),
            occurred_at: row.instant("occurred_at")?,
            applied_at: row.instant("applied_at")?,
            details: from_json("audit_events.details", &row.text("details")?)?,
        })
    }
}
