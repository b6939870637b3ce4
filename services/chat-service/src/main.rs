//! `chat-service`: serve chat rooms over REST and WebSockets.

use anyhow::Context;
use chat_service::{Application, config::Config};
use clap::Parser;
use marquee_common::{Env, shutdown, telemetry};

#[derive(Parser)]
#[command(
    name = "chat-service",
    version,
    about = "Marquee chat: rooms, history, attachments, and live messages over WebSockets"
)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse();
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
