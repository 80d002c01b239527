//! Sign-in: the PIN check against the cached staff, the lockout, sign-out. The PIN never
//! leaves the till: online-only actions go with the device token and the signed-in
//! person as actor.

use std::time::{Duration, Instant};

use modula_wire::ErrorCode;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::{cached_staff, internal, SignedIn, Terminal};
use crate::db;
use crate::error::{TerminalError, TerminalResult};

/// Wrong PINs in a row before sign-in at this terminal locks.
pub const PIN_ATTEMPTS_MAX: u32 = 5;
/// How long the sign-in lock lasts.
pub const PIN_LOCKOUT_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Default)]
pub(super) struct PinGuard {
    wrong_in_row: u32,
    locked_until: Option<Instant>,
}

impl Terminal {
    /// `POST /api/signin`: checks the PIN against the cached hash (works offline).
    pub async fn sign_in(&self, staff_id: Uuid, pin: &str) -> TerminalResult<SignedIn> {
        // One sign-in at a time, so parallel guesses cannot slip past the lockout.
        let _one_at_a_time = self.signin_lock.lock().await;
        self.check_pin_lock()?;
        let (staff, staff_known) = {
            let mut conn = self.db.reader().acquire().await?;
            (cached_staff(&mut conn, staff_id).await?, !db::cached_scope(&mut conn, "staff").await?.is_empty())
        };
        if !staff_known {
            return Err(TerminalError::refuse(
                ErrorCode::CacheMissing,
                "cannot sign in yet: this terminal has not downloaded its staff list. \
                 Connect it to the internet once so it can fetch it, then try again",
            ));
        }
        let usable = staff.as_ref().filter(|s| s.active && s.branch_ids.contains(&self.device.branch_id));
        let phc = usable.map(|s| s.pin_hash.clone()).unwrap_or_default();
        let pin_owned = pin.to_string();
        let ok = tokio::task::spawn_blocking(move || !phc.is_empty() && modula_rules::credential::verify_pin(&pin_owned, &phc))
            .await
            .map_err(internal)?;
        let Some(staff) = usable.filter(|_| ok) else {
            self.note_wrong_pin();
            return Err(TerminalError::refuse(
                ErrorCode::Unauthorized,
                "wrong PIN, or this person may not work at this branch",
            ));
        };
        self.pins.lock().map_err(internal)?.wrong_in_row = 0;
        let mut w = self.db.writer().await;
        db::set_signed_in(&mut w, Some(staff.id)).await?;
        drop(w);
        Ok(SignedIn { staff_id: staff.id, name: staff.name.clone(), role: staff.role })
    }

    fn check_pin_lock(&self) -> TerminalResult<()> {
        let mut g = self.pins.lock().map_err(internal)?;
        match g.locked_until {
            Some(t) if Instant::now() < t => {
                Err(TerminalError::PinLocked { retry_after_s: (t - Instant::now()).as_secs() + 1 })
            }
            Some(_) => {
                *g = PinGuard::default();
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn note_wrong_pin(&self) {
        if let Ok(mut g) = self.pins.lock() {
            g.wrong_in_row += 1;
            if g.wrong_in_row >= PIN_ATTEMPTS_MAX {
                g.locked_until = Some(Instant::now() + Duration::from_millis(PIN_LOCKOUT_MS));
            }
        }
    }

    /// `POST /api/signout`. The queue is untouched.
    pub async fn sign_out(&self) -> TerminalResult<()> {
        let mut w = self.db.writer().await;
        db::set_signed_in(&mut w, None).await?;
        Ok(())
    }

    /// Who is signed in, if anyone (and still active here, by the cache).
    pub async fn signed_in(&self, conn: &mut SqliteConnection) -> TerminalResult<Option<SignedIn>> {
        let Some(dev) = db::device(conn).await? else { return Ok(None) };
        let Some(id) = dev.signed_in_staff else { return Ok(None) };
        let staff = cached_staff(conn, id).await?;
        Ok(staff.map(|s| SignedIn { staff_id: s.id, name: s.name, role: s.role }))
    }
}
