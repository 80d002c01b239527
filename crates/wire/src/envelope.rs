//! Bounds of an op's envelope, enforced while it is parsed (`deserialize_with`), so a
//! field over its bound fails the parse, and with it the request (`400`, naming the field),
//! before anything is allocated for the rest of it.

use chrono::{DateTime, TimeZone, Utc};
use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::limits::{DEPENDS_ON_MAX, OP_TYPE_MAX_BYTES};

/// The earliest `occurred_at` accepted: 2000-01-01T00:00:00Z. An op stamped earlier
/// comes from a till whose clock was never set; it is refused, not guessed at.
pub fn occurred_at_min() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().expect("a valid instant")
}

/// The first `occurred_at` refused: 2100-01-01T00:00:00Z. (A time in the future but
/// before it is accepted, and flagged in the op's audit event as clock skew.)
pub fn occurred_at_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).single().expect("a valid instant")
}

/// An op `type`: at most [`OP_TYPE_MAX_BYTES`] bytes.
pub fn op_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() > OP_TYPE_MAX_BYTES {
        return Err(D::Error::custom(format!("an op type is at most {OP_TYPE_MAX_BYTES} bytes, not {}", s.len())));
    }
    Ok(s)
}

/// `depends_on`: at most [`DEPENDS_ON_MAX`] ids; the parse stops at the first one over.
pub fn depends_on<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Uuid>, D::Error> {
    struct Bounded;
    impl<'de> Visitor<'de> for Bounded {
        type Value = Vec<Uuid>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {DEPENDS_ON_MAX} op ids")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Uuid>, A::Error> {
            let mut ids = Vec::new();
            while let Some(id) = seq.next_element::<Uuid>()? {
                if ids.len() == DEPENDS_ON_MAX {
                    return Err(A::Error::custom(format!("an op depends on at most {DEPENDS_ON_MAX} ops")));
                }
                ids.push(id);
            }
            Ok(ids)
        }
    }
    d.deserialize_seq(Bounded)
}

/// `occurred_at`: an RFC 3339 instant from [`occurred_at_min`] up to (not including)
/// [`occurred_at_end`].
pub fn occurred_at<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let t = DateTime::<Utc>::deserialize(d)?;
    if t < occurred_at_min() || t >= occurred_at_end() {
        return Err(D::Error::custom(format!("occurred_at {t} is outside 2000-01-01 .. 2100-01-01: is the till's clock set?")));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::op::Op;

    fn op(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Op, serde_json::Error> {
        let mut v = json!({"client_op_id": uuid::Uuid::nil(), "type": "sale.finalize", "tenant_id": uuid::Uuid::nil(),
            "branch_id": uuid::Uuid::nil(), "actor_id": uuid::Uuid::nil(), "device_seq": 1,
            "occurred_at": "2026-03-01T08:15:00Z", "payload": {}, "payload_hash": "00", "depends_on": []});
        edit(&mut v);
        serde_json::from_value(v)
    }

    #[test]
    fn envelopes_within_their_bounds_parse() {
        assert!(op(|_| {}).is_ok());
        assert!(op(|v| v["type"] = json!("x".repeat(64))).is_ok());
        assert!(op(|v| v["depends_on"] = json!(vec![uuid::Uuid::nil(); 16])).is_ok());
        assert!(op(|v| v["occurred_at"] = json!("2000-01-01T00:00:00Z")).is_ok());
        assert!(op(|v| v["occurred_at"] = json!("2099-12-31T23:59:59Z")).is_ok());
        assert!(op(|v| {
            v.as_object_mut().unwrap().remove("depends_on");
        })
        .is_ok());
    }

    #[test]
    fn envelopes_over_their_bounds_fail_the_parse() {
        let e = op(|v| v["type"] = json!("x".repeat(65))).unwrap_err();
        assert!(e.to_string().contains("at most 64 bytes"), "{e}");
        let e = op(|v| v["depends_on"] = json!(vec![uuid::Uuid::nil(); 17])).unwrap_err();
        assert!(e.to_string().contains("at most 16"), "{e}");
        for t in ["1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "1970-01-01T00:00:00Z"] {
            let e = op(|v| v["occurred_at"] = json!(t)).unwrap_err();
            assert!(e.to_string().contains("clock"), "{t}: {e}");
        }
    }
}
