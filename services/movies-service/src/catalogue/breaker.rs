//! A circuit breaker for the upstream catalogue.
//!
//! Closed: calls go through; every failed attempt (5xx, timeout, connect error, refused
//! credentials) counts, any answer from a healthy upstream resets the count. After
//! `threshold` consecutive failures it opens: calls fail at once, without touching the
//! network, for `cooldown`. Then it is half-open: one trial call goes through (the others
//! still fail fast); its success closes the breaker, its failure opens it again. A trial
//! that never reports back (its caller went away) is replaced after another cooldown.
//!
//! A 429 counts as an answer: the upstream is alive and asking us to slow down, which the
//! retry loop honours.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use prometheus::IntGauge;

/// How long callers turned away while a half-open trial runs are told to wait.
const TRIAL_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_started: Instant },
}

/// The breaker's state, shared by every call to one upstream.
#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
    /// `tmdb_circuit_state`: 0 closed, 1 open, 2 half-open.
    gauge: IntGauge,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration, gauge: IntGauge) -> Self {
        gauge.set(0);
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
            gauge,
        }
    }

    /// Whether a call may go out now; `Err` carries how long until it might.
    pub fn permit(&self) -> Result<(), Duration> {
        let now = Instant::now();
        self.update(|state| match state {
            State::Closed { .. } => (state, Ok(())),
            State::Open { until } if now < until => (state, Err(until - now)),
            State::Open { .. } => (State::HalfOpen { trial_started: now }, Ok(())),
            State::HalfOpen { trial_started } if now - trial_started >= self.cooldown => {
                (State::HalfOpen { trial_started: now }, Ok(()))
            }
            State::HalfOpen { .. } => (state, Err(TRIAL_RETRY_AFTER)),
        })
    }

    /// The upstream answered (any HTTP answer but a 5xx or a refusal of our credentials: it
    /// is alive). Ends a half-open trial; an attempt that started before the breaker opened
    /// and answers late does not close it.
    pub fn succeeded(&self) {
        self.update(|state| match state {
            State::Open { .. } => (state, ()),
            _ => (State::Closed { failures: 0 }, ()),
        });
    }

    /// An attempt failed in a way that says the upstream is unhealthy.
    pub fn failed(&self) {
        let open = State::Open {
            until: Instant::now() + self.cooldown,
        };
        self.update(|state| match state {
            State::Closed { failures } if failures + 1 < self.threshold => (
                State::Closed {
                    failures: failures + 1,
                },
                (),
            ),
            State::Closed { .. } => {
                tracing::warn!(threshold = self.threshold, cooldown = ?self.cooldown,
                    "upstream catalogue failing: circuit opened");
                (open, ())
            }
            State::HalfOpen { .. } => (open, ()),
            // Attempts that started before the breaker opened: the cooldown stands.
            State::Open { .. } => (state, ()),
        });
    }

    fn update<R>(&self, change: impl FnOnce(State) -> (State, R)) -> R {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (next, result) = change(*state);
        *state = next;
        self.gauge.set(match next {
            State::Closed { .. } => 0,
            State::Open { .. } => 1,
            State::HalfOpen { .. } => 2,
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, cooldown: Duration) -> CircuitBreaker {
        let gauge = IntGauge::new("state", "state").unwrap();
        CircuitBreaker::new(threshold, cooldown, gauge)
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let breaker = breaker(3, Duration::from_secs(60));
        breaker.failed();
        breaker.failed();
        breaker.succeeded();
        breaker.failed();
        breaker.failed();
        assert!(breaker.permit().is_ok(), "a success reset the count");
        breaker.failed();
        let wait = breaker.permit().unwrap_err();
        assert!(wait > Duration::from_secs(50), "{wait:?}");
        assert_eq!(breaker.gauge.get(), 1);
    }

    #[test]
    fn half_open_lets_one_trial_through_and_closes_on_success() {
        let breaker = breaker(1, Duration::from_millis(30));
        breaker.failed();
        breaker.succeeded();
        assert!(
            breaker.permit().is_err(),
            "a late success does not close it"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.permit().is_ok(), "cooldown over: the trial");
        assert_eq!(breaker.gauge.get(), 2);
        assert!(breaker.permit().is_err(), "only one trial");
        breaker.succeeded();
        assert_eq!(breaker.gauge.get(), 0);
        assert!(breaker.permit().is_ok());
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let breaker = breaker(1, Duration::from_millis(30));
        breaker.failed();
        assert!(breaker.permit().is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.permit().is_ok(), "the trial");
        assert!(breaker.permit().is_err(), "only one trial at a time");
        breaker.failed();
        assert!(breaker.permit().is_err(), "open again");
    }
}
