//! The workspace's own binaries as child processes, for end-to-end tests that start the real
//! thing (`services/gateway/tests/api/journey.rs`).
//!
//! Binaries are found beside the test executable (`target/<profile>/`), where
//! `cargo nextest run --workspace` / `cargo test --workspace` put them before any test runs.
//! A [`ServiceProcess`] is stopped with SIGTERM when dropped, and its output is kept in a
//! file whose tail is printed when it fails to become ready, or when the test that started it
//! fails.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::{Child, Command};

/// A free local port (bound and released at once; the OS does not hand it out again soon).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The path of workspace binary `name`, built by `cargo build --workspace`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`; \
         `cargo xtask test` and `cargo nextest run --workspace` do it)",
        path.display()
    );
    path
}

/// A running service binary.
pub struct ServiceProcess {
    pub name: String,
    pub port: u16,
    binary: String,
    env: Vec<(String, String)>,
    child: Child,
    log: PathBuf,
}

impl std::fmt::Debug for ServiceProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProcess")
            .field("name", &self.name)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl ServiceProcess {
    /// Starts `binary` as `name` on `port` with `env` (plus `PORT` and `HTTP_HOST`).
    pub fn start(name: &str, binary: &str, port: u16, env: &[(String, String)]) -> Self {
        let log = std::env::temp_dir().join(format!(
            "marquee-{name}-{port}-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let child = spawn(binary, port, env, &log);
        Self {
            name: name.to_owned(),
            port,
            binary: binary.to_owned(),
            env: env.to_vec(),
            child,
            log,
        }
    }

    /// Starts the process again, as it was started, after [`ServiceProcess::stop`] or
    /// [`ServiceProcess::kill`]; its output goes on into the same log.
    pub fn start_again(&mut self) {
        self.child = spawn(&self.binary, self.port, &self.env, &self.log);
    }

    /// Kills the process at once (SIGKILL): no draining, no goodbyes, as a crash or an OOM
    /// kill would.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits until `/health/ready` answers 200; panics with the log's tail after `timeout`
    /// or when the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let client = crate::test_client();
        let url = format!("http://127.0.0.1:{}/health/ready", self.port);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, self.log_tail());
            }
            let probe = tokio::time::timeout(Duration::from_secs(2), client.get(&url).send());
            if let Ok(Ok(response)) = probe.await
                && response.status().is_success()
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} not ready after {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last 40 lines of the process's output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Asks the process to stop (SIGTERM) and waits for it; panics, after killing it, if it
    /// has not stopped within 20 s (its own drain takes at most 15 s).
    pub async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
            panic!(
                "{} did not stop within 20 s of SIGTERM:\n{}",
                self.name,
                self.log_tail()
            );
        }
    }
}

/// Starts `binary` on `port` with `env`, its output appended to `log`.
fn spawn(binary: &str, port: u16, env: &[(String, String)], log: &std::path::Path) -> Child {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("a log file");
    Command::new(self::binary(binary))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PORT", port.to_string())
        .env("HTTP_HOST", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log handle"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"))
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        // A failing test shows what every process it started was doing.
        if std::thread::panicking() {
            eprintln!(
                "──── the last lines of {} (port {}) ────\n{}",
                self.name,
                self.port,
                self.log_tail()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
