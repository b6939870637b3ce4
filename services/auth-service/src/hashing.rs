//! Password hashing on a bounded pool, away from the async workers.
//!
//! bcrypt is deliberately slow (≈ 250 ms at cost 12). Each hash or verification runs on
//! tokio's blocking threads, at most one per CPU at a time; up to `queue` more may wait for a
//! turn. Beyond that the pool is saturated and [`HashError::Busy`] is returned at once — the
//! caller answers 503 with `Retry-After` — so a login storm sheds load instead of queueing
//! without bound and starving every other request.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// Why a hash or verification did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password hashing pool is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The bounded bcrypt pool.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    /// One permit per CPU: how many hashes run at once.
    running: Arc<Semaphore>,
    /// Running plus waiting: beyond this, callers are turned away.
    admitted: Arc<Semaphore>,
    /// A hash of a random password, verified against when the e-mail is unknown so that an
    /// unknown account costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A pool of `threads` concurrent hashes and `queue` waiting ones, at bcrypt `cost`.
    pub fn new(cost: u32, threads: usize, queue: usize) -> Result<Self, HashError> {
        let random: [u8; 32] = rand::random();
        let dummy_hash =
            bcrypt::hash(random, cost).map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(Self {
            cost,
            running: Arc::new(Semaphore::new(threads.max(1))),
            admitted: Arc::new(Semaphore::new(threads.max(1) + queue)),
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
        let secret = SecretString::from(password.expose().to_owned());
        let known = hash.is_some();
        let hash: String = hash.unwrap_or(&self.dummy_hash).to_owned();
        let matches = self
            .run(move || bcrypt::verify(secret.expose_secret(), &hash))
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Failed("pool closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError::Failed(e.to_string()))?
            .map_err(|e| HashError::Failed(e.to_string()))
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
        let hasher = PasswordHasher::new(4, 2, 4).unwrap();
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
        let hasher = PasswordHasher::new(10, 1, 0).unwrap();
        let busy = hasher.clone();
        let first = tokio::spawn(async move { busy.hash(&password("password one")).await });
        // Wait until the first hash holds the only slot, then a second one must be refused.
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while hasher.admitted.available_permits() > 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the first hash takes the only slot");
        assert!(matches!(
            hasher.hash(&password("password two")).await,
            Err(HashError::Busy)
        ));
        assert!(first.await.unwrap().is_ok());
    }
}
