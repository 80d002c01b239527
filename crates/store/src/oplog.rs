//! The op log of both lanes: one record per `client_op_id`, with its outcome and audit event.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// The op log: the part of [`Tx`] that records each op once.
#[async_trait]
pub trait OpLogTx: Send {
    /// The recorded ops among `client_op_ids` (any order; unknown ids are absent).
    async fn ops_by_ids(&mut self, tenant_id: Uuid, client_op_ids: &[Uuid]) -> StoreResult<Vec<OpRecord>>;

    /// Records ops' outcomes. Every key must be new.
    async fn insert_ops(&mut self, ops: &[OpRecord]) -> StoreResult<()>;

    /// Replaces the audit details of ops that this transaction inserted (a sale's
    /// negative-stock flags are final only under the stock rows' lock). Never call it
    /// for an op an earlier transaction recorded: a recorded op is immutable.
    async fn set_op_audit_details(&mut self, tenant_id: Uuid, details: &[(Uuid, &modula_wire::JsonText)]) -> StoreResult<()>;

    /// Rejected ops of a branch, newest first, at most `limit`.
    async fn rejected_ops(&mut self, tenant_id: Uuid, branch_id: Uuid, limit: i64) -> StoreResult<Vec<OpRecord>>;

    /// The resolutions of rejected ops among `client_op_ids` (SPEC §5.6).
    async fn resolutions(&mut self, tenant_id: Uuid, client_op_ids: &[Uuid]) -> StoreResult<Vec<ResolutionRecord>>;

    /// Records a resolution, unless the op has one: `false` then (nothing changed).
    async fn insert_resolution(&mut self, r: &ResolutionRecord) -> StoreResult<bool>;
}

/// How a manager resolved a rejected op: `accept` (a sale applied now, as the till
/// recorded it) or `dismiss` (handled otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolutionRecord {
    /// Tenant.
    pub tenant_id: Uuid,
    /// The rejected op.
    pub client_op_id: Uuid,
    /// Its branch.
    pub branch_id: Uuid,
    /// `accept` or `dismiss`.
    pub action: String,
    /// The manager.
    pub actor_id: Uuid,
    /// Their note.
    pub note: String,
    /// When.
    pub at: Timestamp,
    /// What accepting applied (the sale's result); `None` for a dismissal.
    pub result: Option<modula_wire::JsonText>,
}

impl ResolutionRecord {
    /// Decodes an `op_resolutions` row.
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        Ok(ResolutionRecord {
            tenant_id: row.uuid("tenant_id")?,
            client_op_id: row.uuid("client_op_id")?,
            branch_id: row.uuid("branch_id")?,
            action: row.text("action")?,
            actor_id: row.uuid("actor_id")?,
            note: row.text("note")?,
            at: row.instant("at")?,
            result: row.opt_text("result")?.map(|t| from_json("op_resolutions.result", &t)).transpose()?,
        })
    }
}

/// Which lane an op came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The direct online endpoints.
    Online,
    /// Push replay.
    Offline,
}

/// The stored outcome of an op.
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    /// Applied, with its result.
    Applied(modula_wire::JsonText),
    /// Refused, with the code and message.
    Rejected {
        /// Why.
        code: modula_wire::ErrorCode,
        /// For people.
        message: String,
        /// The field to blame, for `VALIDATION_FAILED`.
        field: Option<String>,
    },
}

/// One op as recorded in the op log (both lanes share the key space).
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    /// Tenant.
    pub tenant_id: Uuid,
    /// The idempotency key.
    pub client_op_id: Uuid,
    /// Branch named by the op.
    pub branch_id: Uuid,
    /// Device that sent it (offline lane, or online from a device).
    pub device_id: Option<Uuid>,
    /// Actor named by the op.
    pub actor_id: Uuid,
    /// Type as sent.
    pub op_type: String,
    /// The server's recomputed hash.
    pub payload_hash: String,
    /// Device counter, when sent by a device.
    pub device_seq: Option<i64>,
    /// Lane.
    pub lane: Lane,
    /// What happened.
    pub outcome: OpOutcome,
    /// When it happened on the device.
    pub occurred_at: Timestamp,
    /// When the server recorded it.
    pub recorded_at: Timestamp,
    /// The audit event of an applied op, stored in the op's own row (the op log is the
    /// audit trail of ops; [`crate::AuditTx::list_audit`] reads it back as an [`AuditRecord`] with
    /// `applied_at = recorded_at`). Written, never read back by op lookups (`None` there).
    pub audit: Option<OpAudit>,
    /// The payload of a rejected op, kept so a manager can accept it later (SPEC §5.6);
    /// `None` for applied ops and for rejections recorded before it was kept.
    pub payload: Option<modula_wire::JsonText>,
}

/// What an applied op's audit event adds to its op record.
#[derive(Debug, Clone, PartialEq)]
pub struct OpAudit {
    /// `sale`, `cashSession`, `attendance`, …
    pub module: String,
    /// `finalize`, `open`, …
    pub action: String,
    /// Anything else (drift, negative stock, …).
    pub details: modula_wire::JsonText,
}

impl Lane {
    /// `online` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Online => "online",
            Lane::Offline => "offline",
        }
    }
}

impl Lane {
    /// The lane stored as `online` or `offline` (anything else reads as offline, the
    /// lane of every op before the online lane existed).
    pub fn parse(stored: &str) -> Lane {
        if stored == "online" {
            Lane::Online
        } else {
            Lane::Offline
        }
    }
}

impl OpRecord {
    /// Decodes an `ops` row (its audit columns are read by the audit trail, not here).
    pub fn from_row(row: &impl Columns) -> StoreResult<Self> {
        let outcome = match row.text("status")?.as_str() {
            "APPLIED" => OpOutcome::Applied(from_json("ops.result", &row.opt_text("result")?.unwrap_or_default())?),
            _ => {
                let code = row.opt_text("code")?.unwrap_or_default();
                OpOutcome::Rejected {
                    code: serde_json::from_value(serde_json::Value::String(code.clone()))
                        .map_err(|_| StoreError::Internal(format!("stored op code {code:?} is unknown")))?,
                    message: row.opt_text("message")?.unwrap_or_default(),
                    field: row.opt_text("field")?,
                }
            }
        };
        Ok(OpRecord {
            tenant_id: row.uuid("tenant_id")?,
            client_op_id: row.uuid("client_op_id")?,
            branch_id: row.uuid("branch_id")?,
            device_id: row.opt_uuid("device_id")?,
            actor_id: row.uuid("actor_id")?,
            op_type: row.text("op_type")?,
            payload_hash: row.text("payload_hash")?,
            device_seq: row.opt_int("device_seq")?,
            lane: Lane::parse(&row.text("lane")?),
            outcome,
            occurred_at: row.instant("occurred_at")?,
            recorded_at: row.instant("recorded_at")?,
            audit: None,
            payload: row.opt_text("payload")?.map(|t| from_json("ops.payload", &t)).transpose()?,
        })
    }
}
