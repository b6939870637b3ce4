//! A private tansu broker for fault tests.
//!
//! An outage is played by a [`FaultProxy`] in front of the broker, not by killing the broker:
//! tansu's in-memory storage would forget every topic and record on a restart, which a real
//! Kafka on its disks does not, and librdkafka (2.12.1, bundled by rdkafka-sys 4.10) crashes
//! when a consumer fetches from a broker that forgot the topic — tansu answers such a fetch
//! with a zero topic id and a `CurrentLeader` hint, and librdkafka's leader-discovery update
//! then looks the topic up by a NULL name (`rd_kafka_metadata_update_op` →
//! `rd_kafka_metadata_cache_find` → `strcmp`). Behind the proxy the clients see their broker
//! vanish (connections reset) and come back with its state, as in production.

use std::{path::PathBuf, time::Duration};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio::process::{Child, Command};

use crate::FaultProxy;

/// A tansu broker process (in-memory storage) on a free port, reached through a
/// [`FaultProxy`] so that a test can take it away from its clients and give it back.
#[derive(Debug)]
pub struct BrokerProcess {
    proxy: FaultProxy,
    /// Where tansu itself listens (behind the proxy).
    port: u16,
    /// Killed on drop.
    child: Child,
    /// tansu's output; its tail is printed when the test that started it fails.
    log: PathBuf,
}

impl BrokerProcess {
    /// Starts a broker and waits until it accepts connections.
    pub async fn start() -> Self {
        let port = crate::free_port();
        let listener = format!("tcp://127.0.0.1:{port}");
        let proxy = FaultProxy::start(([127, 0, 0, 1], port).into()).await;
        // Clients learn the broker's address from its metadata: it must be the proxy's.
        let advertised = format!("tcp://{}", proxy.address());
        let log = std::env::temp_dir().join(format!(
            "marquee-tansu-{port}-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let output = std::fs::File::create(&log).expect("a log file for tansu");
        let mut child = Command::new(tansu_binary())
            .args(["broker", "--listener-url", &listener])
            .args(["--advertised-listener-url", &advertised])
            .args(["--storage-engine", "memory://tansu/"])
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(output.try_clone().expect("log handle"))
            .stderr(output)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({e}); `cargo xtask test` installs it"));
        let address = format!("127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the private tansu broker exited at start ({status})");
            }
            let connect = tokio::net::TcpStream::connect(&address);
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the private tansu broker did not listen on {address} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            proxy,
            port,
            child,
            log,
        }
    }

    /// `127.0.0.1:<port>` of the proxy, for `KAFKA_BROKERS`.
    pub fn brokers(&self) -> String {
        self.proxy.address().to_string()
    }

    /// The broker goes away for its clients: open connections are reset, new ones too.
    pub async fn cut(&self) {
        self.proxy.cut().await;
    }

    /// What its proxy did so far (connections forwarded and reset), for a failing test.
    pub fn report(&self) -> String {
        self.proxy.report()
    }

    /// The broker is back, with every topic and record it had.
    pub fn restore(&self) {
        self.proxy.restore();
    }

    /// The broker process stops (SIGSTOP) without closing anything: connections stay open
    /// and requests go unanswered, as with a broker stuck in a long GC pause or a frozen VM.
    pub fn freeze(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// The frozen broker carries on (SIGCONT) where it stopped.
    pub fn thaw(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        let pid = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .expect("the private tansu broker has exited");
        kill(Pid::from_raw(pid), signal)
            .unwrap_or_else(|e| panic!("cannot send {signal} to the private tansu broker: {e}"));
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let exited = self.child.try_wait().ok().flatten();
            let listening = std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], self.port).into(),
                Duration::from_secs(1),
            )
            .map_or_else(
                |e| format!("not accepting ({e})"),
                |_| "accepting".to_owned(),
            );
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "──── the private tansu broker ({}, {listening}; its proxy: {}), its last lines \
                 ────\n{}",
                exited.map_or("running".to_owned(), |status| format!("exited: {status}")),
                self.proxy.report(),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        let _ = std::fs::remove_file(&self.log);
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
