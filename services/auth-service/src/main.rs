//! `auth-service`: serve (the default), manage signing keys, create the first admin, migrate
//! the database, or probe a running instance.

use std::{io::BufRead, path::PathBuf};

use anyhow::Context;
use auth_service::{
    Application,
    admin::{self, AdminOutcome},
    config::AdminConfig,
    hashing::PasswordHasher,
    keys::SigningKeys,
};
use clap::{Parser, Subcommand};
use marquee_common::{Env, service};

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
    #[command(flatten)]
    Service(service::Command),
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Administrators (needs `DATABASE_URL`; the running service publishes the events).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account with the roles user and admin. The password is read from
    /// `ADMIN_PASSWORD` or, if unset, from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Admin")]
        display_name: String,
    },
    /// Give an existing account the admin role (effective at its next sign-in or refresh).
    Promote {
        #[arg(long)]
        email: String,
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
        /// Do nothing when the folder already holds a key (seeding a volume once).
        #[arg(long)]
        if_empty: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    match command.unwrap_or(Command::Service(service::Command::Serve)) {
        Command::Service(command) => service::run::<Application>(command).await,
        Command::Keys {
            command: KeysCommand::Generate { dir, kid, if_empty },
        } => {
            if if_empty && SigningKeys::dir_has_keys(&dir)? {
                println!("{} already holds a key; none generated", dir.display());
                return Ok(());
            }
            let kid =
                kid.unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H%M%S").to_string());
            let path = SigningKeys::write_new(&dir, &kid)?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Command::Admin { command } => admin(command).await,
    }
}

async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    let config = AdminConfig::from_env(&Env::from_process())?;
    marquee_common::db::migrate(&config.database.url, Some(auth_service::MIGRATIONS))
        .await
        .context("migrating the database")?;
    let pool = marquee_common::db::pool(&config.database.url, &config.database)?;
    match command {
        AdminCommand::Create {
            email,
            display_name,
        } => {
            let password = match std::env::var("ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
            {
                Some(password) => password,
                None => {
                    eprintln!("password (one line on standard input):");
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .context("reading the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let hasher = PasswordHasher::new(config.bcrypt_cost, 1, Some(0)).await?;
            match admin::ensure_admin(&pool, &hasher, &email, password.into(), &display_name)
                .await?
            {
                AdminOutcome::Created(id) => println!("created admin {email} ({id})"),
                AdminOutcome::AlreadyAdmin(id) => println!("{email} ({id}) is already an admin"),
            }
        }
        AdminCommand::Promote { email } => {
            let id = admin::promote(&pool, &email).await?;
            println!("{email} ({id}) is now an admin");
        }
    }
    Ok(())
}
