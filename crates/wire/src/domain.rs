//! Domain enums and the policy shape shared by every part.

use serde::{Deserialize, Serialize};

/// A staff member's role. Ordered: `Cashier < Manager < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sells, runs the cash drawer, clocks in and out.
    Cashier,
    /// Cashier rights plus adjustments, large paid-outs, admin of their branches.
    Manager,
    /// Everything in the tenant.
    Owner,
}

impl Role {
    /// The role as stored and sent: `cashier`, `manager` or `owner`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cashier => "cashier",
            Role::Manager => "manager",
            Role::Owner => "owner",
        }
    }

    /// Parses a stored role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "cashier" => Some(Role::Cashier),
            "manager" => Some(Role::Manager),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// Whether a branch accepts writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BranchStatus {
    /// Normal operation.
    Active,
    /// Every write op is refused with `BRANCH_FROZEN`.
    Frozen,
}

impl BranchStatus {
    /// The status as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            BranchStatus::Active => "active",
            BranchStatus::Frozen => "frozen",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<BranchStatus> {
        match s {
            "active" => Some(BranchStatus::Active),
            "frozen" => Some(BranchStatus::Frozen),
            _ => None,
        }
    }
}

/// The effective pricing and cash policy of a branch (§3 of the spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    /// ISO 4217 code of the base currency, e.g. `"USD"`.
    pub currency: String,
    /// VAT rate in basis points (1000 = 10%).
    pub vat_bps: i64,
    /// Whether menu prices already include VAT.
    pub prices_include_vat: bool,
    /// Riel per one unit of the base currency.
    pub khr_per_usd: i64,
    /// Riel change is rounded to a multiple of this.
    pub khr_rounding: i64,
    /// Paid-outs above this need a manager, in cents.
    pub paid_out_limit_cents: i64,
    /// A till signs its person out after this many minutes without an action; 0 = never.
    /// (Absent in policies stored before it existed: the default, 30.)
    #[serde(default = "default_idle_signout_minutes")]
    pub idle_signout_minutes: i64,
    /// A tender worth more than this (riel at the sale's rate), in cents, needs the
    /// cashier's confirmation at the till and is flagged in the audit; never refused.
    #[serde(default = "default_max_tender_cents")]
    pub max_tender_cents: i64,
    /// An opening float worth more than this (riel at the policy rate), in cents, needs
    /// a confirmation and is flagged in the audit; never refused.
    #[serde(default = "default_max_float_cents")]
    pub max_float_cents: i64,
    /// The till asks for the drawer's counts before it shows what it expected.
    #[serde(default = "default_blind_close")]
    pub blind_close: bool,
    /// The shop's VAT registration number (TIN), printed on receipts; `""` = none.
    #[serde(default)]
    pub vat_tin: String,
    /// A line or a few printed at the foot of every receipt; `""` = none.
    #[serde(default)]
    pub receipt_footer: String,
}

fn default_idle_signout_minutes() -> i64 {
    30
}

fn default_max_tender_cents() -> i64 {
    20_000
}

fn default_max_float_cents() -> i64 {
    50_000
}

fn default_blind_close() -> bool {
    true
}

impl Default for Policy {
    /// The default for a new tenant: USD, VAT 10% included, 4,100 riel per dollar,
    /// riel change to 100, paid-outs above $20 need a manager.
    fn default() -> Self {
        Policy {
            currency: "USD".to_string(),
            vat_bps: 1000,
            prices_include_vat: true,
            khr_per_usd: 4100,
            khr_rounding: 100,
            paid_out_limit_cents: 2000,
            idle_signout_minutes: default_idle_signout_minutes(),
            max_tender_cents: default_max_tender_cents(),
            max_float_cents: default_max_float_cents(),
            blind_close: default_blind_close(),
            vat_tin: String::new(),
            receipt_footer: String::new(),
        }
    }
}

/// Some policy fields: a tenant policy update or a branch override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyPatch {
    /// See [`Policy::currency`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// See [`Policy::vat_bps`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_bps: Option<i64>,
    /// See [`Policy::prices_include_vat`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices_include_vat: Option<bool>,
    /// See [`Policy::khr_per_usd`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub khr_per_usd: Option<i64>,
    /// See [`Policy::khr_rounding`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub khr_rounding: Option<i64>,
    /// See [`Policy::paid_out_limit_cents`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_out_limit_cents: Option<i64>,
    /// See [`Policy::idle_signout_minutes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_signout_minutes: Option<i64>,
    /// See [`Policy::max_tender_cents`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tender_cents: Option<i64>,
    /// See [`Policy::max_float_cents`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_float_cents: Option<i64>,
    /// See [`Policy::blind_close`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blind_close: Option<bool>,
    /// See [`Policy::vat_tin`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_tin: Option<String>,
    /// See [`Policy::receipt_footer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_footer: Option<String>,
}

impl PolicyPatch {
    /// `base` with every field this patch sets replaced.
    pub fn apply_to(&self, base: &Policy) -> Policy {
        Policy {
            currency: self.currency.clone().unwrap_or_else(|| base.currency.clone()),
            vat_bps: self.vat_bps.unwrap_or(base.vat_bps),
            prices_include_vat: self.prices_include_vat.unwrap_or(base.prices_include_vat),
            khr_per_usd: self.khr_per_usd.unwrap_or(base.khr_per_usd),
            khr_rounding: self.khr_rounding.unwrap_or(base.khr_rounding),
            paid_out_limit_cents: self.paid_out_limit_cents.unwrap_or(base.paid_out_limit_cents),
            idle_signout_minutes: self.idle_signout_minutes.unwrap_or(base.idle_signout_minutes),
            max_tender_cents: self.max_tender_cents.unwrap_or(base.max_tender_cents),
            max_float_cents: self.max_float_cents.unwrap_or(base.max_float_cents),
            blind_close: self.blind_close.unwrap_or(base.blind_close),
            vat_tin: self.vat_tin.clone().unwrap_or_else(|| base.vat_tin.clone()),
            receipt_footer: self.receipt_footer.clone().unwrap_or_else(|| base.receipt_footer.clone()),
        }
    }

    /// This patch with `other`'s fields layered on top.
    pub fn merge(&self, other: &PolicyPatch) -> PolicyPatch {
        PolicyPatch {
            currency: other.currency.clone().or_else(|| self.currency.clone()),
            vat_bps: other.vat_bps.or(self.vat_bps),
            prices_include_vat: other.prices_include_vat.or(self.prices_include_vat),
            khr_per_usd: other.khr_per_usd.or(self.khr_per_usd),
            khr_rounding: other.khr_rounding.or(self.khr_rounding),
            paid_out_limit_cents: other.paid_out_limit_cents.or(self.paid_out_limit_cents),
            idle_signout_minutes: other.idle_signout_minutes.or(self.idle_signout_minutes),
            max_tender_cents: other.max_tender_cents.or(self.max_tender_cents),
            max_float_cents: other.max_float_cents.or(self.max_float_cents),
            blind_close: other.blind_close.or(self.blind_close),
            vat_tin: other.vat_tin.clone().or_else(|| self.vat_tin.clone()),
            receipt_footer: other.receipt_footer.clone().or_else(|| self.receipt_footer.clone()),
        }
    }
}

/// The cash flows of one currency of a drawer session (SPEC §3), in that currency's
/// unit: cents for dollars, whole riel for riel. The shared rules compute expected
/// cash and variance from it; the store keeps it; views and reports show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CashFlows {
    /// In the drawer at opening.
    pub float: i64,
    /// Σ cash handed over by customers.
    pub tendered: i64,
    /// Σ change given back.
    pub change: i64,
    /// Σ paid-in movements.
    pub paid_in: i64,
    /// Σ paid-out movements (positive amounts).
    pub paid_out: i64,
    /// Σ adjustments (signed).
    pub adjustments: i64,
    /// Σ refunds of voided sales paid out of this session.
    pub refunds: i64,
}

/// A two-currency drawer session's flows: dollars (cents) and riel (whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CashDrawer {
    /// Dollars, in cents.
    pub usd: CashFlows,
    /// Riel, whole.
    pub khr: CashFlows,
}
