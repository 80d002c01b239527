//! The seeded schedule: step `n` of a seed is always the same step, whatever happened
//! before it (the generator keeps only state it derives from its own draws, such as
//! which tills it revoked). A failing run is replayed by its seed and step count.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What the schedule draws from: the world's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Tills (till `i` is in branch `i % branches`).
    pub tills: usize,
    /// Branches.
    pub branches: usize,
    /// Menu items.
    pub items: usize,
    /// Stock items.
    pub stock_items: usize,
    /// Server processes.
    pub servers: usize,
}

/// How a customer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tender {
    /// The total in dollars.
    ExactUsd,
    /// Whole dollars above the total (1 to 20 more).
    RoundUsd(i64),
    /// Riel only: the total in riel rounded up, plus this many riel steps.
    Riel(i64),
    /// Some dollars, the rest in riel.
    Mixed,
}

/// What a link does to a till's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes everything.
    Up,
    /// Refuses connections and severs open ones.
    Cut,
    /// Forwards requests but loses the answers (the server did the work).
    LoseAnswers,
    /// Delays every chunk by this many milliseconds.
    Slow(u64),
    /// Passes everything but the nudge stream: the till must converge by its pulls.
    DropNudges,
}

/// One step of a run. (`till`, `branch`, `item`, `stock_item` and `server` are
/// indexes into the world; each variant's doc says what the others are.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Step {
    /// A sale of `(item, qty)` lines at a till, paid as `tender`, the change all in riel
    /// or as the default split.
    Sale { till: usize, lines: Vec<(usize, i64)>, tender: Tender, all_riel: bool },
    /// A drawer movement: `paid_in`, `paid_out` or `adjustment`, in riel or dollars.
    Movement { till: usize, kind: &'static str, riel: bool, amount: i64 },
    /// Opens the till's drawer.
    Open { till: usize, float_cents: i64, float_khr: i64 },
    /// Closes the till's drawer, counted this far off what the till expects.
    Close { till: usize, off_cents: i64, off_khr: i64 },
    /// Starts (or ends) the signed-in person's shift.
    Shift { till: usize, start: bool },
    /// Signs in the branch's cashier, or its manager.
    SignIn { till: usize, manager: bool },
    /// Changes a till's link.
    Link { till: usize, fault: Fault },
    /// Sends one of the till's already sent ops to the server again, by push.
    Duplicate { till: usize },
    /// kill -9 of the till's process, then a restart.
    CrashTill { till: usize },
    /// kill -9 of a server process, then a restart.
    KillServer { server: usize },
    /// A menu price edit.
    Price { item: usize, price_cents: i64 },
    /// A change of the tenant's exchange rate.
    Rate { khr_per_usd: i64 },
    /// Freezes (or unfreezes) a branch.
    Freeze { branch: usize, frozen: bool },
    /// Deactivates (or reactivates) a branch's cashier or manager.
    Active { branch: usize, manager: bool, active: bool },
    /// Moves a branch's cashier to another branch (or back home).
    MoveCashier { branch: usize, away: bool },
    /// Revokes a till's device token (the till retires from the run).
    Revoke { till: usize },
    /// A restock of a stock item in a branch.
    Restock { branch: usize, stock_item: usize, qty: i64 },
    /// A manager at the till voids one of its synced sales (the `pick`-th newest).
    Void { till: usize, pick: u64 },
    /// A manager resolves the oldest open failure of a branch: accepts it (a sale, when
    /// it can be) or dismisses it.
    Resolve { branch: usize, accept: bool },
}

/// The generator of a seed's steps.
pub struct Schedule {
    rng: StdRng,
    shape: Shape,
    revoked: Vec<bool>,
    drawn: u64,
}

impl Schedule {
    /// The schedule of `seed` for a world of `shape`.
    pub fn new(seed: u64, shape: Shape) -> Schedule {
        assert!(shape.tills > 0 && shape.branches > 0 && shape.items > 0 && shape.stock_items > 0 && shape.servers > 0);
        Schedule { rng: StdRng::seed_from_u64(seed), shape, revoked: vec![false; shape.tills], drawn: 0 }
    }

    /// Steps drawn so far.
    pub fn drawn(&self) -> u64 {
        self.drawn
    }

    /// Whether the schedule revoked this till.
    pub fn revoked(&self, till: usize) -> bool {
        self.revoked[till]
    }

    fn till(&mut self) -> usize {
        // Revocations are bounded (a quarter of the tills), so a live till always exists.
        loop {
            let t = self.rng.gen_range(0..self.shape.tills);
            if !self.revoked[t] {
                return t;
            }
        }
    }

    /// The next step.
    pub fn next_step(&mut self) -> Step {
        self.drawn += 1;
        let roll = self.rng.gen_range(0..1000u32);
        match roll {
            0..=49 => self.movement(),
            50..=74 => {
                let till = self.till();
                let float_cents = self.rng.gen_range(0..=10_000i64);
                // Now and then a float above the $500 cap (confirmed at the till).
                let float_cents = if self.rng.gen_ratio(1, 20) { float_cents + 60_000 } else { float_cents };
                Step::Open { till, float_cents, float_khr: self.rng.gen_range(0..=50i64) * 1000 }
            }
            75..=94 => {
                let till = self.till();
                let off = |rng: &mut StdRng, unit: i64| if rng.gen_ratio(1, 3) { rng.gen_range(-5..=5i64) * unit } else { 0 };
                let off_cents = off(&mut self.rng, 25);
                let off_khr = off(&mut self.rng, 500);
                Step::Close { till, off_cents, off_khr }
            }
            95..=129 => Step::Shift { till: self.till(), start: self.rng.gen_bool(0.5) },
            130..=149 => Step::SignIn { till: self.till(), manager: self.rng.gen_ratio(1, 4) },
            150..=259 => {
                let till = self.till();
                let fault = match self.rng.gen_range(0..10u32) {
                    0..=3 => Fault::Up,
                    4..=5 => Fault::Cut,
                    6 => Fault::LoseAnswers,
                    7..=8 => Fault::Slow(self.rng.gen_range(20..=400u64)),
                    _ => Fault::DropNudges,
                };
                Step::Link { till, fault }
            }
            260..=299 => Step::Duplicate { till: self.till() },
            300..=314 => Step::CrashTill { till: self.till() },
            315..=321 => Step::KillServer { server: self.rng.gen_range(0..self.shape.servers) },
            322..=351 => {
                let item = self.rng.gen_range(0..self.shape.items);
                Step::Price { item, price_cents: self.rng.gen_range(10..=80i64) * 25 }
            }
            352..=366 => Step::Rate { khr_per_usd: self.rng.gen_range(3_900..=4_300i64) },
            367..=396 => Step::Freeze { branch: self.rng.gen_range(0..self.shape.branches), frozen: self.rng.gen_ratio(1, 8) },
            397..=426 => Step::Active {
                branch: self.rng.gen_range(0..self.shape.branches),
                manager: self.rng.gen_ratio(1, 3),
                active: self.rng.gen_ratio(2, 3),
            },
            427..=441 if self.shape.branches > 1 => {
                Step::MoveCashier { branch: self.rng.gen_range(0..self.shape.branches), away: self.rng.gen_ratio(1, 3) }
            }
            442..=443 if self.can_revoke() => {
                let till = self.till();
                self.revoked[till] = true;
                Step::Revoke { till }
            }
            480..=499 => Step::Void { till: self.till(), pick: self.rng.gen_range(0..5u64) },
            500..=514 => Step::Resolve { branch: self.rng.gen_range(0..self.shape.branches), accept: self.rng.gen_ratio(2, 3) },
            444..=479 => Step::Restock {
                branch: self.rng.gen_range(0..self.shape.branches),
                stock_item: self.rng.gen_range(0..self.shape.stock_items),
                qty: self.rng.gen_range(1..=50i64) * 100,
            },
            _ => self.sale(),
        }
    }

    /// At most a quarter of the tills (rounded down) are ever revoked.
    fn can_revoke(&self) -> bool {
        let revoked = self.revoked.iter().filter(|r| **r).count();
        revoked < self.shape.tills / 4
    }

    fn sale(&mut self) -> Step {
        let till = self.till();
        let n = self.rng.gen_range(1..=3usize);
        let lines = (0..n).map(|_| (self.rng.gen_range(0..self.shape.items), self.rng.gen_range(1..=3i64))).collect();
        let tender = match self.rng.gen_range(0..4u32) {
            0 => Tender::ExactUsd,
            1 => Tender::RoundUsd(self.rng.gen_range(1..=20i64)),
            2 => Tender::Riel(self.rng.gen_range(0..=30i64)),
            _ => Tender::Mixed,
        };
        // Now and then a tender above the $200 cap (confirmed at the till).
        let tender = if self.rng.gen_ratio(1, 40) { Tender::RoundUsd(250) } else { tender };
        Step::Sale { till, lines, tender, all_riel: self.rng.gen_bool(0.5) }
    }

    fn movement(&mut self) -> Step {
        let till = self.till();
        let kind = ["paid_in", "paid_out", "paid_out", "adjustment"][self.rng.gen_range(0..4usize)];
        let riel = self.rng.gen_bool(0.5);
        let amount = if riel { self.rng.gen_range(1..=200i64) * 500 } else { self.rng.gen_range(1..=400i64) * 25 };
        let amount = if kind == "adjustment" && self.rng.gen_bool(0.5) { -amount } else { amount };
        Step::Movement { till, kind, riel, amount }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape { tills: 8, branches: 3, items: 4, stock_items: 2, servers: 2 }
    }

    /// The same seed draws the same steps; another seed draws others.
    #[test]
    fn a_seed_replays_its_schedule() {
        let (mut a, mut b, mut c) = (Schedule::new(7, shape()), Schedule::new(7, shape()), Schedule::new(8, shape()));
        let (sa, sb, sc): (Vec<Step>, Vec<Step>, Vec<Step>) = (
            (0..5000).map(|_| a.next_step()).collect(),
            (0..5000).map(|_| b.next_step()).collect(),
            (0..5000).map(|_| c.next_step()).collect(),
        );
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
        assert_eq!(a.drawn(), 5000);
    }

    /// Every kind of step is drawn, revocations stay bounded, and no step names a
    /// revoked till after its revocation.
    #[test]
    fn every_kind_is_drawn_and_revoked_tills_stay_retired() {
        let mut s = Schedule::new(1, shape());
        let mut kinds = std::collections::BTreeSet::new();
        let mut revoked = [false; 8];
        for _ in 0..20_000 {
            let step = s.next_step();
            let till = match &step {
                Step::Sale { till, .. }
                | Step::Movement { till, .. }
                | Step::Open { till, .. }
                | Step::Close { till, .. }
                | Step::Shift { till, .. }
                | Step::SignIn { till, .. }
                | Step::Link { till, .. }
                | Step::Duplicate { till }
                | Step::Void { till, .. }
                | Step::CrashTill { till } => Some(*till),
                _ => None,
            };
            if let Some(t) = till {
                assert!(!revoked[t], "{step:?} names revoked till {t}");
            }
            if let Step::Revoke { till } = step {
                revoked[till] = true;
            }
            kinds.insert(format!("{step:?}").split([' ', '{']).next().unwrap().to_string());
        }
        assert_eq!(kinds.len(), 19, "{kinds:?}");
        assert_eq!(revoked.iter().filter(|r| **r).count(), 2, "a quarter of 8 tills");
    }
}
