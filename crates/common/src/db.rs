//! PostgreSQL access: a diesel-async connection pool, embedded migrations, a transaction
//! helper and read replicas ([`Databases`]).
//!
//! Every service owns its own database. At boot a service calls [`prepare_schema`] with its
//! own embedded migrations: it applies them ([`migrate`]; the event backbone's tables —
//! `outbox`, `inbox`, shipped by this crate in [`BACKBONE_MIGRATIONS`] — first, into the same
//! database), or, with `DATABASE_MIGRATE_ON_START=false`, only checks that a migration job
//! (`<service> migrate`) already did. Migrations run under a PostgreSQL advisory lock so
//! replicas starting together do not race.
//!
//! Every connection goes through [`connect`]: TLS as the URL's `sslmode` says, with libpq's
//! meaning ([`tls_for`]: `verify-full` checks the certificate and the host name against the
//! system's CAs plus `PGSSLROOTCERT`).

use std::{
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use diesel::{ConnectionError, ConnectionResult, QueryResult, connection::SimpleConnection};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl,
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig,
        deadpool::{Object, Pool},
    },
};
pub use diesel_migrations::EmbeddedMigrations;
use diesel_migrations::{MigrationHarness, embed_migrations};
use futures::future::BoxFuture;
use postgres_native_tls::MakeTlsConnector;
use prometheus::{IntCounter, IntCounterVec, Opts};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::{ConfigError, Env, in_range},
    dead_peer,
    http::{
        health::{CheckFuture, ReadinessCheck},
        metrics::Metrics,
    },
};

/// The outbox and inbox tables, applied into every service database before its own.
pub const BACKBONE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A pool of connections to one database.
pub type PgPool = Pool<AsyncPgConnection>;
/// A connection borrowed from a [`PgPool`]; returns itself on drop.
pub type PgConn = Object<AsyncPgConnection>;

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL` (required): the primary, for writes and read-your-writes.
    pub url: SecretString,
    /// `DATABASE_READ_URLS`: comma-separated replicas for reads that tolerate lag.
    pub read_urls: Vec<SecretString>,
    /// `DATABASE_MAX_CONNECTIONS` (default 16): pool size per URL.
    pub max_connections: usize,
    /// `DATABASE_ACQUIRE_TIMEOUT` (default 5s): how long a request waits for a connection
    /// (a free one, its health check, or a new one) before it fails with 503 instead of
    /// queueing forever.
    pub acquire_timeout: Duration,
    /// `DATABASE_STATEMENT_TIMEOUT` (default 10s): PostgreSQL's `statement_timeout` on the
    /// pool's connections, so a query stuck behind a lock or a bad plan fails instead of
    /// holding its request (and connection) for good. Longer than any request is worth
    /// waiting for (the gateway gives up after 15 s); migrations and imports are not bound by
    /// it.
    pub statement_timeout: Duration,
    /// `DATABASE_MIGRATE_ON_START` (default true): apply pending migrations at start. Off
    /// where a separate job migrates (Kubernetes), so the serving role needs no DDL rights
    /// and a rollout never changes the schema under the previous release's pods.
    pub migrate_on_start: bool,
}

impl DatabaseConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.required_secret("DATABASE_URL")?;
        check_postgres_url("DATABASE_URL", &url)?;
        let read_urls: Vec<SecretString> = env
            .list("DATABASE_READ_URLS")
            .into_iter()
            .map(SecretString::from)
            .collect();
        for read_url in &read_urls {
            check_postgres_url("DATABASE_READ_URLS", read_url)?;
        }
        Ok(Self {
            url,
            read_urls,
            max_connections: in_range(
                "DATABASE_MAX_CONNECTIONS",
                env.or("DATABASE_MAX_CONNECTIONS", 16)?,
                1..=1000,
            )?,
            acquire_timeout: env.duration_or("DATABASE_ACQUIRE_TIMEOUT", Duration::from_secs(5))?,
            statement_timeout: env
                .duration_or("DATABASE_STATEMENT_TIMEOUT", Duration::from_secs(10))?,
            migrate_on_start: env.flag_or("DATABASE_MIGRATE_ON_START", true)?,
        })
    }

    /// Settings for a database at `url` with the defaults above.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            read_urls: Vec::new(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            migrate_on_start: true,
        }
    }
}

fn check_postgres_url(name: &str, url: &SecretString) -> Result<(), ConfigError> {
    let url = url.expose_secret();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err(ConfigError::new(name, "must be a postgres:// URL"))
    }
}

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time: the database is down or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    /// Started with `DATABASE_MIGRATE_ON_START=false` before the migrations were applied.
    #[error(
        "the database schema is behind: {} migration(s) pending ({}); run the migration job (`<service> migrate`) first",
        .0.len(),
        .0.join(", ")
    )]
    SchemaBehind(Vec<String>),
}

impl From<diesel::result::Error> for DbError {
    /// A query that failed because the connection is gone (a restart, a failover, a cut
    /// line) is the database being unavailable, not a fault of the query: the client is told
    /// to retry (503), and the pool replaces the connection.
    fn from(error: diesel::result::Error) -> Self {
        if is_connection_lost(&error) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Query(error)
        }
    }
}

/// Whether `error` says the connection to the server is gone rather than anything about the
/// query: the driver could not send or read (no SQLSTATE), or the server is shutting down
/// (SQLSTATE class 57, whose code diesel-async does not pass on; its messages are matched,
/// in the server's default English).
pub fn is_connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    const SHUTTING_DOWN: [&str; 3] = [
        "terminating connection due to administrator command",
        "the database system is shutting down",
        "the database system is starting up",
    ];
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        Error::DatabaseError(_, info) => SHUTTING_DOWN
            .iter()
            .any(|message| info.message().starts_with(message)),
        _ => false,
    }
}

impl From<DbError> for crate::http::Problem {
    /// Database trouble seen from a client: 503 while it is unreachable or the pool is
    /// exhausted (retry soon), 500 otherwise. The cause is logged, never shown.
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::unavailable("database_unavailable", Duration::from_secs(1))
            }
            other => Self::internal(&other),
        }
    }
}

/// A lazily connecting pool for `url`: no connection is opened until one is needed, so a
/// service can start (and report not-ready) while its database is still coming up. Its
/// connections carry `config.statement_timeout`.
pub fn pool(url: &SecretString, config: &DatabaseConfig) -> Result<PgPool, DbError> {
    let statement_timeout = config.statement_timeout;
    let mut manager_config = ManagerConfig::default();
    manager_config.custom_setup = Box::new(move |url| Box::pin(open(url, Some(statement_timeout))));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        url.expose_secret(),
        manager_config,
    );
    Pool::builder(manager)
        .max_size(config.max_connections)
        .wait_timeout(Some(config.acquire_timeout))
        .create_timeout(Some(config.acquire_timeout))
        .recycle_timeout(Some(config.acquire_timeout))
        .runtime(deadpool_runtime())
        .build()
        .map_err(|e| DbError::Unavailable(e.to_string()))
}

/// How long opening one connection may take, TLS and login included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens one connection to `url`, with TLS as its `sslmode` asks ([`tls_for`]), within
/// [`CONNECT_TIMEOUT`] (unless the URL sets its own `connect_timeout`), noticing a vanished
/// server ([`crate::dead_peer`]) unless the URL sets its own keepalive and user timeout.
pub async fn connect(url: &str) -> ConnectionResult<AsyncPgConnection> {
    open(url, None).await
}

/// The driver's settings for `url` ([`connect`] says which), its TLS connector, and how long
/// connecting may take.
fn client_config(
    url: &str,
) -> Result<(tokio_postgres::Config, MakeTlsConnector, Duration), String> {
    let (url, tls) = tls_for(url)?;
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    let timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(CONNECT_TIMEOUT);
    config.connect_timeout(timeout);
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(dead_peer::TCP_USER_TIMEOUT);
    }
    if config.get_keepalives_interval().is_none() {
        config
            .keepalives_idle(dead_peer::KEEPALIVE_IDLE)
            .keepalives_interval(dead_peer::KEEPALIVE_INTERVAL)
            .keepalives_retries(dead_peer::KEEPALIVE_RETRIES);
    }
    Ok((config, tls, timeout))
}

async fn open(
    url: &str,
    statement_timeout: Option<Duration>,
) -> ConnectionResult<AsyncPgConnection> {
    let (mut config, tls, timeout) = client_config(url).map_err(ConnectionError::BadConnection)?;
    if let Some(statement_timeout) = statement_timeout {
        let options = format!(
            "{} -c statement_timeout={}",
            config.get_options().unwrap_or_default(),
            statement_timeout.as_millis()
        );
        config.options(options.trim_start());
    }
    let connecting = async {
        let (client, connection) = config
            .connect(tls)
            .await
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    };
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| ConnectionError::BadConnection(format!("no connection within {timeout:?}")))?
}

/// Creates the database `url` names unless it exists; returns whether it was created. For
/// the local stack and `<service> migrate --create-database`: in production the database is
/// provisioned, and the service's role needs no `CREATEDB`.
///
/// It connects to the same server's `postgres` database as the same user, with the same TLS
/// and timeouts as [`connect`], and authenticates however the server asks (SCRAM-SHA-256,
/// PostgreSQL's default since 14, MD5, a clear-text password or trust).
pub async fn create_database(url: &str) -> Result<bool, String> {
    let (mut config, tls, timeout) = client_config(url)?;
    let name = config
        .get_dbname()
        .filter(|name| !name.is_empty())
        .ok_or("the database URL names no database")?
        .to_owned();
    config.dbname("postgres");
    let creating = async {
        let (client, connection) = config.connect(tls).await?;
        let driver = tokio::spawn(connection);
        // A quoted identifier: the name is taken as it is, whatever it holds.
        let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        let created = match client.batch_execute(&statement).await {
            Ok(()) => Ok(true),
            Err(error)
                if error.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) =>
            {
                Ok(false)
            }
            Err(error) => Err(error),
        };
        drop(client);
        let _ = driver.await;
        created
    };
    match tokio::time::timeout(timeout + CREATE_DATABASE_TIMEOUT, creating).await {
        Ok(Ok(created)) => Ok(created),
        Ok(Err(error)) => Err(format!("creating database {name}: {}", describe(&error))),
        Err(_) => Err(format!(
            "creating database {name}: no answer within {:?}",
            timeout + CREATE_DATABASE_TIMEOUT
        )),
    }
}

/// How long `CREATE DATABASE` may take once connected (it copies the template database).
const CREATE_DATABASE_TIMEOUT: Duration = Duration::from_secs(30);

/// A driver error with the server's own message when there is one (tokio-postgres's
/// `Display` says only "db error").
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// The TLS setup for a connection to `url`, with libpq's meaning of its `sslmode`:
///
/// | `sslmode` | TLS | server certificate |
/// |---|---|---|
/// | `disable` | never | — |
/// | `prefer` (default) | when the server offers it | not checked (encryption only) |
/// | `require` | always | not checked (encryption only) |
/// | `verify-ca` | always | signed by a trusted CA |
/// | `verify-full` | always | signed by a trusted CA, and names the host |
///
/// Trusted CAs are the system's plus the PEM bundle named by `PGSSLROOTCERT` (libpq's variable;
/// e.g. Amazon RDS's `global-bundle.pem`). Returns the URL as the driver understands it (which
/// knows `verify-*` only as `require`) and the connector.
pub fn tls_for(url: &str) -> Result<(String, MakeTlsConnector), String> {
    let (url, mode) = split_sslmode(url)?;
    let mut builder = native_tls::TlsConnector::builder();
    match mode {
        "disable" | "prefer" | "require" => {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        "verify-ca" => {
            builder.danger_accept_invalid_hostnames(true);
        }
        _ => {}
    }
    for certificate in extra_root_certificates()? {
        builder.add_root_certificate(certificate);
    }
    let connector = builder.build().map_err(|e| format!("TLS setup: {e}"))?;
    Ok((url, MakeTlsConnector::new(connector)))
}

/// Splits `sslmode` off `url`: the URL with `verify-ca`/`verify-full` rewritten to `require`,
/// and the mode asked for (`prefer` when absent).
fn split_sslmode(url: &str) -> Result<(String, &str), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), "prefer"));
    };
    let mut mode = "prefer";
    let mut params = Vec::new();
    for param in query.split('&') {
        match param.strip_prefix("sslmode=") {
            Some(value @ ("disable" | "prefer" | "require")) => {
                mode = value;
                params.push(param.to_owned());
            }
            Some(value @ ("verify-ca" | "verify-full")) => {
                mode = value;
                params.push("sslmode=require".to_owned());
            }
            Some(other) => {
                return Err(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
            None => params.push(param.to_owned()),
        }
    }
    Ok((format!("{base}?{}", params.join("&")), mode))
}

/// `PGSSLROOTCERT`'s certificates, read once; a bad file fails every connection with its
/// reason.
fn extra_root_certificates() -> Result<Vec<native_tls::Certificate>, String> {
    static ROOTS: OnceLock<Result<Vec<native_tls::Certificate>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let Some(path) = std::env::var_os("PGSSLROOTCERT").filter(|p| !p.is_empty()) else {
                return Ok(Vec::new());
            };
            let shown = std::path::Path::new(&path).display().to_string();
            let bundle = std::fs::read_to_string(&path)
                .map_err(|e| format!("PGSSLROOTCERT {shown}: {e}"))?;
            pem_certificates(&bundle)
                .iter()
                .map(|pem| {
                    native_tls::Certificate::from_pem(pem.as_bytes())
                        .map_err(|e| format!("PGSSLROOTCERT {shown}: {e}"))
                })
                .collect()
        })
        .clone()
}

/// The `-----BEGIN CERTIFICATE-----` blocks of a PEM bundle, each whole.
fn pem_certificates(bundle: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    bundle
        .split_inclusive(END)
        .filter_map(|chunk| {
            let start = chunk.find("-----BEGIN CERTIFICATE-----")?;
            chunk.ends_with(END).then(|| chunk[start..].to_owned())
        })
        .collect()
}

fn deadpool_runtime() -> deadpool::Runtime {
    deadpool::Runtime::Tokio1
}

/// Borrows a connection, mapping pool failures to [`DbError::Unavailable`]. The pool bounds
/// each step (waiting for a free connection, checking it, opening a new one); this bounds
/// them together by the pool's wait timeout.
pub async fn connection(pool: &PgPool) -> Result<PgConn, DbError> {
    let budget = pool.timeouts().wait.unwrap_or(Duration::from_secs(5));
    match tokio::time::timeout(budget, pool.get()).await {
        Ok(result) => result.map_err(|e| DbError::Unavailable(e.to_string())),
        Err(_) => Err(DbError::Unavailable(format!(
            "no connection within {budget:?}"
        ))),
    }
}

/// Runs `work` in one transaction on a pooled connection: committed when it returns `Ok`,
/// rolled back when it returns `Err` (or panics). A commit that enqueued outbox events wakes
/// the relay ([`outbox::wake_after_commit`](crate::kafka::outbox::wake_after_commit)).
///
/// ```ignore
/// db::transaction(&pool, |conn| Box::pin(async move {
///     diesel::insert_into(users::table).values(&new_user).execute(conn).await?;
///     outbox::enqueue(conn, &user_created).await?;
///     Ok(())
/// })).await?;
/// ```
pub async fn transaction<R, E, F>(pool: &PgPool, work: F) -> Result<R, E>
where
    F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<R, E>> + Send,
    E: From<DbError> + From<diesel::result::Error> + Send,
    R: Send,
{
    let mut conn = connection(pool).await?;
    crate::kafka::outbox::wake_after_commit(conn.transaction(async move |conn| work(conn).await))
        .await
}

/// How long a replica that failed is left alone before it is tried again.
const REPLICA_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The primary and its read replicas (`DATABASE_READ_URLS`).
///
/// Writes, and reads that must see them (a caller's own data right after a change), go to
/// [`primary`](Self::primary). Reads that tolerate replication lag take
/// [`read_connection`](Self::read_connection): the replicas in turn, round-robin; a replica
/// that cannot give a connection is skipped for 5 s and the read goes to the primary, so a
/// replica outage costs capacity, never errors. Without replicas every read uses the primary.
///
/// Metrics: `db_read_connections_total{target}` (`primary` or `replica`) and
/// `db_replica_failures_total`.
#[derive(Clone)]
pub struct Databases {
    primary: PgPool,
    replicas: Arc<[Replica]>,
    next: Arc<AtomicUsize>,
    reads: IntCounterVec,
    replica_failures: IntCounter,
}

struct Replica {
    pool: PgPool,
    /// Set when the replica failed: it is not asked again before then.
    resting_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Databases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Databases")
            .field("replicas", &self.replicas.len())
            .finish_non_exhaustive()
    }
}

impl Databases {
    /// Lazily connecting pools for the primary and every replica of `config`.
    pub fn new(config: &DatabaseConfig, metrics: &Metrics) -> Result<Self, DbError> {
        let replicas = config
            .read_urls
            .iter()
            .map(|url| {
                Ok(Replica {
                    pool: pool(url, config)?,
                    resting_until: Mutex::new(None),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        let reads = IntCounterVec::new(
            Opts::new(
                "db_read_connections_total",
                "Connections taken for reads, by target (primary or replica)",
            ),
            &["target"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        let replica_failures = IntCounter::new(
            "db_replica_failures_total",
            "Reads that fell back to the primary because a replica failed",
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        metrics.register(reads.clone());
        metrics.register(replica_failures.clone());
        Ok(Self {
            primary: pool(&config.url, config)?,
            replicas: replicas.into(),
            next: Arc::new(AtomicUsize::new(0)),
            reads,
            replica_failures,
        })
    }

    /// The primary's pool: writes, and reads that must see the latest commit.
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// A connection for a read that tolerates replication lag: the next healthy replica, or
    /// the primary when there is none or it fails.
    pub async fn read_connection(&self) -> Result<PgConn, DbError> {
        if !self.replicas.is_empty() {
            let index = self.next.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
            let replica = &self.replicas[index];
            if replica.is_available() {
                match connection(&replica.pool).await {
                    Ok(conn) => {
                        self.reads.with_label_values(&["replica"]).inc();
                        return Ok(conn);
                    }
                    Err(error) => {
                        tracing::warn!(%error, replica = index, "read replica failed; reading the primary");
                        replica.rest();
                        self.replica_failures.inc();
                    }
                }
            }
        }
        self.reads.with_label_values(&["primary"]).inc();
        connection(&self.primary).await
    }
}

impl Replica {
    fn is_available(&self) -> bool {
        let resting = self
            .resting_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        resting.is_none_or(|until| Instant::now() >= until)
    }

    fn rest(&self) {
        *self
            .resting_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(Instant::now() + REPLICA_RETRY_AFTER);
    }
}

/// How long [`migrate`] waits for another process's migrations (the advisory lock).
pub const MIGRATION_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies the backbone migrations, then `service` migrations, to the database at `url`;
/// returns the versions it applied (none when the schema was current). Another process
/// migrating the same database is waited for, at most [`MIGRATION_LOCK_TIMEOUT`].
pub async fn migrate(
    url: &SecretString,
    service: Option<EmbeddedMigrations>,
) -> Result<Vec<String>, DbError> {
    let mut conn = blocking_connection(url).await?;
    tokio::task::spawn_blocking(move || {
        // Session-level lock, released when the connection closes at the end of this block.
        // `lock_timeout` bounds the wait; it is reset before the migrations, whose own locks
        // may legitimately take longer.
        conn.batch_execute(&format!(
            "SET lock_timeout = {}; SELECT pg_advisory_lock({MIGRATION_LOCK_KEY}); RESET lock_timeout",
            MIGRATION_LOCK_TIMEOUT.as_millis()
        ))
        .map_err(|e| {
            DbError::Migration(format!(
                "cannot take the migration lock within {MIGRATION_LOCK_TIMEOUT:?} (is another \
                 process migrating this database?): {e}"
            ))
        })?;
        let mut applied = Vec::new();
        for source in std::iter::once(BACKBONE_MIGRATIONS).chain(service) {
            let versions = conn
                .run_pending_migrations(source)
                .map_err(|e| DbError::Migration(e.to_string()))?;
            applied.extend(versions.iter().map(ToString::to_string));
        }
        Ok(applied)
    })
    .await
    .map_err(|e| DbError::Migration(format!("migration task failed: {e}")))?
}

/// What a service does with its schema at start: applies the pending migrations, or, when
/// `config.migrate_on_start` is off, fails with [`DbError::SchemaBehind`] while any are
/// pending (the orchestrator restarts the pod until the migration job has finished).
pub async fn prepare_schema(
    config: &DatabaseConfig,
    service: Option<EmbeddedMigrations>,
) -> Result<(), DbError> {
    if config.migrate_on_start {
        return migrate(&config.url, service).await.map(drop);
    }
    let pending = pending_migrations(&config.url, service).await?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(DbError::SchemaBehind(pending))
    }
}

/// The names of the backbone and `service` migrations not yet applied to the database at
/// `url`.
async fn pending_migrations(
    url: &SecretString,
    service: Option<EmbeddedMigrations>,
) -> Result<Vec<String>, DbError> {
    let mut conn = blocking_connection(url).await?;
    tokio::task::spawn_blocking(move || {
        let mut pending = Vec::new();
        for source in std::iter::once(BACKBONE_MIGRATIONS).chain(service) {
            let migrations = conn
                .pending_migrations(source)
                .map_err(|e| DbError::Migration(e.to_string()))?;
            pending.extend(migrations.iter().map(|m| m.name().to_string()));
        }
        Ok(pending)
    })
    .await
    .map_err(|e| DbError::Migration(format!("migration check failed: {e}")))?
}

/// A [`connect`]ed connection wrapped for diesel's synchronous migration harness (use it on a
/// blocking thread).
async fn blocking_connection(
    url: &SecretString,
) -> Result<AsyncConnectionWrapper<AsyncPgConnection>, DbError> {
    let conn = connect(url.expose_secret())
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    Ok(AsyncConnectionWrapper::from(conn))
}

/// Advisory-lock key serialising migrations ("marquee-m" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6d61_7271_7565_652d;

/// Readiness: the database answers `SELECT 1` through the pool.
#[derive(Clone)]
pub struct DatabaseCheck {
    name: &'static str,
    pool: PgPool,
}

impl std::fmt::Debug for DatabaseCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseCheck")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl DatabaseCheck {
    pub fn new(name: &'static str, pool: PgPool) -> Self {
        Self { name, pool }
    }
}

impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut conn = connection(&self.pool)
                .await
                .map_err(|_| "no connection".to_owned())?;
            ping(&mut conn).await.map_err(|_| "query failed".to_owned())
        })
    }
}

async fn ping(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_unavailability_not_a_failed_query() {
        use diesel::result::{DatabaseErrorKind, Error};
        let error = |kind, message: &str| Error::DatabaseError(kind, Box::new(message.to_owned()));
        for lost in [
            error(DatabaseErrorKind::UnableToSendCommand, "connection closed"),
            error(
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection",
            ),
            error(
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            error(
                DatabaseErrorKind::Unknown,
                "the database system is shutting down",
            ),
        ] {
            assert!(matches!(DbError::from(lost), DbError::Unavailable(_)));
        }
        for failed in [
            error(DatabaseErrorKind::UniqueViolation, "duplicate key value"),
            error(
                DatabaseErrorKind::Unknown,
                "syntax error at or near \"SELEC\"",
            ),
            Error::NotFound,
        ] {
            assert!(matches!(DbError::from(failed), DbError::Query(_)));
        }
    }

    #[test]
    fn sslmode_keeps_libpq_meanings_and_refuses_unknown_modes() {
        let split = |url| split_sslmode(url).map(|(url, mode)| (url, mode.to_owned()));
        assert_eq!(
            split("postgres://h/db").unwrap(),
            ("postgres://h/db".to_owned(), "prefer".to_owned())
        );
        assert_eq!(
            split("postgres://h/db?sslmode=require&application_name=x").unwrap(),
            (
                "postgres://h/db?sslmode=require&application_name=x".to_owned(),
                "require".to_owned()
            )
        );
        assert_eq!(
            split("postgres://h/db?application_name=x&sslmode=verify-full").unwrap(),
            (
                "postgres://h/db?application_name=x&sslmode=require".to_owned(),
                "verify-full".to_owned()
            )
        );
        assert!(split("postgres://h/db?sslmode=allow").is_err());
        assert!(tls_for("postgres://h/db?sslmode=verify-ca").is_ok());
    }

    #[test]
    fn a_pem_bundle_splits_into_whole_certificates() {
        let bundle = "# Amazon RDS\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\
                      junk\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n\
                      -----BEGIN CERTIFICATE-----\ntruncated";
        assert_eq!(
            pem_certificates(bundle),
            [
                "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----",
                "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----",
            ]
        );
    }
}
