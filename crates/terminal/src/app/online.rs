//! Online-only actions (restock) and the simulated-outage switch.

use modula_rules::Rejection;
use modula_wire::{ErrorCode, Role};

use super::Terminal;
use crate::error::{TerminalError, TerminalResult};

impl Terminal {
    /// `POST /api/outage {"on": bool}`: cuts or restores the simulated-outage proxy, then
    /// asks the server for `/healthz` through it so online/offline follows at once (a real
    /// request, like every other online/offline decision).
    pub async fn set_outage(&self, on: bool) -> TerminalResult<serde_json::Value> {
        let Some(outage) = self.outage.as_ref() else {
            return Err(TerminalError::refuse(
                ErrorCode::NotFound,
                "this terminal was not started with --outage-switch, so it cannot simulate an outage",
            ));
        };
        outage.set_cut(on);
        let probe = self.remote.probe().await;
        self.link.set(probe.as_ref().map_or_else(|e| !e.is_transport(), |_| true));
        self.push_kick.notify_one();
        self.pull_kick.notify_one();
        Ok(serde_json::json!({"simulated_outage": outage.is_cut(), "online": self.link.online()}))
    }

    /// Is a simulated outage on?
    pub fn simulated_outage(&self) -> bool {
        self.outage.as_ref().is_some_and(|o| o.is_cut())
    }

    /// `POST /api/inventory/restock`: online only, a manager or owner signed in here; sent
    /// with the device token and that person as `actor_id` (no PIN or staff token ever
    /// leaves the till).
    pub async fn restock(&self, body: serde_json::Value) -> TerminalResult<serde_json::Value> {
        if !self.link.online() {
            return Err(TerminalError::refuse(
                ErrorCode::NotAllowedOffline,
                "restocking changes the branch's inventory on the server and cannot be done offline; try again when online",
            ));
        }
        let actor = {
            let mut conn = self.db.reader().acquire().await?;
            self.signed_in(&mut conn).await?
        };
        let Some(actor) = actor.filter(|a| a.role >= Role::Manager) else {
            return Err(TerminalError::refuse(ErrorCode::Forbidden, "restocking needs a manager or owner signed in at this till"));
        };
        let serde_json::Value::Object(mut fields) = body else {
            return Err(TerminalError::invalid("body", "the body must be a JSON object {stock_item_id, qty}"));
        };
        fields.insert("branch_id".into(), serde_json::json!(self.device.branch_id));
        fields.insert("actor_id".into(), serde_json::json!(actor.staff_id));
        let body = serde_json::Value::Object(fields);
        let answer = self.remote.restock(&body).await.map_err(|e| match e {
            crate::remote::RemoteError::Refused(p) => TerminalError::Rejected(Rejection {
                code: p.code,
                message: p.detail,
                field: p.field,
            }),
            other => TerminalError::refuse(ErrorCode::ServiceUnavailable, format!("the server did not answer: {other}")),
        })?;
        // A restock is the manager's action too: it keeps them from the idle sign-out.
        crate::db::touch_action(&mut *self.db.writer().await, chrono::Utc::now()).await?;
        Ok(answer)
    }
}
