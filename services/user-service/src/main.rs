//! `user-service`: serve profiles (the default), bulk-import them from CSV, migrate the
//! database, or probe a running instance.

use std::{io::Write, path::PathBuf, time::Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use marquee_common::{
    Env,
    cache::{CacheConfig, TagCache},
    db::{self, DatabaseConfig},
    http::metrics::Metrics,
    redis, shutdown, telemetry,
};
use user_service::{
    Application,
    config::{Config, DEFAULT_PORT},
    import::{self, ImportOptions},
    profiles::USERS_TAG,
};

#[derive(Parser)]
#[command(name = "user-service", version, about = "Marquee user profiles")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP, consume users.v1 and publish profile events (the default).
    Serve,
    /// Bulk-load profiles from a CSV file (needs `DATABASE_URL`): header row with email and
    /// display_name, optionally id, bio, avatar_url, locale, created_at. All or nothing.
    Import {
        /// The CSV file.
        #[arg(long)]
        file: PathBuf,
        /// Also enqueue a UserUpdated (every field, version 1) per imported profile, for
        /// services that keep their own copy of user data.
        #[arg(long)]
        emit_events: bool,
    },
    /// Write N synthetic profiles as import CSV to standard output (benchmarks, fixtures).
    Synthesize {
        #[arg(long)]
        count: u64,
    },
    /// Apply the database migrations (`DATABASE_URL`) and exit: the migration job.
    Migrate,
    /// Exit 0 when this host's user-service answers /health/live (container health check).
    Healthcheck,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Import { file, emit_events } => import(ImportOptions { file, emit_events }).await,
        Command::Synthesize { count } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            import::write_synthetic_csv(count, &mut out)?;
            out.flush()?;
            Ok(())
        }
        Command::Migrate => marquee_common::service::migrate(user_service::MIGRATIONS).await,
        Command::Healthcheck => marquee_common::service::healthcheck(DEFAULT_PORT),
    }
}

async fn import(options: ImportOptions) -> anyhow::Result<()> {
    let env = Env::from_process();
    let database = DatabaseConfig::from_env(&env)?;
    db::migrate(&database.url, Some(user_service::MIGRATIONS))
        .await
        .context("migrating the database")?;
    let started = Instant::now();
    let mut last_report = Instant::now();
    let report = import::run(&database.url, &options, |rows| {
        if last_report.elapsed().as_secs() >= 1 {
            last_report = Instant::now();
            let rate = rows as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprintln!("{rows} rows streamed ({rate:.0} rows/s)");
        }
    })
    .await
    .with_context(|| format!("importing {}", options.file.display()))?;
    eprintln!(
        "done in {:.1}s: {} rows read, {} profiles imported, {} skipped (id or e-mail exists, or the id was deleted), {} events enqueued",
        started.elapsed().as_secs_f64(),
        report.read,
        report.imported,
        report.skipped,
        report.events
    );
    // Cached listing pages do not know the new profiles; best effort (they expire anyway).
    if report.imported > 0
        && let Ok(cache) = CacheConfig::from_env(&env)
        && let Ok(redis) = redis::connect(&cache.redis)
    {
        TagCache::new("profiles", redis, &cache, &Metrics::new())
            .invalidate(&[USERS_TAG.to_owned()])
            .await;
    }
    Ok(())
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env(&Env::from_process())?;
    let _telemetry = telemetry::init(&config.telemetry).context("starting telemetry")?;
    let application = Application::build(config)
        .await
        .context("starting user-service")?;
    tracing::info!(port = application.port(), "user-service listening");
    application
        .run_until_stopped(shutdown::on_signal())
        .await
        .context("serving")?;
    Ok(())
}
