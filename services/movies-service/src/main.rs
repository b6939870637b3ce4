//! `movies-service`: serve the catalogue and watchlists (the default), migrate the database,
//! or probe a running instance.

use anyhow::Context;
use clap::{Parser, Subcommand};
use marquee_common::{Env, shutdown, telemetry};
use movies_service::{
    Application,
    config::{Config, DEFAULT_PORT},
};

#[derive(Parser)]
#[command(
    name = "movies-service",
    version,
    about = "Marquee movie catalogue (TMDb or the bundled offline one) and watchlists"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP, consume users.v1 and publish watchlist events (the default).
    Serve,
    /// Apply the database migrations (`DATABASE_URL`) and exit: the migration job.
    Migrate,
    /// Exit 0 when this host's movies-service answers /health/live (container health check).
    Healthcheck,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => marquee_common::service::migrate(movies_service::MIGRATIONS).await,
        Command::Healthcheck => marquee_common::service::healthcheck(DEFAULT_PORT),
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env(&Env::from_process())?;
    let _telemetry = telemetry::init(&config.telemetry).context("starting telemetry")?;
    let application = Application::build(config)
        .await
        .context("starting movies-service")?;
    tracing::info!(port = application.port(), "movies-service listening");
    application
        .run_until_stopped(shutdown::on_signal())
        .await
        .context("serving")?;
    Ok(())
}
