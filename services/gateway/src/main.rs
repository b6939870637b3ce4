//! `gateway`: serve the API gateway (the default; see the crate docs and the README's
//! gateway section), or probe a running instance.

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway::{
    Application,
    config::{Config, DEFAULT_PORT},
};
use marquee_common::{Env, shutdown, telemetry};

#[derive(Parser)]
#[command(name = "gateway", version, about = "Marquee API gateway")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Route, limit and relay requests to the services (the default).
    Serve,
    /// Exit 0 when this host's gateway answers /health/live (container health check).
    Healthcheck,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Healthcheck => marquee_common::service::healthcheck(DEFAULT_PORT),
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env(&Env::from_process())?;
    let _telemetry = telemetry::init(&config.telemetry).context("starting telemetry")?;
    let application = Application::build(config)
        .await
        .context("starting the gateway")?;
    tracing::info!(port = application.port(), "gateway listening");
    application
        .run_until_stopped(shutdown::on_signal())
        .await
        .context("serving")?;
    Ok(())
}
