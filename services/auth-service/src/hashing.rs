//! Password hashing on its own threads, away from the async workers.
//!
//! bcrypt is deliberately slow (≈ 270 ms at cost 12 on the reference machine). Hashes and
//! verifications run on `threads` dedicated OS threads; up to `queue` more wait in a bounded
//! queue. Beyond that the pool is saturated and [`HashError::Busy`] is returned at once — the
//! caller answers 503 `busy` with `Retry-After` — so a login storm sheds load instead of
//! queueing without bound.
//!
//! The split (see docs/auth.md): by default one CPU is left to everything else the replica
//! does (`HASH_THREADS` = CPUs − 1, at least 1), because a hash holds its core for its whole
//! duration and the scheduler cannot tell a login from a health check; and the queue holds
//! what the threads finish within [`QUEUE_WAIT_BUDGET`] at the hash time measured at start,
//! so a sign-in that is admitted waits at most about that long.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::domain::Password;

/// The longest a queued hash should wait for a thread when `HASH_QUEUE` is not set.
pub const QUEUE_WAIT_BUDGET: Duration = Duration::from_secs(1);

/// Why a hash or verification did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password hashing pool is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// The bounded bcrypt pool. Cloning shares it; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    /// Jobs for the threads; bounded by `admitted`.
    jobs: mpsc::Sender<Job>,
    /// Running plus waiting (`threads + queue`): beyond this, callers are turned away.
    admitted: Arc<Semaphore>,
    threads: usize,
    queue: usize,
    /// A hash of a random password, verified against when the e-mail is unknown so that an
    /// unknown account costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .field("threads", &self.threads)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A pool of `threads` hashing threads at bcrypt `cost`, with room for `queue` waiting
    /// hashes — by default (`None`) as many as the threads finish within
    /// [`QUEUE_WAIT_BUDGET`], measured by timing one hash on a hashing thread now (never on
    /// the caller's, which is an async worker).
    pub async fn new(cost: u32, threads: usize, queue: Option<usize>) -> Result<Self, HashError> {
        let threads = threads.max(1);
        let (jobs, waiting) = mpsc::channel::<Job>();
        let waiting = Arc::new(Mutex::new(waiting));
        for index in 0..threads {
            let waiting = Arc::clone(&waiting);
            std::thread::Builder::new()
                .name(format!("bcrypt-{index}"))
                .spawn(move || work(&waiting))
                .map_err(|e| HashError::Failed(format!("cannot start a hashing thread: {e}")))?;
        }
        let (answer, answered) = oneshot::channel();
        let first: Job = Box::new(move || {
            let started = Instant::now();
            let random: [u8; 32] = rand::random();
            let hash = bcrypt::hash(random, cost);
            let _ = answer.send((hash, started.elapsed()));
        });
        jobs.send(first)
            .map_err(|_| HashError::Failed("the hashing threads stopped".into()))?;
        let (dummy_hash, one_hash) = answered
            .await
            .map_err(|_| HashError::Failed("the hashing thread stopped".into()))?;
        let dummy_hash = dummy_hash.map_err(|e| HashError::Failed(e.to_string()))?;
        let one_hash = one_hash.max(Duration::from_micros(1));
        let queue = queue.unwrap_or_else(|| {
            (QUEUE_WAIT_BUDGET.as_secs_f64() / one_hash.as_secs_f64() * threads as f64) as usize
        });
        tracing::info!(
            cost,
            threads,
            queue,
            hash_ms = one_hash.as_millis() as u64,
            "password hashing pool ready"
        );
        Ok(Self {
            cost,
            jobs,
            admitted: Arc::new(Semaphore::new(threads + queue)),
            threads,
            queue,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The bcrypt hash of `password`.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let secret = SecretString::from(password.expose().to_owned());
        let cost = self.cost;
        self.run(move || bcrypt::hash(secret.expose_secret(), cost))
            .await
    }

    /// Whether `password` matches `hash`; with `None` (unknown account) it verifies against a
    /// dummy hash and returns `false`, taking the same time.
    pub async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, HashError> {
        self.admit()?.verify(password, hash).await
    }

    /// A place in the pool, taken before the rest of a request's work, so that a full pool
    /// turns the request away before it costs anything else (a shed sign-in must be cheap,
    /// or a storm of them starves the hashing it waits for).
    pub fn admit(&self) -> Result<Slot, HashError> {
        let permit = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        Ok(Slot {
            permit,
            hasher: self.clone(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T, HashError> {
        self.run_admitted(self.admit()?.permit, work).await
    }

    async fn run_admitted<T: Send + 'static>(
        &self,
        admitted: OwnedSemaphorePermit,
        work: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T, HashError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = work();
            drop(admitted);
            // The caller may have gone (client disconnected): nobody to tell.
            let _ = answer.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| HashError::Failed("the hashing threads stopped".into()))?;
        answered
            .await
            .map_err(|_| HashError::Failed("the hashing thread stopped".into()))?
            .map_err(|e| HashError::Failed(e.to_string()))
    }
}

/// A place in the pool ([`PasswordHasher::admit`]); given back when dropped or used.
pub struct Slot {
    permit: OwnedSemaphorePermit,
    hasher: PasswordHasher,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

impl Slot {
    /// [`PasswordHasher::verify`] in this place.
    pub async fn verify(self, password: &Password, hash: Option<&str>) -> Result<bool, HashError> {
        let secret = SecretString::from(password.expose().to_owned());
        let known = hash.is_some();
        let hash: String = hash.unwrap_or(&self.hasher.dummy_hash).to_owned();
        let matches = self
            .hasher
            .run_admitted(self.permit, move || {
                bcrypt::verify(secret.expose_secret(), &hash)
            })
            .await?;
        Ok(known && matches)
    }
}

/// A hashing thread: runs jobs until every sender is gone.
fn work(waiting: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // One idle thread waits for the next job holding the lock, the others for the lock;
        // it is never held while a job runs.
        let next = match waiting.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match next {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse("password", SecretString::from(raw.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let hasher = PasswordHasher::new(4, 2, Some(4)).await.unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(
            hasher
                .verify(&password("correct horse"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&password("wrong horse!"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&password("correct horse"), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_saturated_pool_refuses_at_once() {
        // One thread, no queue: while a hash runs, the next is refused.
        let hasher = PasswordHasher::new(4, 1, Some(0)).await.unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let blocked = hasher.clone();
        let first = tokio::spawn(async move {
            blocked
                .run(move || {
                    hold.recv_timeout(std::time::Duration::from_secs(10)).ok();
                    Ok(())
                })
                .await
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while hasher.admitted.available_permits() > 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the first job takes the only slot");
        assert!(matches!(
            hasher.hash(&password("password two")).await,
            Err(HashError::Busy)
        ));
        release.send(()).unwrap();
        assert!(first.await.unwrap().is_ok());
        // Free again: the next hash is taken.
        assert!(hasher.hash(&password("password three")).await.is_ok());
    }

    #[tokio::test]
    async fn the_default_queue_fits_the_wait_budget() {
        // Cost 4 takes about a millisecond: one second of it admits hundreds. The bound is
        // loose on purpose — a machine busy with other tests may time the first hash slowly —
        // and only fails if the queue is not derived from the measured time at all.
        let hasher = PasswordHasher::new(4, 2, None).await.unwrap();
        assert!(hasher.queue >= 10, "queue {}", hasher.queue);
        // Cost 12 at hundreds of milliseconds per hash leaves room for a few only.
        let slow = PasswordHasher::new(12, 1, None).await.unwrap();
        assert!(slow.queue <= 10, "queue {}", slow.queue);
    }
}
