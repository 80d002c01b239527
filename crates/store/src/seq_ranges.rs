//! The `device_seq`s a device has used, kept as ranges `[from, to]` of seen seqs rather
//! than one row per seq. A device pushes in order, so a push normally extends its last
//! range: one row updated instead of one row inserted per op, and the gaps the dashboard
//! shows are the spaces between ranges (read in O(ranges), not O(ops)).
//!
//! Both backends store the ranges in a `device_seq_ranges (device_id, from_seq, to_seq)`
//! table and use the pure functions here to merge and to read gaps.

/// A range of seen seqs, both ends included (`from <= to`).
pub type SeqRange = (i64, i64);

/// What to write so that the stored ranges also cover a push's seqs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeqRangeUpdate {
    /// Ranges to delete, by `from` (absorbed into a merged range with another `from`).
    pub delete_froms: Vec<i64>,
    /// Ranges to insert, or to update by `from` (a new `to`).
    pub upserts: Vec<SeqRange>,
}

impl SeqRangeUpdate {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.delete_froms.is_empty() && self.upserts.is_empty()
    }
}

/// The window of stored ranges [`merge`] must be given: every range that overlaps or
/// touches `[min(seqs) - 1, max(seqs) + 1]`, as `(lowest to, highest from)` bounds
/// (`to_seq >= .0 AND from_seq <= .1`). `None` when there are no valid seqs.
pub fn window(seqs: &[i64]) -> Option<(i64, i64)> {
    let valid = seqs.iter().copied().filter(|s| *s >= 1);
    let (min, max) = valid.fold(None, |acc: Option<(i64, i64)>, s| match acc {
        None => Some((s, s)),
        Some((lo, hi)) => Some((lo.min(s), hi.max(s))),
    })?;
    Some((min.saturating_sub(1), max.saturating_add(1)))
}

/// Merges `seqs` (any order, duplicates allowed; seqs below 1 are ignored) into the
/// stored ranges `near` (those of [`window`], disjoint and not adjacent, as stored).
pub fn merge(near: &[SeqRange], seqs: &[i64]) -> SeqRangeUpdate {
    let mut sorted: Vec<i64> = seqs.iter().copied().filter(|s| *s >= 1).collect();
    sorted.sort_unstable();
    sorted.dedup();
    // The push's seqs as runs, then every range in order, joined where they overlap or touch.
    let mut runs: Vec<SeqRange> = Vec::new();
    for s in sorted {
        match runs.last_mut() {
            Some(last) if last.1.saturating_add(1) == s => last.1 = s,
            _ => runs.push((s, s)),
        }
    }
    let mut all: Vec<SeqRange> = near.iter().copied().chain(runs).collect();
    all.sort_unstable();
    let mut merged: Vec<SeqRange> = Vec::with_capacity(all.len());
    for (from, to) in all {
        debug_assert!(from <= to, "a range runs upwards");
        match merged.last_mut() {
            Some(last) if from <= last.1.saturating_add(1) => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    let delete_froms = near.iter().map(|r| r.0).filter(|f| !merged.iter().any(|m| m.0 == *f)).collect();
    let upserts = merged.into_iter().filter(|m| !near.contains(m)).collect();
    SeqRangeUpdate { delete_froms, upserts }
}

/// The gaps between stored ranges (sorted by `from`): the seqs never seen below the
/// highest seen, at most `limit` of them, lowest first.
pub fn gaps(ranges: &[SeqRange], limit: usize) -> Vec<SeqRange> {
    let mut out = Vec::new();
    let mut next_expected = 1i64;
    for &(from, to) in ranges {
        if out.len() >= limit {
            break;
        }
        if from > next_expected {
            out.push((next_expected, from - 1));
        }
        next_expected = next_expected.max(to.saturating_add(1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Applies an update to a stored set of ranges, as a backend would.
    fn apply(stored: &mut Vec<SeqRange>, u: &SeqRangeUpdate) {
        stored.retain(|r| !u.delete_froms.contains(&r.0));
        for &(from, to) in &u.upserts {
            match stored.iter_mut().find(|r| r.0 == from) {
                Some(r) => r.1 = to,
                None => stored.push((from, to)),
            }
        }
        stored.sort_unstable();
    }

    fn near(stored: &[SeqRange], seqs: &[i64]) -> Vec<SeqRange> {
        let Some((lo, hi)) = window(seqs) else { return Vec::new() };
        stored.iter().copied().filter(|r| r.1 >= lo && r.0 <= hi).collect()
    }

    fn expand(stored: &[SeqRange]) -> BTreeSet<i64> {
        stored.iter().flat_map(|&(f, t)| f..=t).collect()
    }

    #[test]
    fn an_in_order_push_extends_the_last_range() {
        let stored = vec![(1, 200)];
        let seqs: Vec<i64> = (201..=400).collect();
        let u = merge(&near(&stored, &seqs), &seqs);
        assert_eq!(u, SeqRangeUpdate { delete_froms: vec![], upserts: vec![(1, 400)] });
    }

    #[test]
    fn a_first_push_inserts_one_range_and_a_replay_writes_nothing() {
        let u = merge(&[], &[3, 1, 2, 2]);
        assert_eq!(u.upserts, vec![(1, 3)]);
        assert!(merge(&[(1, 3)], &[1, 2, 3]).is_empty());
    }

    #[test]
    fn filling_a_gap_joins_two_ranges() {
        let stored = vec![(1, 4), (8, 9)];
        let u = merge(&near(&stored, &[5, 6, 7]), &[5, 6, 7]);
        assert_eq!(u, SeqRangeUpdate { delete_froms: vec![8], upserts: vec![(1, 9)] });
        assert_eq!(gaps(&stored, 10), vec![(5, 7)]);
    }

    #[test]
    fn gaps_include_the_start_and_stop_at_the_limit() {
        assert_eq!(gaps(&[(3, 4), (6, 6), (9, 10)], 10), vec![(1, 2), (5, 5), (7, 8)]);
        assert_eq!(gaps(&[(3, 4), (6, 6), (9, 10)], 2), vec![(1, 2), (5, 5)]);
        assert!(gaps(&[(1, 10)], 10).is_empty());
        assert!(gaps(&[], 10).is_empty());
    }

    #[test]
    fn seqs_below_one_are_ignored() {
        assert!(merge(&[], &[0, -5]).is_empty());
        assert_eq!(window(&[0, -1]), None);
    }

    /// Random pushes in random order: the stored ranges always equal the set of seen
    /// seqs, stay disjoint and non-adjacent, and the gaps are exactly the unseen seqs
    /// below the highest. Seeded, so a failure repeats.
    #[test]
    fn ranges_equal_the_seen_set_under_random_pushes() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _round in 0..200 {
            let mut stored: Vec<SeqRange> = Vec::new();
            let mut seen: BTreeSet<i64> = BTreeSet::new();
            for _push in 0..20 {
                let len = 1 + next(12) as usize;
                let seqs: Vec<i64> = (0..len).map(|_| next(80) as i64).collect();
                let u = merge(&near(&stored, &seqs), &seqs);
                apply(&mut stored, &u);
                seen.extend(seqs.iter().copied().filter(|s| *s >= 1));
                assert_eq!(expand(&stored), seen);
                for w in stored.windows(2) {
                    assert!(w[0].1 + 1 < w[1].0, "ranges {:?} touch", w);
                }
                let top = seen.iter().next_back().copied().unwrap_or(0);
                let unseen: BTreeSet<i64> = (1..=top).filter(|s| !seen.contains(s)).collect();
                assert_eq!(expand(&gaps(&stored, usize::MAX)), unseen);
            }
        }
    }
}
