//! Overlap resolution: from candidates that may overlap to findings that never do.
//!
//! The order is total, so the result does not depend on the order in which the
//! recognisers ran: longest span first, then the rule's priority (highest first), then
//! the earliest start, then the rule's position in the rule set. Each candidate is kept
//! when it overlaps none already kept.

use std::cmp::Reverse;

use super::{Candidate, RuleMeta};

pub(crate) fn resolve(candidates: Vec<Candidate>, metas: &[RuleMeta]) -> Vec<Candidate> {
    // The order as one key per candidate, computed once, so that sorting reads no rule
    // metadata; the candidate's position breaks exact ties, as a stable sort would.
    let mut order: Vec<(OrderKey, u32)> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.start < c.end)
        .map(|(i, c)| {
            let key = (
                Reverse(c.end - c.start),
                Reverse(metas[c.meta].priority),
                c.start,
                c.meta,
                Reverse(total_order(c.score)),
            );
            (key, i as u32)
        })
        .collect();
    order.sort_unstable();
    // Kept spans sorted by start (they never overlap, so their ends are sorted too); a
    // new span overlaps a kept one iff the kept span that starts last before the new
    // end also ends after the new start, and is then inserted at that place.
    let mut kept: Vec<usize> = Vec::new();
    for &(_, i) in &order {
        let c = &candidates[i as usize];
        let at = kept.partition_point(|&k| candidates[k].start < c.end);
        let overlaps = at > 0 && candidates[kept[at - 1]].end > c.start;
        if !overlaps {
            kept.insert(at, i as usize);
        }
    }
    let mut candidates: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
    kept.into_iter()
        .filter_map(|k| candidates[k].take())
        .collect()
}

/// Length (longest first), priority (highest first), start, rule, score (highest first).
type OrderKey = (Reverse<usize>, Reverse<i32>, usize, usize, Reverse<i32>);

/// An integer that orders as `f32::total_cmp` orders the floats.
fn total_order(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::detect::{Entity, Nature, Sensitivity};

    fn meta(priority: i32) -> RuleMeta {
        RuleMeta {
            id: Arc::from(format!("r{priority}")),
            entity: Entity::parse("CUSTOM").unwrap(),
            nature: Nature::Personal,
            sensitivity: Sensitivity::Internal,
            priority,
            score: 1.0,
        }
    }

    fn cand(start: usize, end: usize, meta: usize) -> Candidate {
        Candidate {
            start,
            end,
            meta,
            sensitivity: None,
            entity: None,
            score: 1.0,
        }
    }

    fn spans(kept: &[Candidate]) -> Vec<(usize, usize, usize)> {
        kept.iter().map(|c| (c.start, c.end, c.meta)).collect()
    }

    #[test]
    fn longest_span_wins_over_priority() {
        let metas = [meta(0), meta(100)];
        let kept = resolve(vec![cand(0, 10, 0), cand(2, 5, 1)], &metas);
        assert_eq!(spans(&kept), [(0, 10, 0)]);
    }

    #[test]
    fn equal_lengths_go_to_the_higher_priority() {
        let metas = [meta(0), meta(100)];
        let kept = resolve(vec![cand(0, 5, 0), cand(0, 5, 1)], &metas);
        assert_eq!(spans(&kept), [(0, 5, 1)]);
    }

    #[test]
    fn equal_length_and_priority_go_to_the_earliest() {
        let metas = [meta(0)];
        let kept = resolve(vec![cand(3, 8, 0), cand(0, 5, 0), cand(6, 11, 0)], &metas);
        assert_eq!(spans(&kept), [(0, 5, 0), (6, 11, 0)]);
    }

    #[test]
    fn resolution_does_not_depend_on_input_order() {
        let metas = [meta(1), meta(2), meta(3)];
        let input = vec![
            cand(0, 4, 0),
            cand(2, 6, 1),
            cand(5, 9, 2),
            cand(8, 12, 0),
            cand(1, 3, 2),
        ];
        let forward = spans(&resolve(input.clone(), &metas));
        let mut reversed = input;
        reversed.reverse();
        assert_eq!(forward, spans(&resolve(reversed, &metas)));
    }

    #[test]
    fn the_score_key_orders_as_total_cmp() {
        let xs = [
            f32::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            f32::MIN_POSITIVE,
            0.5,
            1.0,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        for a in xs {
            for b in xs {
                assert_eq!(
                    total_order(a).cmp(&total_order(b)),
                    a.total_cmp(&b),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn exact_ties_keep_the_first_candidate_as_a_stable_sort_did() {
        let metas = [meta(0)];
        let mut first = cand(0, 5, 0);
        first.sensitivity = Some(Sensitivity::Confidential);
        let kept = resolve(vec![first, cand(0, 5, 0)], &metas);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].sensitivity, Some(Sensitivity::Confidential));
    }

    #[test]
    fn touching_spans_do_not_overlap() {
        let metas = [meta(0)];
        let kept = resolve(vec![cand(0, 5, 0), cand(5, 9, 0)], &metas);
        assert_eq!(spans(&kept), [(0, 5, 0), (5, 9, 0)]);
    }
}
