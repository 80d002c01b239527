//! Sign-in: the PIN check against the cached staff, the lockout, sign-out. The PIN never
//! leaves the till: online-only actions go with the device token and the signed-in
//! person as actor.

use chrono::{DateTime, Utc};
use modula_wire::sync::{DeviceEvent, DeviceEventKind};
use modula_wire::ErrorCode;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::{cached_staff, internal, SignedIn, Terminal};
use crate::db::{self, ts};
use crate::error::{TerminalError, TerminalResult};

/// Wrong PINs in a row before sign-in for that person locks at this terminal.
pub const PIN_ATTEMPTS_MAX: i64 = 5;
/// How long a person's first sign-in lock lasts (each further one doubles).
pub const PIN_LOCKOUT_MS: i64 = 5 * 60 * 1000;
/// The longest lock: a day.
pub const PIN_LOCKOUT_MAX_MS: i64 = 24 * 3600 * 1000;

/// One person's wrong PINs in a row at this till, and their lock.
#[derive(Debug, Default, Clone, Copy)]
struct Lockout {
    failures: i64,
    locked_until: Option<DateTime<Utc>>,
}

impl Terminal {
    /// `POST /api/signin`: checks the PIN against the cached hash (works offline). Wrong
    /// PINs count per person and survive a restart: the fifth in a row locks that
    /// person's sign-in here for [`PIN_LOCKOUT_MS`], doubling with each further lockout (an audit event goes to the server
    /// when online); nobody else is locked by it.
    pub async fn sign_in(&self, staff_id: Uuid, pin: &str) -> TerminalResult<SignedIn> {
        // One sign-in at a time, so parallel guesses cannot slip past the lockout.
        let _one_at_a_time = self.signin_lock.lock().await;
        let (staff, staff_known, lockout) = {
            let mut conn = self.db.reader().acquire().await?;
            let staff = cached_staff(&mut conn, staff_id).await?;
            (staff, !db::cached_scope(&mut conn, "staff").await?.is_empty(), lockout_of(&mut conn, staff_id).await?)
        };
        if !staff_known {
            return Err(TerminalError::refuse(
                ErrorCode::CacheMissing,
                "cannot sign in yet: this terminal has not downloaded its staff list. \
                 Connect it to the internet once so it can fetch it, then try again",
            ));
        }
        let Some(staff) = staff.filter(|s| s.active && s.branch_ids.contains(&self.device.branch_id)) else {
            return Err(TerminalError::refuse(ErrorCode::Unauthorized, "this person may not work at this branch"));
        };
        let now = Utc::now();
        if let Some(until) = lockout.locked_until.filter(|u| *u > now) {
            return Err(locked(&staff.name, until, now));
        }
        let (phc, pin_owned) = (staff.pin_hash.clone(), pin.to_string());
        let ok = tokio::task::spawn_blocking(move || !phc.is_empty() && modula_rules::credential::verify_pin(&pin_owned, &phc))
            .await
            .map_err(internal)?;
        let mut w = self.db.writer().await;
        if ok {
            sqlx::query("DELETE FROM pin_lockouts WHERE staff_id = ?").bind(staff_id.to_string()).execute(&mut *w).await?;
            db::set_signed_in(&mut w, Some(staff.id)).await?;
            return Ok(SignedIn { staff_id: staff.id, name: staff.name.clone(), role: staff.role });
        }
        let failures = lockout.failures + 1;
        let lock = (failures % PIN_ATTEMPTS_MAX == 0).then(|| now + lock_period(failures));
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        sqlx::query(
            "INSERT INTO pin_lockouts (staff_id, failures, locked_until, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (staff_id) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, \
             updated_at = excluded.updated_at",
        )
        .bind(staff_id.to_string())
        .bind(failures)
        .bind(lock.map(ts))
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        if let Some(until) = lock {
            let event = DeviceEvent {
                event_id: Uuid::now_v7(),
                kind: DeviceEventKind::PinLocked,
                staff_id,
                occurred_at: now,
                failures,
                locked_until: until,
            };
            queue_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        drop(w);
        match lock {
            Some(until) => {
                tracing::warn!(staff = %staff_id, failures, "PIN sign-in locked for a person after wrong PINs");
                self.push_kick.notify_one();
                Err(locked(&staff.name, until, now))
            }
            None => Err(TerminalError::WrongPin { attempts_left: (PIN_ATTEMPTS_MAX - failures % PIN_ATTEMPTS_MAX) as u32 }),
        }
    }

    /// `POST /api/signout`. The queue is untouched.
    pub async fn sign_out(&self) -> TerminalResult<()> {
        let mut w = self.db.writer().await;
        db::set_signed_in(&mut w, None).await?;
        Ok(())
    }

    /// Who is signed in, if anyone (and still active here, by the cache).
    /// Who is signed in and may still act here: checked against the cache now (active,
    /// assigned to this branch) and the policy's idle sign-out. `None` when nobody is, or
    /// the sign-in no longer holds (the next action signs them out and says why).
    pub async fn signed_in(&self, conn: &mut SqliteConnection) -> TerminalResult<Option<SignedIn>> {
        Ok(self.sign_in_state(conn).await?.ok())
    }

    /// The signed-in person, or why nobody may act (nobody signed in: `None`).
    async fn sign_in_state(&self, conn: &mut SqliteConnection) -> TerminalResult<Result<SignedIn, Option<String>>> {
        let Some(dev) = db::device(conn).await? else { return Ok(Err(None)) };
        let Some(id) = dev.signed_in_staff else { return Ok(Err(None)) };
        let Some(staff) = cached_staff(conn, id).await? else {
            return Ok(Err(Some("the person signed in is no longer on this branch's staff list; sign in again".into())));
        };
        if !staff.active || !staff.branch_ids.contains(&self.device.branch_id) {
            let why = format!("{} may no longer work at this branch (deactivated or moved); they were signed out", staff.name);
            return Ok(Err(Some(why)));
        }
        let idle_minutes = super::cached_policy(conn, self.device.branch_id).await?.unwrap_or_default().idle_signout_minutes;
        let idle = dev.last_action_at.map(|at| Utc::now() - at);
        if idle_minutes > 0 && idle.is_some_and(|d| d > chrono::Duration::minutes(idle_minutes)) {
            let why = format!("{} was signed out after {idle_minutes} minutes without activity; sign in again", staff.name);
            return Ok(Err(Some(why)));
        }
        Ok(Ok(SignedIn { staff_id: staff.id, name: staff.name, role: staff.role }))
    }

    /// The person who acts now, checked as [`Terminal::signed_in`]; a sign-in that no
    /// longer holds is ended here (on the write connection), and the action refused with
    /// the reason.
    pub(super) async fn current_actor(&self, w: &mut SqliteConnection) -> TerminalResult<SignedIn> {
        match self.sign_in_state(w).await? {
            Ok(who) => Ok(who),
            Err(None) => Err(TerminalError::refuse(ErrorCode::Unauthorized, "nobody is signed in; sign in with your PIN first")),
            Err(Some(why)) => {
                db::set_signed_in(w, None).await?;
                tracing::info!(reason = %why, "a sign-in ended");
                Err(TerminalError::refuse(ErrorCode::Unauthorized, why))
            }
        }
    }
}

/// How long the lock after `failures` wrong PINs in a row lasts: [`PIN_LOCKOUT_MS`] for
/// the first lockout, twice as long for each further one without a success in between,
/// at most a day (a 4-digit PIN must not fall to a patient guesser).
fn lock_period(failures: i64) -> chrono::Duration {
    let lockouts = (failures / PIN_ATTEMPTS_MAX).clamp(1, 20) as u32;
    let ms = PIN_LOCKOUT_MS.saturating_mul(1i64 << (lockouts - 1)).min(PIN_LOCKOUT_MAX_MS);
    chrono::Duration::milliseconds(ms)
}

fn locked(name: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> TerminalError {
    // Rounded up: whoever waits this long finds the lock gone.
    let retry_after_s = ((until - now).num_milliseconds() + 999).div_euclid(1000).max(1) as u64;
    TerminalError::PinLocked { name: name.to_string(), retry_after_s }
}

async fn lockout_of(conn: &mut SqliteConnection, staff_id: Uuid) -> TerminalResult<Lockout> {
    let row = sqlx::query("SELECT failures, locked_until FROM pin_lockouts WHERE staff_id = ?")
        .bind(staff_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(Lockout::default()) };
    let until: Option<String> = row.try_get("locked_until")?;
    let locked_until = until.map(|u| db::parse_ts(&u)).transpose()?;
    Ok(Lockout { failures: row.try_get("failures")?, locked_until })
}

/// Queues an event for the server's audit trail (sent by the sync engine when online).
async fn queue_event(conn: &mut SqliteConnection, event: &DeviceEvent) -> TerminalResult<()> {
    let body = serde_json::to_string(event).map_err(internal)?;
    sqlx::query("INSERT INTO event_outbox (event_id, body, created_at) VALUES (?, ?, ?)")
        .bind(event.event_id.to_string())
        .bind(body)
        .bind(ts(event.occurred_at))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_to_a_day() {
        assert_eq!(lock_period(5).num_minutes(), 5);
        assert_eq!(lock_period(10).num_minutes(), 10);
        assert_eq!(lock_period(15).num_minutes(), 20);
        assert_eq!(lock_period(5 * 40).num_hours(), 24);
    }
}
