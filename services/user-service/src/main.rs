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
    redis, service,
};
use user_service::{
    Application,
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
    #[command(flatten)]
    Service(service::Command),
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    match command.unwrap_or(Command::Service(service::Command::Serve)) {
        Command::Service(command) => service::run::<Application>(command).await,
        Command::Import { file, emit_events } => import(ImportOptions { file, emit_events }).await,
        Command::Synthesize { count } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            import::write_synthetic_csv(count, &mut out)?;
            out.flush()?;
            Ok(())
        }
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
