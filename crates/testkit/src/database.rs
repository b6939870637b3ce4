//! A fresh database per test.

use diesel_async::{
    AsyncPgConnection, RunQueryDsl, async_connection_wrapper::AsyncConnectionWrapper,
};
use diesel_migrations::EmbeddedMigrations;
use marquee_common::db::{self, DatabaseConfig, PgPool};
use secrecy::SecretString;

/// How long creating or dropping a test database may take.
const SERVER_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A database that exists for one test: created (and migrated) by [`TestDatabase::create`],
/// dropped when the value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    server_url: String,
}

impl TestDatabase {
    /// Creates `marquee_test_<uuid>` on the shared server (`TEST_DATABASE_URL`) and applies
    /// the backbone migrations plus `service`'s.
    pub async fn create(service: Option<EmbeddedMigrations>) -> Self {
        let server_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        Self::create_on(&server_url, service).await
    }

    /// [`TestDatabase::create`] on the server at `server_url` (a [`PostgresProcess`]).
    ///
    /// [`PostgresProcess`]: crate::PostgresProcess
    pub async fn create_on(server_url: &str, service: Option<EmbeddedMigrations>) -> Self {
        crate::init_logs();
        let server_url = server_url.to_owned();
        let name = format!("marquee_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = db::connect(&server_url).await.unwrap_or_else(|e| {
            panic!("cannot reach PostgreSQL at {server_url} (set TEST_DATABASE_URL): {e}")
        });
        let created = tokio::time::timeout(
            SERVER_STATEMENT_TIMEOUT,
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn),
        )
        .await
        .unwrap_or_else(|_| {
            panic!("CREATE DATABASE {name} took over {SERVER_STATEMENT_TIMEOUT:?}")
        });
        created.unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let (base, _) = server_url
            .rsplit_once('/')
            .expect("TEST_DATABASE_URL has a database path");
        let url = format!("{base}/{name}");
        db::migrate(&SecretString::from(url.clone()), service)
            .await
            .unwrap_or_else(|e| panic!("migrating {name}: {e}"));
        Self {
            name,
            url,
            server_url,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn secret_url(&self) -> SecretString {
        SecretString::from(self.url.clone())
    }

    /// Waits until a consumer has applied (or skipped as a duplicate) event `event_id`: its
    /// inbox row exists.
    pub async fn wait_applied(&self, event_id: uuid::Uuid) {
        use diesel::{ExpressionMethods, QueryDsl, dsl::count_star};
        use marquee_common::schema::inbox;
        crate::eventually_async(
            std::time::Duration::from_secs(30),
            &format!("event {event_id} to be applied"),
            || async {
                let mut conn = self.connection().await;
                let seen: i64 = inbox::table
                    .filter(inbox::event_id.eq(event_id))
                    .select(count_star())
                    .get_result(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("reading the inbox of {}: {e}", self.name));
                (seen > 0).then_some(())
            },
        )
        .await;
    }

    /// A pool on this database.
    pub fn pool(&self) -> PgPool {
        let config = DatabaseConfig::for_url(self.url.clone());
        db::pool(&config.url, &config).expect("pool builds")
    }

    /// Reverts every migration of `sources` (newest first) and applies them again, failing if
    /// any `down.sql` does not undo its `up.sql`: a second `up` then finds leftovers.
    pub async fn revert_and_reapply(&self, sources: Vec<EmbeddedMigrations>) {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(self.connection().await);
        tokio::task::spawn_blocking(move || {
            use diesel::migration::MigrationSource;
            use diesel_migrations::MigrationHarness;
            let all: Vec<_> = sources
                .iter()
                .flat_map(|source| {
                    MigrationSource::<diesel::pg::Pg>::migrations(source)
                        .expect("embedded migrations")
                })
                .collect();
            // Newest applied first, whichever source it came from.
            while let Some(version) = conn
                .applied_migrations()
                .expect("applied migrations")
                .into_iter()
                .next()
            {
                let migration = all
                    .iter()
                    .find(|m| m.name().version() == version)
                    .unwrap_or_else(|| panic!("applied migration {version} is in no source"));
                conn.revert_migration(migration.as_ref())
                    .expect("down.sql applies");
            }
            for source in sources {
                conn.run_pending_migrations(source)
                    .expect("up again after down");
            }
        })
        .await
        .expect("migration task");
    }

    /// A single connection, for assertions.
    pub async fn connection(&self) -> AsyncPgConnection {
        db::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived
        // thread with its own runtime does the work, and is waited for a bounded time.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let dropped = runtime.ok().and_then(|runtime| {
                runtime.block_on(async {
                    let mut conn = db::connect(&server_url).await.ok()?;
                    let drop =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                    tokio::time::timeout(SERVER_STATEMENT_TIMEOUT, drop.execute(&mut conn))
                        .await
                        .ok()?
                        .ok()
                })
            });
            let _ = done_tx.send(dropped.is_some());
        });
        let dropped = done_rx
            .recv_timeout(SERVER_STATEMENT_TIMEOUT + db::CONNECT_TIMEOUT)
            .unwrap_or(false);
        if !dropped {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}
