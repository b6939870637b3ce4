//! `gateway`: serve the API gateway (see the crate docs and the README's gateway section).

use anyhow::Context;
use clap::Parser;
use gateway::{Application, config::Config};
use marquee_common::{Env, shutdown, telemetry};

#[derive(Parser)]
#[command(name = "gateway", version, about = "Marquee API gateway")]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse();
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
