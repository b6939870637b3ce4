//! A private tansu broker for fault tests.

use std::{net::TcpListener, path::PathBuf, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

/// A tansu broker process on a free port with in-memory storage. Stopping it loses its
/// topics and records; [`crate::TestTopics::create_again`] restores the topics.
#[derive(Debug)]
pub struct BrokerProcess {
    port: u16,
    child: Option<Child>,
}

impl BrokerProcess {
    /// Starts a broker on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut broker = Self { port, child: None };
        broker.start_again().await;
        broker
    }

    /// `127.0.0.1:<port>`, for `KAFKA_BROKERS`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the broker again on the same port (after [`BrokerProcess::stop`]).
    pub async fn start_again(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({e}); `cargo xtask test` installs it"));
        self.child = Some(child);
        let address = format!("127.0.0.1:{}", self.port);
        crate::eventually_async(Duration::from_secs(20), "the broker to listen", || async {
            tokio::net::TcpStream::connect(&address)
                .await
                .ok()
                .map(drop)
        })
        .await;
    }
}

/// `TANSU_BIN`, else `tansu` from `PATH`, else `~/.cargo/bin/tansu`.
fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo/bin/tansu")
    })
}
