//! `movies-service`: serve the catalogue and watchlists (the default), migrate the database,
//! or probe a running instance.

use clap::Parser;
use marquee_common::service::{self, Command};

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service::run::<movies_service::Application>(Cli::parse().command.unwrap_or_default()).await
}
