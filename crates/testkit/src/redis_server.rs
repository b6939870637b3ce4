//! A private `redis-server` for fault tests.

use std::{net::TcpListener, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

/// A `redis-server` on a free port that keeps nothing on disk, so a test can stop it (and
/// start it again, empty) without disturbing the shared Redis other tests use.
#[derive(Debug)]
pub struct RedisProcess {
    port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts a server on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self { port, child: None };
        server.start_again().await;
        server
    }

    /// Where the server listens (for a [`crate::FaultProxy`] in front of it).
    pub fn address(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port (after [`RedisProcess::stop`]), empty.
    pub async fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}); install Redis"));
        self.child = Some(child);
        let address = format!("127.0.0.1:{}", self.port);
        crate::eventually_async(
            Duration::from_secs(10),
            "redis-server to listen",
            || async {
                tokio::net::TcpStream::connect(&address)
                    .await
                    .ok()
                    .map(drop)
            },
        )
        .await;
    }
}
