//! Developer commands for the Marquee workspace.
//!
//! - `cargo xtask test [ARGS…]`: makes sure PostgreSQL, Redis and a Kafka-compatible broker
//!   are there (installing and starting the pinned tansu broker when `KAFKA_BROKERS` is not
//!   set) and installs the suite's Python tools ([`python_tools`]: schemathesis), then runs the whole workspace suite with nextest (or `cargo test` without it),
//!   every test even after a failure, and ends with the slowest tests ([`report`]) and the
//!   total time. Extra arguments go to the test runner.
//! - `cargo xtask up [--release] [--port N] [--services-from N]`: the whole platform
//!   locally: dependencies, topics, databases, dev keys, auth, user, movies, two chat
//!   instances and the gateway, until Ctrl-C ([`stack`]).
//! - `cargo xtask bench [--quick] [SUITE…]`: the same dependencies, then the benchmarks
//!   (optimised builds), each beside its reference measured in the same run ([`bench`]); the
//!   figures and how to read them are in `docs/benchmarks.md`.
//! - `cargo xtask load [--vus N] [--sockets N] [--duration D] [--base-url URL] [http|chat]…`:
//!   the k6 load tests of `loadtest/` against a running stack, with thresholds ([`load`]).
//! - `cargo xtask deps`: only checks and prepares the dependencies, then stops what it started.
//! - `cargo xtask check-deploy`: Dockerfiles, compose, Kubernetes manifests, Terraform and the
//!   GitHub workflows through their third-party validators ([`deploy_checks`]).
//!
//! Every step prints a progress line; any failure says what is missing and how to fix it, and
//! exits non-zero. Whatever xtask started, it stops.

mod bench;
mod database_url;
mod deploy_checks;
mod deps;
mod load;
mod python_tools;
mod report;
mod stack;
mod workspace;

/// Command-line arguments for the parsing tests.
#[cfg(test)]
fn test_args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

use std::{
    process::{Command, ExitCode},
    time::Instant,
};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nxtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "test" => test(&rest),
        "bench" => bench::run(&bench::Options::parse(&rest)?),
        "up" => stack::up(&stack::Options::parse(&rest)?),
        "load" => load::run(&load::Options::parse(&rest)?),
        "deps" => deps::Dependencies::prepare().map(drop),
        "check-deploy" => deploy_checks::run(&workspace::workspace_root()?),
        "" | "help" | "--help" | "-h" => {
            print!("{}", USAGE);
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [ARGS...]   check dependencies, start the broker if needed, run the whole test suite
                   (every test, even after a failure), then print the slowest tests and the
                   total time (ARGS go to cargo nextest / cargo test)
  bench [--quick] [bcrypt|gateway|logins|profiles|websocket|sockets|fanout|events]...
                   dependencies, then the benchmarks in release mode (see docs/benchmarks.md)
  load [--vus N] [--sockets N] [--duration D] [--base-url URL] [http|chat]...
                   the k6 load tests (loadtest/) against a running stack; thresholds fail it
  up [FLAGS]       the whole platform locally until Ctrl-C: dependencies, topics, databases,
                   dev keys, auth, user, movies, chat (twice) and the gateway
                     --release            optimised builds
                     --port N             the gateway's port (default 8080)
                     --services-from N    auth, user, movies, chat, chat on N..N+4 (default 8081)
  deps             check and prepare the dependencies only
  check-deploy     validate docker-compose.yml, the Dockerfiles, k8s overlays, terraform and
                   the GitHub workflows (installs the pinned validators, needs kubectl)

environment:
  TEST_DATABASE_URL  PostgreSQL server             (default postgres://postgres@127.0.0.1:5432/postgres)
  REDIS_URL          Redis                         (default redis://127.0.0.1:6379)
  KAFKA_BROKERS      use this broker instead of starting tansu (default: tansu on 127.0.0.1:9092)
  MARQUEE_TOOLS_DIR  where check-deploy keeps its validators   (default ~/.cache/marquee/tools)
";

fn test(extra: &[String]) -> Result<()> {
    let started = Instant::now();
    let deps = deps::Dependencies::prepare()?;
    let tools = python_tools::virtualenv(
        "test-venv",
        &workspace::workspace_root()?.join(".config/test-tools.txt"),
    )?;
    let nextest = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    // Both profiles run every test and report every failure (.config/nextest.toml); CI's
    // shows failures' output as they happen.
    let profile = if std::env::var_os("CI").is_some() {
        "ci"
    } else {
        "default"
    };
    let mut command = Command::new("cargo");
    if nextest {
        command.args(["nextest", "run", "--workspace", "--profile", profile]);
    } else {
        println!(
            "==> cargo-nextest not found; using cargo test (install it with `cargo install cargo-nextest --locked`)"
        );
        command.args(["test", "--workspace", "--no-fail-fast"]);
    }
    command
        .args(extra)
        .envs(deps.env())
        .env("MARQUEE_SCHEMATHESIS", tools.join("bin/schemathesis"));
    println!("==> running the test suite: {}", describe(&command));
    let status = command.status().context("cannot run cargo")?;
    drop(deps);
    if nextest {
        // nextest's store is `target/nextest` in the workspace, whatever CARGO_TARGET_DIR says.
        let junit = workspace::workspace_root()?
            .join("target/nextest")
            .join(profile)
            .join("junit.xml");
        match report::read(&junit) {
            Ok(tests) => print!("{}", report::summary(&tests, 10)),
            Err(error) => println!("==> no per-test times: {error:#}"),
        }
    }
    println!(
        "==> total time {:.0?} (dependencies, build and tests)",
        started.elapsed()
    );
    if !status.success() {
        bail!("the test suite failed ({status})");
    }
    println!("==> all tests passed");
    Ok(())
}

pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program().to_string_lossy().into_owned())
        .chain(command.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}
