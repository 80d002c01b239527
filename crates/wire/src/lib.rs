//! Wire types of Modula Offline Sync.
//!
//! Everything that crosses a socket between the server, the terminal and outside
//! clients is defined here, once, so both sides agree by construction. The shapes
//! follow `shared/SPEC.md`; field names are the contract and must not drift.

pub mod admin;
pub mod domain;
pub mod envelope;
pub mod json_text;
pub mod op;
pub mod openapi;
pub mod problem;
pub mod reads;
pub mod reports;
pub mod sync;

pub use json_text::JsonText;
pub use domain::{BranchStatus, CashDrawer, CashFlows, Policy, PolicyPatch, Role};
pub use op::{Op, OpResult, OpStatus, OpType, PushRequest, PushResponse};
pub use problem::{ErrorCode, Problem};

/// Hard limits that both sides of the wire agree on.
pub mod limits {
    /// Most ops one `POST /v1/sync/push` may carry.
    pub const PUSH_MAX_OPS: usize = 500;
    /// Largest request body the server accepts, in bytes (4 MiB).
    pub const BODY_MAX_BYTES: usize = 4 * 1024 * 1024;
    /// Longest display name (branch, staff, device, menu item, stock item), in characters.
    pub const NAME_MAX_CHARS: usize = 120;
    /// Longest free-text field (reasons, categories, units), in characters.
    pub const TEXT_MAX_CHARS: usize = 500;
    /// Most lines in one sale.
    pub const SALE_MAX_LINES: usize = 200;
    /// Most recipe lines on one menu item.
    pub const RECIPE_MAX_LINES: usize = 50;
    /// Most branches one staff member may be assigned to in one request.
    pub const STAFF_MAX_BRANCHES: usize = 1000;
    /// Most `depends_on` ids on one op (enforced while parsing).
    pub const DEPENDS_ON_MAX: usize = 16;
    /// Longest op `type`, in bytes (enforced while parsing).
    pub const OP_TYPE_MAX_BYTES: usize = 64;
    /// Largest money amount accepted anywhere, in cents (10 million USD).
    pub const MONEY_MAX_CENTS: i64 = 1_000_000_000;
    /// Largest riel amount accepted in a tender, in whole riel.
    pub const KHR_MAX: i64 = 4_000_000_000_000;
    /// Largest quantity on a sale line or in a restock.
    pub const QTY_MAX: i64 = 1_000_000;
}
