//! `chat-service`: serve chat rooms over REST and WebSockets (the default), migrate the
//! database, or probe a running instance.

use anyhow::Context;
use chat_service::{
    Application,
    config::{Config, DEFAULT_PORT},
};
use clap::{Parser, Subcommand};
use marquee_common::{Env, shutdown, telemetry};

#[derive(Parser)]
#[command(
    name = "chat-service",
    version,
    about = "Marquee chat: rooms, history, attachments, and live messages over WebSockets"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST and WebSockets, tail the chat topics, publish messages (the default).
    Serve,
    /// Apply the database migrations (`DATABASE_URL`) and exit: the migration job.
    Migrate,
    /// Exit 0 when this host's chat-service answers /health/live (container health check).
    Healthcheck,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => marquee_common::service::migrate(chat_service::MIGRATIONS).await,
        Command::Healthcheck => marquee_common::service::healthcheck(DEFAULT_PORT),
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env(&Env::from_process())?;
    let _telemetry = telemetry::init(&config.telemetry).context("starting telemetry")?;
    let application = Application::build(config)
        .await
        .context("starting chat-service")?;
    tracing::info!(port = application.port(), "chat-service listening");
    application
        .run_until_stopped(shutdown::on_signal())
        .await
        .context("serving")?;
    Ok(())
}
