//! The limits a running instance keeps across reloads: how many requests are in flight
//! (against `[limits] max_concurrent_requests`) and one token bucket per principal and
//! per team (against `[limits] *_requests_per_minute`).
//!
//! Both are process state ([`crate::proxy::Process`]): a reload neither empties the
//! buckets nor forgets the requests in flight; the rates and the cap are read from the
//! generation each request runs on, so a reload with new ones applies them at once.
//! Both are per instance: N replicas behind a load balancer admit up to N times the
//! configured rate (docs/OPERATIONS.md, "Limits").
//!
//! No I/O and no async: the proxy passes the clock in, so the tests drive it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The number of requests in flight in this process.
#[derive(Debug, Default)]
pub struct Admission {
    in_flight: Arc<AtomicUsize>,
}

/// One admitted request's place; dropping it frees the place.
#[derive(Debug)]
pub struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// A place for one more request, unless `cap` (0: no cap) are in flight already.
    pub fn try_admit(&self, cap: usize) -> Option<Admitted> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(self.in_flight.clone());
        if cap != 0 && before >= cap {
            // Dropping it gives the place back.
            return None;
        }
        Some(admitted)
    }

    /// How many requests hold a place now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// A rate: `per_minute` requests a minute on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    /// The rate of `per_minute` (0: no limit) and `burst` (absent: one minute's worth).
    pub fn of(per_minute: u32, burst: Option<u32>) -> Option<Rate> {
        (per_minute > 0).then(|| Rate {
            per_minute,
            burst: burst.unwrap_or(per_minute).max(1),
        })
    }

    fn per_sec(self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }
}

/// Whose bucket ran dry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Principal,
    Team,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Principal => "principal",
            Scope::Team => "team",
        }
    }
}

/// A request over its rate: whose bucket, and when one request will fit again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    /// Whole seconds, rounded up, at least 1 (the `Retry-After` header).
    pub retry_after_secs: u64,
}

/// The most buckets tracked at once. A bucket that has refilled is the same as none,
/// so those go first; past the cap with none idle, a new principal or team is not
/// limited until one refills (the concurrency cap still holds), and the log says so.
pub const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// When it will be full again if nothing takes from it.
    full_at: Instant,
}

impl Bucket {
    fn fresh(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(rate.burst),
            at: now,
            full_at: now,
        }
    }

    /// The tokens at `now` (refilled since the last take, up to the burst).
    fn level(&self, rate: Rate, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * rate.per_sec()).min(f64::from(rate.burst))
    }

    fn take(&mut self, rate: Rate, now: Instant) {
        self.tokens = self.level(rate, now) - 1.0;
        self.at = now;
        let missing = f64::from(rate.burst) - self.tokens;
        self.full_at = now + Duration::from_secs_f64(missing / rate.per_sec());
    }
}

/// One token bucket per principal and per team.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(Scope, String), Bucket>>,
}

impl RateLimiter {
    /// Takes one token from the principal's bucket and the team's (each when it has a
    /// rate), or from neither when either is empty: a refused request costs nothing.
    ///
    /// # Errors
    /// The bucket that is empty (the principal's first), and when to retry.
    pub fn admit(
        &self,
        principal: Option<(&str, Rate)>,
        team: Option<(&str, Rate)>,
        now: Instant,
    ) -> Result<(), Limited> {
        if principal.is_none() && team.is_none() {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            // A panic while holding the lock: fail open (the cap still holds).
            return Ok(());
        };
        let wanted = [
            principal.map(|(k, r)| (Scope::Principal, k, r)),
            team.map(|(k, r)| (Scope::Team, k, r)),
        ];
        for (scope, key, rate) in wanted.iter().flatten().copied() {
            let level = buckets
                .get(&(scope, key.to_owned()))
                .map_or(f64::from(rate.burst), |b| b.level(rate, now));
            if level < 1.0 {
                let wait = (1.0 - level) / rate.per_sec();
                return Err(Limited {
                    scope,
                    retry_after_secs: (wait.ceil() as u64).max(1),
                });
            }
        }
        for (scope, key, rate) in wanted.into_iter().flatten() {
            let k = (scope, key.to_owned());
            if !buckets.contains_key(&k) && !room(&mut buckets, now) {
                continue;
            }
            buckets
                .entry(k)
                .or_insert_with(|| Bucket::fresh(rate, now))
                .take(rate, now);
        }
        Ok(())
    }

    /// How many buckets are tracked.
    pub fn len(&self) -> usize {
        self.buckets.lock().map_or(0, |b| b.len())
    }

    /// Whether no bucket is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether one more bucket fits, after dropping the full ones when at the cap.
fn room(buckets: &mut HashMap<(Scope, String), Bucket>, now: Instant) -> bool {
    if buckets.len() < MAX_BUCKETS {
        return true;
    }
    buckets.retain(|_, b| b.full_at > now);
    if buckets.len() < MAX_BUCKETS {
        return true;
    }
    tracing::warn!(
        buckets = MAX_BUCKETS,
        "Rate limits: too many principals and teams are drawing on their rate at once; new ones are not limited until one refills."
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate { per_minute, burst }
    }

    #[test]
    fn a_bucket_lets_its_burst_through_then_says_when_to_retry() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        let p = Some(("alice", rate(60, 3)));
        for _ in 0..3 {
            assert_eq!(r.admit(p, None, t0), Ok(()));
        }
        let e = r.admit(p, None, t0).unwrap_err();
        assert_eq!(e.scope, Scope::Principal);
        assert_eq!(e.retry_after_secs, 1);
        // One a second comes back.
        assert_eq!(r.admit(p, None, t0 + Duration::from_millis(1000)), Ok(()));
        assert!(r.admit(p, None, t0 + Duration::from_millis(1000)).is_err());
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        // One request a minute: the next one in 60 s.
        let p = Some(("bob", rate(1, 1)));
        assert_eq!(r.admit(p, None, t0), Ok(()));
        let e = r
            .admit(p, None, t0 + Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(e.retry_after_secs, 60);
    }

    #[test]
    fn principals_have_their_own_buckets_and_a_team_shares_one() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        let team = Some(("sales", rate(60, 2)));
        assert_eq!(r.admit(Some(("a", rate(60, 5))), team, t0), Ok(()));
        assert_eq!(r.admit(Some(("b", rate(60, 5))), team, t0), Ok(()));
        let e = r.admit(Some(("c", rate(60, 5))), team, t0).unwrap_err();
        assert_eq!(e.scope, Scope::Team);
        // Without the team, `c` still has its own full bucket.
        assert_eq!(r.admit(Some(("c", rate(60, 5))), None, t0), Ok(()));
    }

    #[test]
    fn a_refused_request_takes_no_token_from_the_other_bucket() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        let team = Some(("ops", rate(60, 1)));
        let alice = Some(("alice", rate(60, 2)));
        assert_eq!(r.admit(alice, team, t0), Ok(()));
        assert!(r.admit(alice, team, t0).is_err());
        // Alice's second token is still there.
        assert_eq!(r.admit(alice, None, t0), Ok(()));
    }

    #[test]
    fn a_new_rate_applies_to_an_existing_bucket() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        assert_eq!(r.admit(Some(("a", rate(60, 1))), None, t0), Ok(()));
        assert!(r.admit(Some(("a", rate(60, 1))), None, t0).is_err());
        // A reload to 600 a minute: a tenth of a second refills one token.
        let later = t0 + Duration::from_millis(100);
        assert_eq!(r.admit(Some(("a", rate(600, 1))), None, later), Ok(()));
    }

    #[test]
    fn the_cap_is_released_when_an_admitted_request_ends() {
        let a = Admission::default();
        let one = a.try_admit(2).unwrap();
        let two = a.try_admit(2).unwrap();
        assert!(a.try_admit(2).is_none());
        assert_eq!(a.in_flight(), 2);
        drop(one);
        let three = a.try_admit(2);
        assert!(three.is_some());
        drop((two, three));
        assert_eq!(a.in_flight(), 0);
        // No cap.
        let many: Vec<_> = (0..100).filter_map(|_| a.try_admit(0)).collect();
        assert_eq!(many.len(), 100);
    }

    #[test]
    fn refilled_buckets_are_dropped_first_when_the_table_is_full() {
        let mut buckets = HashMap::new();
        let t0 = Instant::now();
        for i in 0..MAX_BUCKETS {
            buckets.insert(
                (Scope::Principal, i.to_string()),
                Bucket {
                    tokens: 0.0,
                    at: t0,
                    full_at: t0 + Duration::from_secs(if i % 2 == 0 { 1 } else { 100 }),
                },
            );
        }
        assert!(!room(&mut buckets, t0));
        assert!(room(&mut buckets, t0 + Duration::from_secs(2)));
        assert_eq!(buckets.len(), MAX_BUCKETS / 2);
    }
}
