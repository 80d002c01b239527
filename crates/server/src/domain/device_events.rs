//! `POST /v1/devices/me/events`: a till reports what happened at it that is no op but that
//! managers should see (a PIN lockout, SPEC §6). Each event becomes an audit event of the
//! device's branch, recorded once by the till's `event_id`.

use modula_store::{AuditRecord, Lane, Store};
use modula_wire::sync::{DeviceEventKind, DeviceEvents, DeviceEventsRecorded, DEVICE_EVENTS_MAX};

use crate::auth::{Auth, Principal};
use crate::error::{ApiError, ApiResult};

/// Most wrong PINs in a row an event may claim (a bound on what a till can write).
const FAILURES_MAX: i64 = 1_000_000;

/// Records the events of the calling device (device token only). An event naming
/// someone who is not a staff member of the tenant is skipped, and counted as such.
pub async fn record(store: &dyn Store, auth: &Auth, req: DeviceEvents) -> ApiResult<DeviceEventsRecorded> {
    let Principal::Device { device_id, branch_id } = auth.principal else {
        return Err(ApiError::Forbidden("only a till reports its events, with its device token".into()));
    };
    if req.events.len() > DEVICE_EVENTS_MAX {
        return Err(ApiError::PayloadTooLarge(format!("at most {DEVICE_EVENTS_MAX} events per request")));
    }
    let mut tx = store.begin_write().await?;
    let (mut recorded, mut skipped) = (0, 0);
    let now = chrono::Utc::now();
    for e in &req.events {
        // An event naming someone the tenant does not know, or an impossible count, is
        // skipped (and counted), never a refusal of the others.
        if !(1..=FAILURES_MAX).contains(&e.failures) || tx.staff(auth.tenant_id, e.staff_id).await?.is_none() {
            skipped += 1;
            continue;
        }
        let action = match e.kind {
            DeviceEventKind::PinLocked => "pin_locked",
        };
        let details = serde_json::json!({"failures_in_a_row": e.failures, "locked_until": e.locked_until, "event_id": e.event_id});
        let event = AuditRecord {
            tenant_id: auth.tenant_id,
            branch_id: Some(branch_id),
            module: "auth".into(),
            action: action.into(),
            actor_id: Some(e.staff_id),
            device_id: Some(device_id),
            client_op_id: None,
            lane: Lane::Offline,
            occurred_at: e.occurred_at,
            applied_at: now,
            details: details.into(),
        };
        if tx.insert_device_event(&event, e.event_id).await? {
            recorded += 1;
        }
    }
    tx.commit().await?;
    if skipped > 0 {
        tracing::warn!(skipped, "a till reported events about unknown staff or with impossible counts");
    }
    Ok(DeviceEventsRecorded { recorded, skipped })
}
