//! `user-service`: serve profiles.

use anyhow::Context;
use marquee_common::{Env, shutdown, telemetry};
use user_service::{Application, config::Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
