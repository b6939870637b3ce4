//! The logs of the code under test, kept with the test's output.

/// Sends the logs of the code under test to standard error, where the test runner keeps them
/// with the test's output (nextest shows them for failing tests): warnings and errors by
/// default, or what `TEST_LOG` says (an `EnvFilter` such as `info` or
/// `marquee_common=debug`). Called by [`crate::TestDatabase::create`] and
/// [`crate::TestTopics::create`], so every service test has them; calling it again is
/// harmless.
pub fn init_logs() {
    let filter = std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
