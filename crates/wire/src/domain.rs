//! Domain enums and the policy shape shared by every part.

use serde::{Deserialize, Serialize};

/// A staff member's role. Ordered: `Cashier < Manager < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

fn default_idle_signout_minutes() -> i64 {
    30
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
        }
    }
}

/// Some policy fields: a tenant policy update or a branch override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
        }
    }
}
