//! Overlap resolution: from candidates that may overlap to findings that never do.
//!
//! The order is total, so the result does not depend on the order in which the
//! recognisers ran: longest span first, then the rule's priority (highest first), then
//! the earliest start, then the rule's position in the rule set. Each candidate is kept
//! when it overlaps none already kept.

use std::collections::BTreeMap;

use super::{Candidate, RuleMeta};

pub(crate) fn resolve(mut candidates: Vec<Candidate>, metas: &[RuleMeta]) -> Vec<Candidate> {
    candidates.retain(|c| c.start < c.end);
    candidates.sort_by(|a, b| {
        (b.end - b.start)
            .cmp(&(a.end - a.start))
            .then(metas[b.meta].priority.cmp(&metas[a.meta].priority))
            .then(a.start.cmp(&b.start))
            .then(a.meta.cmp(&b.meta))
            .then(b.score.total_cmp(&a.score))
    });
    // Kept spans by start; a new span overlaps a kept one iff the kept span that starts
    // last before the new end also ends after the new start.
    let mut kept: BTreeMap<usize, Candidate> = BTreeMap::new();
    for c in candidates {
        let overlaps = kept
            .range(..c.end)
            .next_back()
            .is_some_and(|(_, k)| k.end > c.start);
        if !overlaps {
            kept.insert(c.start, c);
        }
    }
    kept.into_values().collect()
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
    fn touching_spans_do_not_overlap() {
        let metas = [meta(0)];
        let kept = resolve(vec![cand(0, 5, 0), cand(5, 9, 0)], &metas);
        assert_eq!(spans(&kept), [(0, 5, 0), (5, 9, 0)]);
    }
}
