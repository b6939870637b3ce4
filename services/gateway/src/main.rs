//! `gateway`: serve the API gateway (the default; see the crate docs and the README's
//! gateway section), or probe a running instance.

use clap::Parser;
use marquee_common::service::{self, Command};

#[derive(Parser)]
#[command(name = "gateway", version, about = "Marquee API gateway")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service::run::<gateway::Application>(Cli::parse().command.unwrap_or_default()).await
}
