//! `chat-service`: serve chat rooms over REST and WebSockets (the default), migrate the
//! database, or probe a running instance.

use clap::Parser;
use marquee_common::service::{self, Command};

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service::run::<chat_service::Application>(Cli::parse().command.unwrap_or_default()).await
}
