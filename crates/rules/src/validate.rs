//! Validation of op payloads (spec §4, push rule 7) and of admin input (§5.5, §5.6).
//!
//! Every failure is a `VALIDATION_FAILED` [`Rejection`] whose `field` is a JSON path
//! relative to the validated document (`lines[1].qty`, `tender.cash_khr`, `recipe[2].qty`)
//! and whose message starts with that path.

use std::collections::HashSet;

use modula_wire::admin::PutMenuItem;
use modula_wire::limits::{
    KHR_MAX, MONEY_MAX_CENTS, NAME_MAX_CHARS, QTY_MAX, RECIPE_MAX_LINES, SALE_MAX_LINES,
    TEXT_MAX_CHARS,
};
use modula_wire::op::{
    CashSessionClose, CashSessionMovement, CashSessionOpen, MovementKind, Payload, SaleFinalize,
    SaleLine, SaleVoid, ShiftPayload,
};
use modula_wire::{OpType, Policy, PolicyPatch};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::pricing::VAT_BPS_MAX;
use crate::Rejection;

/// Longest receipt number, in characters.
pub const RECEIPT_NO_MAX_CHARS: usize = 64;
/// Shortest PIN, in digits.
pub const PIN_MIN_DIGITS: usize = 4;
/// Longest PIN, in digits.
pub const PIN_MAX_DIGITS: usize = 8;
/// Largest exchange rate a policy may hold, in riel per dollar.
pub const KHR_PER_USD_MAX: i64 = 1_000_000;
/// The riel rounding steps a policy may use.
pub const KHR_ROUNDING_STEPS: [i64; 6] = [1, 10, 50, 100, 500, 1000];

/// Deserializes `payload` into the typed payload of `op_type`, then checks its
/// semantics (limits, required text). The payload itself is not altered.
pub fn parse_payload(op_type: OpType, payload: &Value) -> Result<Payload, Rejection> {
    match op_type {
        OpType::SaleFinalize => typed(payload).and_then(sale).map(Payload::SaleFinalize),
        OpType::CashSessionOpen => typed(payload)
            .and_then(session_open)
            .map(Payload::CashSessionOpen),
        OpType::CashSessionMovement => typed(payload)
            .and_then(movement)
            .map(Payload::CashSessionMovement),
        OpType::CashSessionClose => typed(payload)
            .and_then(session_close)
            .map(Payload::CashSessionClose),
        OpType::AttendanceStartWork => {
            typed::<ShiftPayload>(payload).map(Payload::AttendanceStartWork)
        }
        OpType::AttendanceEndWork => typed::<ShiftPayload>(payload).map(Payload::AttendanceEndWork),
        OpType::SaleVoid => typed(payload).and_then(sale_void).map(Payload::SaleVoid),
    }
}

/// Shape check: deserializes, naming the failing field as a JSON path.
/// Only a JSON object is accepted at the root (serde would also take a struct
/// as an array of its fields).
fn typed<T: DeserializeOwned>(payload: &Value) -> Result<T, Rejection> {
    if !payload.is_object() {
        return Err(Rejection::validation("payload", "must be a JSON object"));
    }
    // Untracked first (path tracking costs about half again); only a payload that fails
    // is deserialized again to name the field.
    if let Ok(value) = T::deserialize(payload) {
        return Ok(value);
    }
    serde_path_to_error::deserialize(payload).map_err(|err| {
        let path = err.path().to_string();
        let detail = err.into_inner().to_string();
        Rejection::validation(shape_field(&path, &detail), detail)
    })
}

/// The path of a shape error; a missing field is blamed on the field itself,
/// an error at the root on `payload`.
fn shape_field(path: &str, detail: &str) -> String {
    let missing = detail
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    match (path, missing) {
        (".", Some(name)) => name.to_string(),
        (".", None) => "payload".to_string(),
        (_, Some(name)) => format!("{path}.{name}"),
        (_, None) => path.to_string(),
    }
}

fn sale(p: SaleFinalize) -> Result<SaleFinalize, Rejection> {
    receipt_no(&p.receipt_no)?;
    sale_lines(&p.lines)?;
    in_range(
        "tender.cash_usd_cents",
        p.tender.cash_usd_cents,
        0,
        MONEY_MAX_CENTS,
    )?;
    in_range("tender.cash_khr", p.tender.cash_khr, 0, KHR_MAX)?;
    sale_totals(&p)?;
    if let Some(fx) = &p.fx {
        in_range("fx.khr_per_usd", fx.khr_per_usd, 1, KHR_PER_USD_MAX)?;
        if !KHR_ROUNDING_STEPS.contains(&fx.khr_rounding) {
            return Err(Rejection::validation("fx.khr_rounding", "must be one of 1, 10, 50, 100, 500, 1000"));
        }
    }
    if let Some(change) = &p.change {
        in_range("change.usd_cents", change.usd_cents, 0, MONEY_MAX_CENTS)?;
        in_range("change.khr", change.khr, 0, KHR_MAX)?;
    }
    Ok(p)
}

fn receipt_no(value: &str) -> Result<(), Rejection> {
    let field = "receipt_no";
    if value.trim().is_empty() {
        return Err(Rejection::validation(field, "must not be empty"));
    }
    max_chars(field, value, RECEIPT_NO_MAX_CHARS)?;
    no_control_chars(field, value)
}

fn sale_lines(lines: &[SaleLine]) -> Result<(), Rejection> {
    if lines.is_empty() {
        return Err(Rejection::validation(
            "lines",
            "a sale needs at least one line",
        ));
    }
    if lines.len() > SALE_MAX_LINES {
        return Err(Rejection::validation(
            "lines",
            format!("a sale has at most {SALE_MAX_LINES} lines"),
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        in_range(&format!("lines[{i}].qty"), line.qty, 1, QTY_MAX)?;
        in_range(
            &format!("lines[{i}].unit_price_cents"),
            line.unit_price_cents,
            0,
            MONEY_MAX_CENTS,
        )?;
    }
    Ok(())
}

/// Totals are within limits and consistent with the lines, whatever the VAT policy
/// the device priced with: subtotal = Σ lines, and total = subtotal (VAT included)
/// or subtotal + VAT (VAT added).
fn sale_totals(p: &SaleFinalize) -> Result<(), Rejection> {
    let t = &p.totals;
    in_range(
        "totals.subtotal_cents",
        t.subtotal_cents,
        0,
        MONEY_MAX_CENTS,
    )?;
    in_range("totals.vat_cents", t.vat_cents, 0, MONEY_MAX_CENTS)?;
    in_range("totals.total_cents", t.total_cents, 0, MONEY_MAX_CENTS)?;
    // Lines are within limits here, so the i128 sum cannot overflow.
    let lines_cents: i128 = p
        .lines
        .iter()
        .map(|l| i128::from(l.qty) * i128::from(l.unit_price_cents))
        .sum();
    if i128::from(t.subtotal_cents) != lines_cents {
        let msg = format!("must equal the sum of the lines ({lines_cents} cents)");
        return Err(Rejection::validation("totals.subtotal_cents", msg));
    }
    let included = t.total_cents == t.subtotal_cents && t.vat_cents <= t.total_cents;
    let added = i128::from(t.total_cents) == i128::from(t.subtotal_cents) + i128::from(t.vat_cents);
    if !included && !added {
        let msg = "must equal the subtotal (VAT included) or the subtotal plus VAT (VAT added)";
        return Err(Rejection::validation("totals.total_cents", msg));
    }
    Ok(())
}

fn session_open(p: CashSessionOpen) -> Result<CashSessionOpen, Rejection> {
    in_range("opening_float_cents", p.opening_float_cents, 0, MONEY_MAX_CENTS)?;
    if let Some(khr) = p.opening_float_khr {
        in_range("opening_float_khr", khr, 0, KHR_MAX)?;
    }
    Ok(p)
}

fn session_close(p: CashSessionClose) -> Result<CashSessionClose, Rejection> {
    in_range("counted_cash_cents", p.counted_cash_cents, 0, MONEY_MAX_CENTS)?;
    if let Some(khr) = p.counted_khr {
        in_range("counted_khr", khr, 0, KHR_MAX)?;
    }
    Ok(p)
}

/// A void: a reason, and a refund of 0..=the limits in each currency, not nothing.
fn sale_void(p: SaleVoid) -> Result<SaleVoid, Rejection> {
    text("reason", &p.reason, true)?;
    in_range("refund.usd_cents", p.refund.usd_cents, 0, MONEY_MAX_CENTS)?;
    in_range("refund.khr", p.refund.khr, 0, KHR_MAX)?;
    Ok(p)
}

/// Exactly one amount, dollars or riel: > 0, or for an adjustment non-zero either way.
fn movement(p: CashSessionMovement) -> Result<CashSessionMovement, Rejection> {
    let (field, amount, max) = match (p.amount_cents, p.amount_khr) {
        (Some(cents), None) => ("amount_cents", cents, MONEY_MAX_CENTS),
        (None, Some(khr)) => ("amount_khr", khr, KHR_MAX),
        (Some(_), Some(_)) => {
            return Err(Rejection::validation(
                "amount_khr",
                "give one amount: amount_cents (dollars) or amount_khr (riel), not both",
            ))
        }
        (None, None) => {
            return Err(Rejection::validation(
                "amount_cents",
                "an amount is required: amount_cents (dollars) or amount_khr (riel)",
            ))
        }
    };
    match p.kind {
        MovementKind::PaidIn | MovementKind::PaidOut => in_range(field, amount, 1, max)?,
        MovementKind::Adjustment => {
            in_range(field, amount, -max, max)?;
            if amount == 0 {
                return Err(Rejection::validation(field, "an adjustment must not be zero"));
            }
        }
    }
    let reason_required = matches!(p.kind, MovementKind::PaidOut | MovementKind::Adjustment);
    text("reason", &p.reason, reason_required)?;
    Ok(p)
}

/// A display name: trimmed, non-empty, at most `NAME_MAX_CHARS` characters, no
/// control characters. Returns the trimmed value.
pub fn name(field: &str, value: &str) -> Result<String, Rejection> {
    single_line(field, value, NAME_MAX_CHARS)
}

/// Longest tenant slug, in characters.
pub const SLUG_MAX_CHARS: usize = 48;

/// A tenant slug as given (`--slug`): 1 to [`SLUG_MAX_CHARS`] lowercase ASCII letters,
/// digits and hyphens, starting and ending with a letter or digit.
pub fn slug(field: &str, value: &str) -> Result<String, Rejection> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let edges_ok = !value.starts_with('-') && !value.ends_with('-');
    if value.is_empty() || value.len() > SLUG_MAX_CHARS || !value.chars().all(ok_char) || !edges_ok {
        let msg = format!(
            "a shop's slug is 1 to {SLUG_MAX_CHARS} lowercase letters, digits and hyphens, \
             starting and ending with a letter or digit (e.g. mekong-bean)"
        );
        return Err(Rejection::validation(field, msg));
    }
    Ok(value.to_string())
}

/// The slug made from a tenant's name: ASCII letters and digits lowercased, every other
/// run of characters one hyphen, at most [`SLUG_MAX_CHARS`]; `cafe` when nothing is left
/// (a name in Khmer script). Always passes [`slug`].
pub fn slug_from_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(SLUG_MAX_CHARS));
    for c in name.chars().map(fold_latin) {
        if out.len() == SLUG_MAX_CHARS {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("cafe");
    }
    out
}

/// A Latin letter with a diacritic as its base letter (`é` → `e`), for slugs.
fn fold_latin(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'a',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        'ñ' | 'Ñ' => 'n',
        other => other,
    }
}

/// A required one-line text of at most `limit_chars` characters, trimmed.
fn single_line(field: &str, value: &str, limit_chars: usize) -> Result<String, Rejection> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Rejection::validation(field, "must not be empty"));
    }
    max_chars(field, trimmed, limit_chars)?;
    no_control_chars(field, trimmed)?;
    Ok(trimmed.to_string())
}

/// Free text (a reason, a note): trimmed, at most `TEXT_MAX_CHARS` characters,
/// non-empty when `required`; line breaks and tabs are allowed, other control
/// characters are not. Returns the trimmed value.
pub fn text(field: &str, value: &str, required: bool) -> Result<String, Rejection> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(Rejection::validation(field, "must not be empty"));
    }
    max_chars(field, trimmed, TEXT_MAX_CHARS)?;
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Rejection::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// Fewest characters of a server password (SPEC §3).
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Most bytes of a server password: a bound on what one sign-in may ask argon2 to read.
pub const PASSWORD_MAX_BYTES: usize = 256;
/// Longest sign-in login, in characters.
pub const LOGIN_MAX_CHARS: usize = 64;

/// A server password: at least [`PASSWORD_MIN_CHARS`] characters, at most
/// [`PASSWORD_MAX_BYTES`] bytes, no control characters. Spaces count (a passphrase is
/// welcome). The message never repeats the password.
pub fn password(field: &str, password: &str) -> Result<(), Rejection> {
    if password.chars().count() < PASSWORD_MIN_CHARS || password.len() > PASSWORD_MAX_BYTES {
        let msg = format!("a password has at least {PASSWORD_MIN_CHARS} characters (and at most {PASSWORD_MAX_BYTES} bytes)");
        return Err(Rejection::validation(field, msg));
    }
    if password.chars().any(char::is_control) {
        return Err(Rejection::validation(field, "a password must not contain control characters"));
    }
    Ok(())
}

/// A sign-in login, normalized: trimmed and lowercased; 1 to [`LOGIN_MAX_CHARS`]
/// letters, digits and `.` `_` `-` `@` `+` (an email address works). Returns the
/// normalized login, the form stored and looked up.
pub fn login(field: &str, login: &str) -> Result<String, Rejection> {
    let normalized = login.trim().to_lowercase();
    let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+');
    let length_ok = (1..=LOGIN_MAX_CHARS).contains(&normalized.chars().count());
    if !length_ok || !normalized.chars().all(ok_char) {
        let msg = format!("a login is 1 to {LOGIN_MAX_CHARS} letters, digits and . _ - @ + (e.g. sokha or sokha@example.com)");
        return Err(Rejection::validation(field, msg));
    }
    Ok(normalized)
}

/// A PIN: 4 to 8 ASCII digits. The message never repeats the PIN.
pub fn pin(field: &str, pin: &str) -> Result<(), Rejection> {
    let digits_ok = pin.bytes().all(|b| b.is_ascii_digit());
    if digits_ok && (PIN_MIN_DIGITS..=PIN_MAX_DIGITS).contains(&pin.len()) {
        return Ok(());
    }
    Err(Rejection::validation(
        field,
        format!("must be {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits"),
    ))
}

/// A complete policy: currency of 3 uppercase ASCII letters, `vat_bps` in 0..=10000,
/// `khr_per_usd` in 1..=1,000,000, `khr_rounding` one of 1, 10, 50, 100, 500, 1000,
/// `paid_out_limit_cents` in 0..=`MONEY_MAX_CENTS`, `max_tender_cents` and
/// `max_float_cents` in 1..=`MONEY_MAX_CENTS`.
pub fn policy(p: &Policy) -> Result<(), Rejection> {
    if p.currency.len() != 3 || !p.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Rejection::validation(
            "currency",
            "must be 3 uppercase letters (ISO 4217), e.g. USD",
        ));
    }
    in_range("vat_bps", p.vat_bps, 0, VAT_BPS_MAX)?;
    in_range("khr_per_usd", p.khr_per_usd, 1, KHR_PER_USD_MAX)?;
    if !KHR_ROUNDING_STEPS.contains(&p.khr_rounding) {
        return Err(Rejection::validation(
            "khr_rounding",
            "must be one of 1, 10, 50, 100, 500, 1000",
        ));
    }
    in_range(
        "paid_out_limit_cents",
        p.paid_out_limit_cents,
        0,
        MONEY_MAX_CENTS,
    )?;
    in_range("idle_signout_minutes", p.idle_signout_minutes, 0, IDLE_SIGNOUT_MINUTES_MAX)?;
    in_range("max_tender_cents", p.max_tender_cents, 1, MONEY_MAX_CENTS)?;
    in_range("max_float_cents", p.max_float_cents, 1, MONEY_MAX_CENTS)?;
    optional_line("vat_tin", &p.vat_tin, VAT_TIN_MAX_CHARS)?;
    receipt_footer(&p.receipt_footer)?;
    Ok(())
}

/// Longest `vat_tin`, in characters.
pub const VAT_TIN_MAX_CHARS: usize = 40;
/// Longest `receipt_footer`, in characters.
pub const RECEIPT_FOOTER_MAX_CHARS: usize = 300;
/// Most lines in a `receipt_footer`.
pub const RECEIPT_FOOTER_MAX_LINES: usize = 4;
/// Longest branch address, in characters.
pub const ADDRESS_MAX_CHARS: usize = 200;

/// A receipt footer: at most [`RECEIPT_FOOTER_MAX_LINES`] lines and
/// [`RECEIPT_FOOTER_MAX_CHARS`] characters, no control characters but line breaks.
fn receipt_footer(value: &str) -> Result<(), Rejection> {
    let field = "receipt_footer";
    max_chars(field, value, RECEIPT_FOOTER_MAX_CHARS)?;
    if value.lines().count() > RECEIPT_FOOTER_MAX_LINES {
        return Err(Rejection::validation(field, format!("at most {RECEIPT_FOOTER_MAX_LINES} lines")));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r')) {
        return Err(Rejection::validation(field, "must not contain control characters"));
    }
    Ok(())
}

/// A branch's address: one line of at most [`ADDRESS_MAX_CHARS`] characters, trimmed;
/// empty means none.
pub fn address(value: &str) -> Result<String, Rejection> {
    optional_line("address", value, ADDRESS_MAX_CHARS)
}

/// An optional one-line text of at most `limit_chars` characters, trimmed (may be empty).
fn optional_line(field: &str, value: &str, limit_chars: usize) -> Result<String, Rejection> {
    let trimmed = value.trim();
    max_chars(field, trimmed, limit_chars)?;
    no_control_chars(field, trimmed)?;
    Ok(trimmed.to_string())
}

/// Longest idle sign-out a policy may set: a day, in minutes (0 = never).
pub const IDLE_SIGNOUT_MINUTES_MAX: i64 = 24 * 60;

/// A policy patch (tenant update or branch override): every field it sets obeys
/// the rules of [`policy`].
pub fn policy_patch(p: &PolicyPatch) -> Result<(), Rejection> {
    policy(&p.apply_to(&Policy::default()))
}

/// A menu item as put by a manager: name (≤ `NAME_MAX_CHARS`) and category
/// (≤ `TEXT_MAX_CHARS`) trimmed and required, price in 0..=`MONEY_MAX_CENTS`, at most
/// `RECIPE_MAX_LINES` recipe lines with qty in 1..=`QTY_MAX` and no stock item twice.
/// Returns the item with its texts trimmed.
pub fn menu_item(item: &PutMenuItem) -> Result<PutMenuItem, Rejection> {
    let name = name("name", &item.name)?;
    let category = single_line("category", &item.category, TEXT_MAX_CHARS)?;
    in_range("price_cents", item.price_cents, 0, MONEY_MAX_CENTS)?;
    if item.recipe.len() > RECIPE_MAX_LINES {
        return Err(Rejection::validation(
            "recipe",
            format!("at most {RECIPE_MAX_LINES} recipe lines"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, line) in item.recipe.iter().enumerate() {
        positive_qty(&format!("recipe[{i}].qty"), line.qty)?;
        if !seen.insert(line.stock_item_id) {
            let msg = "this stock item is already in the recipe";
            return Err(Rejection::validation(
                format!("recipe[{i}].stock_item_id"),
                msg,
            ));
        }
    }
    Ok(PutMenuItem {
        name,
        category,
        ..item.clone()
    })
}

/// A quantity (restock, recipe line): 1..=`QTY_MAX`.
pub fn positive_qty(field: &str, qty: i64) -> Result<(), Rejection> {
    in_range(field, qty, 1, QTY_MAX)
}

fn in_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), Rejection> {
    debug_assert!(min <= max);
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(Rejection::validation(
        field,
        format!("must be between {min} and {max}, got {value}"),
    ))
}

fn max_chars(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if value.chars().count() <= max {
        return Ok(());
    }
    Err(Rejection::validation(
        field,
        format!("must be at most {max} characters"),
    ))
}

fn no_control_chars(field: &str, value: &str) -> Result<(), Rejection> {
    if value.chars().any(char::is_control) {
        return Err(Rejection::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn logins_are_normalized_and_passwords_bounded() {
        assert_eq!(login("login", "  Sokha@Example.com ").as_deref(), Ok("sokha@example.com"));
        assert_eq!(login("login", "dara.k").as_deref(), Ok("dara.k"));
        for bad in ["", "   ", "a b", "a/b", "a\u{0}", &"a".repeat(LOGIN_MAX_CHARS + 1)] {
            assert_eq!(login("login", bad).unwrap_err().field.as_deref(), Some("login"), "{bad:?}");
        }
        assert!(password("password", "ten chars!").is_ok());
        assert!(password("password", "ពាក្យសម្ងាត់ខ្មែរ").is_ok());
        for bad in ["nine char", "", "tab\tinside a password", &"x".repeat(PASSWORD_MAX_BYTES + 1)] {
            let err = password("password", bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("password"));
            assert!(bad.is_empty() || !err.message.contains(bad), "the message never repeats the password");
        }
    }

    #[test]
    fn slugs_are_made_from_names_and_checked() {
        assert_eq!(slug_from_name("Mekong Bean Café"), "mekong-bean-cafe");
        assert_eq!(slug_from_name("  Brown -- Coffee & Bakery!  "), "brown-coffee-bakery");
        assert_eq!(slug_from_name("កាហ្វេ"), "cafe");
        assert_eq!(slug_from_name(&"a".repeat(100)).len(), SLUG_MAX_CHARS);
        for name in ["Mekong Bean Café", "---", "x", &"ab-".repeat(40)] {
            let made = slug_from_name(name);
            assert_eq!(slug("slug", &made).as_deref(), Ok(made.as_str()), "{name:?} → {made:?}");
        }
        assert!(slug("slug", "mekong-bean").is_ok());
        for bad in ["", "-a", "a-", "Mekong", "a b", "café", &"a".repeat(49)] {
            assert_eq!(slug("slug", bad).unwrap_err().field.as_deref(), Some("slug"), "{bad:?}");
        }
    }

    use super::*;
    use modula_wire::admin::RecipeLine;
    use modula_wire::ErrorCode;
    use serde_json::json;
    use uuid::Uuid;

    const ID1: &str = "0190a1b2-0000-7000-8000-000000000001";
    const ID2: &str = "0190a1b2-0000-7000-8000-000000000002";

    fn sale_json() -> Value {
        json!({
            "sale_id": ID1, "cash_session_id": ID2, "receipt_no": "FC1-42",
            "lines": [
                {"menu_item_id": ID1, "qty": 2, "unit_price_cents": 275},
                {"menu_item_id": ID2, "qty": 1, "unit_price_cents": 150}
            ],
            "tender": {"cash_usd_cents": 1000, "cash_khr": 0},
            "totals": {"subtotal_cents": 700, "vat_cents": 64, "total_cents": 700}
        })
    }

    fn movement_json(kind: &str, amount_cents: i64, reason: &str) -> Value {
        json!({"cash_session_id": ID1, "movement_id": ID2, "kind": kind, "amount_cents": amount_cents, "reason": reason})
    }

    /// Asserts `r` is VALIDATION_FAILED blaming `field`, in `field` and in the message.
    fn assert_field<T: std::fmt::Debug>(r: Result<T, Rejection>, field: &str) {
        let err = r.expect_err("expected a rejection");
        assert_eq!(err.code, ErrorCode::ValidationFailed, "{err:?}");
        assert_eq!(err.field.as_deref(), Some(field), "{err:?}");
        assert!(err.message.starts_with(&format!("{field}: ")), "{err:?}");
    }

    fn sale_with(edit: impl FnOnce(&mut Value)) -> Result<Payload, Rejection> {
        let mut v = sale_json();
        edit(&mut v);
        parse_payload(OpType::SaleFinalize, &v)
    }

    #[test]
    fn sale_accepted() {
        let Payload::SaleFinalize(s) = parse_payload(OpType::SaleFinalize, &sale_json()).unwrap()
        else {
            panic!("wrong variant");
        };
        assert_eq!(s.lines.len(), 2);
        assert_eq!(s.tender.cash_usd_cents, 1000);
        // VAT added: total = subtotal + VAT.
        let added = sale_with(|v| {
            v["totals"] = json!({"subtotal_cents": 700, "vat_cents": 70, "total_cents": 770})
        });
        assert!(added.is_ok());
    }

    #[test]
    fn sale_shape_errors_name_the_path() {
        assert_field(
            sale_with(|v| v["lines"][1]["qty"] = json!("two")),
            "lines[1].qty",
        );
        assert_field(
            sale_with(|v| v["lines"][1]["qty"] = json!(1.5)),
            "lines[1].qty",
        );
        assert_field(
            sale_with(|v| v["tender"]["cash_khr"] = json!(null)),
            "tender.cash_khr",
        );
        assert_field(sale_with(|v| v["sale_id"] = json!("not-a-uuid")), "sale_id");
        assert_field(
            sale_with(|v| {
                v.as_object_mut().unwrap().remove("totals");
            }),
            "totals",
        );
        assert_field(
            sale_with(|v| {
                v["lines"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("unit_price_cents");
            }),
            "lines[0].unit_price_cents",
        );
        assert_field(parse_payload(OpType::SaleFinalize, &json!([1])), "payload");
        assert_field(parse_payload(OpType::SaleFinalize, &Value::Null), "payload");
    }

    #[test]
    fn sale_semantic_errors_name_the_field() {
        assert_field(sale_with(|v| v["lines"] = json!([])), "lines");
        let many: Vec<Value> = (0..=SALE_MAX_LINES)
            .map(|_| json!({"menu_item_id": ID1, "qty": 1, "unit_price_cents": 0}))
            .collect();
        assert_field(sale_with(|v| v["lines"] = json!(many)), "lines");
        assert_field(
            sale_with(|v| v["lines"][1]["qty"] = json!(0)),
            "lines[1].qty",
        );
        assert_field(
            sale_with(|v| v["lines"][1]["qty"] = json!(QTY_MAX + 1)),
            "lines[1].qty",
        );
        assert_field(
            sale_with(|v| v["lines"][0]["unit_price_cents"] = json!(-1)),
            "lines[0].unit_price_cents",
        );
        assert_field(
            sale_with(|v| v["lines"][0]["unit_price_cents"] = json!(MONEY_MAX_CENTS + 1)),
            "lines[0].unit_price_cents",
        );
        assert_field(
            sale_with(|v| v["tender"]["cash_usd_cents"] = json!(-1)),
            "tender.cash_usd_cents",
        );
        assert_field(
            sale_with(|v| v["tender"]["cash_khr"] = json!(KHR_MAX + 1)),
            "tender.cash_khr",
        );
        assert_field(
            sale_with(|v| v["totals"]["vat_cents"] = json!(-1)),
            "totals.vat_cents",
        );
        assert_field(
            sale_with(|v| v["totals"]["subtotal_cents"] = json!(701)),
            "totals.subtotal_cents",
        );
        assert_field(
            sale_with(|v| v["totals"]["total_cents"] = json!(765)),
            "totals.total_cents",
        );
        assert_field(
            sale_with(|v| v["totals"]["vat_cents"] = json!(701)),
            "totals.total_cents",
        );
        assert_field(sale_with(|v| v["receipt_no"] = json!("  ")), "receipt_no");
        assert_field(
            sale_with(|v| v["receipt_no"] = json!("x".repeat(RECEIPT_NO_MAX_CHARS + 1))),
            "receipt_no",
        );
        assert_field(
            sale_with(|v| v["receipt_no"] = json!("FC1\n42")),
            "receipt_no",
        );
        assert!(sale_with(|v| v["receipt_no"] = json!("é".repeat(RECEIPT_NO_MAX_CHARS))).is_ok());
    }

    #[test]
    fn cash_session_open_and_close() {
        let open = json!({"cash_session_id": ID1, "opening_float_cents": 5000});
        assert!(matches!(
            parse_payload(OpType::CashSessionOpen, &open),
            Ok(Payload::CashSessionOpen(_))
        ));
        let open = json!({"cash_session_id": ID1, "opening_float_cents": -1});
        assert_field(
            parse_payload(OpType::CashSessionOpen, &open),
            "opening_float_cents",
        );
        let close = json!({"cash_session_id": ID1, "counted_cash_cents": 0});
        assert!(matches!(
            parse_payload(OpType::CashSessionClose, &close),
            Ok(Payload::CashSessionClose(_))
        ));
        let close = json!({"cash_session_id": ID1, "counted_cash_cents": MONEY_MAX_CENTS + 1});
        assert_field(
            parse_payload(OpType::CashSessionClose, &close),
            "counted_cash_cents",
        );
        let close = json!({"cash_session_id": ID1});
        assert_field(
            parse_payload(OpType::CashSessionClose, &close),
            "counted_cash_cents",
        );
    }

    #[test]
    fn movements() {
        let ok = |v: Value| parse_payload(OpType::CashSessionMovement, &v);
        assert!(ok(movement_json("paid_in", 100, "")).is_ok());
        assert!(ok(movement_json("paid_out", 100, "ice")).is_ok());
        assert!(ok(movement_json("adjustment", -100, "miscount")).is_ok());
        assert_field(ok(movement_json("paid_in", 0, "")), "amount_cents");
        assert_field(ok(movement_json("paid_out", -5, "ice")), "amount_cents");
        assert_field(
            ok(movement_json("paid_in", MONEY_MAX_CENTS + 1, "")),
            "amount_cents",
        );
        assert_field(ok(movement_json("adjustment", 0, "x")), "amount_cents");
        assert_field(
            ok(movement_json("adjustment", -MONEY_MAX_CENTS - 1, "x")),
            "amount_cents",
        );
        assert_field(ok(movement_json("paid_out", 100, " ")), "reason");
        assert_field(ok(movement_json("adjustment", 100, "")), "reason");
        assert_field(
            ok(movement_json(
                "paid_in",
                100,
                &"r".repeat(TEXT_MAX_CHARS + 1),
            )),
            "reason",
        );
        assert_field(ok(movement_json("refund", 100, "x")), "kind");
    }

    /// A movement in riel: exactly one amount, the same sign rules, riel's own limit.
    #[test]
    fn riel_movements_and_counts() {
        let ok = |v: Value| parse_payload(OpType::CashSessionMovement, &v);
        let riel = |kind: &str, khr: i64| json!({"cash_session_id": ID1, "movement_id": ID2, "kind": kind, "amount_khr": khr, "reason": "ice"});
        match ok(riel("paid_out", 8000)) {
            Ok(Payload::CashSessionMovement(m)) => assert_eq!(m.amount(), modula_wire::op::Cash::Khr(8000)),
            other => panic!("{other:?}"),
        }
        assert!(ok(riel("adjustment", -100)).is_ok());
        assert_field(ok(riel("paid_in", 0)), "amount_khr");
        assert_field(ok(riel("paid_in", KHR_MAX + 1)), "amount_khr");
        let mut both = riel("paid_in", 100);
        both["amount_cents"] = json!(100);
        assert_field(ok(both), "amount_khr");
        let mut neither = riel("paid_in", 100);
        neither.as_object_mut().unwrap().remove("amount_khr");
        assert_field(ok(neither), "amount_cents");
        let open = |v: Value| parse_payload(OpType::CashSessionOpen, &v);
        assert!(open(json!({"cash_session_id": ID1, "opening_float_cents": 0, "opening_float_khr": 40_000})).is_ok());
        assert_field(open(json!({"cash_session_id": ID1, "opening_float_cents": 0, "opening_float_khr": -1})), "opening_float_khr");
        let close = |v: Value| parse_payload(OpType::CashSessionClose, &v);
        assert!(close(json!({"cash_session_id": ID1, "counted_cash_cents": 0, "counted_khr": 0})).is_ok());
        assert_field(close(json!({"cash_session_id": ID1, "counted_cash_cents": 0, "counted_khr": -5})), "counted_khr");
        assert_field(close(json!({"cash_session_id": ID1, "counted_cash_cents": 0, "counted_khr": "5"})), "counted_khr");
    }

    #[test]
    fn void_payloads() {
        let ok = |v: Value| parse_payload(OpType::SaleVoid, &v);
        let void = json!({"sale_id": ID1, "cash_session_id": ID2, "reason": "wrong drink", "refund": {"usd_cents": 300, "khr": 0}});
        assert!(matches!(ok(void.clone()), Ok(Payload::SaleVoid(_))));
        let mut blank = void.clone();
        blank["reason"] = json!("  ");
        assert_field(ok(blank), "reason");
        let mut negative = void.clone();
        negative["refund"]["khr"] = json!(-1);
        assert_field(ok(negative), "refund.khr");
        let mut missing = void;
        missing.as_object_mut().unwrap().remove("refund");
        assert_field(ok(missing), "refund");
    }

    #[test]
    fn attendance_payloads() {
        let shift = json!({"shift_id": ID1, "staff_id": ID2});
        assert!(matches!(
            parse_payload(OpType::AttendanceStartWork, &shift),
            Ok(Payload::AttendanceStartWork(_))
        ));
        assert!(matches!(
            parse_payload(OpType::AttendanceEndWork, &shift),
            Ok(Payload::AttendanceEndWork(_))
        ));
        assert_field(
            parse_payload(OpType::AttendanceEndWork, &json!({"shift_id": ID1})),
            "staff_id",
        );
    }

    #[test]
    fn names() {
        assert_eq!(name("name", "  Latte  ").unwrap(), "Latte");
        assert_eq!(
            name("name", &"ក".repeat(NAME_MAX_CHARS))
                .unwrap()
                .chars()
                .count(),
            NAME_MAX_CHARS
        );
        assert_field(name("name", "   "), "name");
        assert_field(name("name", &"a".repeat(NAME_MAX_CHARS + 1)), "name");
        assert_field(name("name", "a\u{7}b"), "name");
    }

    #[test]
    fn texts() {
        assert_eq!(text("reason", " two\nlines ", true).unwrap(), "two\nlines");
        assert_eq!(text("reason", "", false).unwrap(), "");
        assert_field(text("reason", " ", true), "reason");
        assert_field(
            text("reason", &"a".repeat(TEXT_MAX_CHARS + 1), false),
            "reason",
        );
        assert_field(text("reason", "a\u{0}b", false), "reason");
    }

    #[test]
    fn pins() {
        assert!(pin("pin", "1234").is_ok());
        assert!(pin("pin", "12345678").is_ok());
        assert_field(pin("pin", "123"), "pin");
        assert_field(pin("pin", "123456789"), "pin");
        assert_field(pin("pin", "12a4"), "pin");
        assert_field(pin("pin", "١٢٣٤"), "pin"); // Arabic-Indic digits are not ASCII
        assert!(!pin("pin", "98x7").unwrap_err().message.contains("98x7"));
    }

    #[test]
    fn policies() {
        assert!(policy(&Policy::default()).is_ok());
        let with = |edit: fn(&mut Policy)| {
            let mut p = Policy::default();
            edit(&mut p);
            policy(&p)
        };
        assert_field(with(|p| p.currency = "usd".into()), "currency");
        assert_field(with(|p| p.currency = "USDT".into()), "currency");
        assert_field(with(|p| p.vat_bps = 10_001), "vat_bps");
        assert_field(with(|p| p.vat_bps = -1), "vat_bps");
        assert_field(with(|p| p.khr_per_usd = 0), "khr_per_usd");
        assert_field(with(|p| p.khr_per_usd = KHR_PER_USD_MAX + 1), "khr_per_usd");
        assert_field(with(|p| p.khr_rounding = 20), "khr_rounding");
        assert_field(
            with(|p| p.paid_out_limit_cents = -1),
            "paid_out_limit_cents",
        );
        assert!(with(|p| p.khr_rounding = 500).is_ok());
        assert!(policy_patch(&PolicyPatch {
            vat_bps: Some(0),
            ..PolicyPatch::default()
        })
        .is_ok());
        assert_field(
            policy_patch(&PolicyPatch {
                khr_rounding: Some(3),
                ..PolicyPatch::default()
            }),
            "khr_rounding",
        );
    }

    fn item(recipe: Vec<RecipeLine>) -> PutMenuItem {
        PutMenuItem {
            name: " Iced latte ".into(),
            price_cents: 275,
            category: " Coffee ".into(),
            active: true,
            recipe,
        }
    }

    fn recipe_line(stock_item_id: Uuid, qty: i64) -> RecipeLine {
        RecipeLine { stock_item_id, qty }
    }

    #[test]
    fn menu_items() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let ok = menu_item(&item(vec![recipe_line(a, 18), recipe_line(b, 200)])).unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.category.as_str()),
            ("Iced latte", "Coffee")
        );
        assert_eq!(ok.recipe.len(), 2);
        assert_field(
            menu_item(&PutMenuItem {
                name: "".into(),
                ..item(vec![])
            }),
            "name",
        );
        assert_field(
            menu_item(&PutMenuItem {
                category: "\t".into(),
                ..item(vec![])
            }),
            "category",
        );
        assert_field(
            menu_item(&PutMenuItem {
                price_cents: -1,
                ..item(vec![])
            }),
            "price_cents",
        );
        let long: Vec<RecipeLine> = (0..=RECIPE_MAX_LINES as u128)
            .map(|i| recipe_line(Uuid::from_u128(i), 1))
            .collect();
        assert_field(menu_item(&item(long)), "recipe");
        assert_field(
            menu_item(&item(vec![
                recipe_line(a, 1),
                recipe_line(b, 1),
                recipe_line(Uuid::nil(), 0),
            ])),
            "recipe[2].qty",
        );
        assert_field(
            menu_item(&item(vec![recipe_line(a, 1), recipe_line(a, 2)])),
            "recipe[1].stock_item_id",
        );
    }

    #[test]
    fn positive_quantities() {
        assert!(positive_qty("qty", 1).is_ok());
        assert!(positive_qty("qty", QTY_MAX).is_ok());
        assert_field(positive_qty("qty", 0), "qty");
        assert_field(positive_qty("qty", QTY_MAX + 1), "qty");
    }
}
