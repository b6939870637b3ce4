//! `movies-service`: serve the catalogue and watchlists.

use anyhow::Context;
use clap::Parser;
use marquee_common::{Env, shutdown, telemetry};
use movies_service::{Application, config::Config};

#[derive(Parser)]
#[command(
    name = "movies-service",
    version,
    about = "Marquee movie catalogue (TMDb or the bundled offline one) and watchlists"
)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse();
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
