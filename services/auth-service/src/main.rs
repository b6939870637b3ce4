//! `auth-service`: serve (the default), or manage signing keys.

use std::path::PathBuf;

use anyhow::Context;
use auth_service::{Application, config::Config, keys::SigningKeys};
use clap::{Parser, Subcommand};
use marquee_common::{Env, shutdown, telemetry};

#[derive(Parser)]
#[command(
    name = "auth-service",
    version,
    about = "Marquee accounts, sessions and access tokens"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP and publish events (the default).
    Serve,
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new Ed25519 key as <dir>/<kid>.pem; it signs from the next start on.
    Generate {
        #[arg(long, env = "AUTH_KEYS_DIR")]
        dir: PathBuf,
        /// Key id; defaults to today's date, which sorts after older keys.
        #[arg(long)]
        kid: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Keys {
            command: KeysCommand::Generate { dir, kid },
        } => {
            let kid =
                kid.unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H%M%S").to_string());
            let path = SigningKeys::write_new(&dir, &kid)?;
            println!("wrote {}", path.display());
            Ok(())
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env(&Env::from_process())?;
    let _telemetry = telemetry::init(&config.telemetry).context("starting telemetry")?;
    let application = Application::build(config)
        .await
        .context("starting auth-service")?;
    tracing::info!(port = application.port(), "auth-service listening");
    application
        .run_until_stopped(shutdown::on_signal())
        .await
        .context("serving")?;
    Ok(())
}
