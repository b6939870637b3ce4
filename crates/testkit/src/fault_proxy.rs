//! A TCP proxy that can cut the line, for fault tests.
//!
//! Clients connect to the proxy, which forwards each connection to the real server. While the
//! line is [cut](FaultProxy::cut), every open connection is closed and every new one is reset
//! as soon as it is accepted, so the clients see their server go away; the server itself keeps
//! running with its state, as a broker restarted on durable storage or one behind a network
//! partition would. [`FaultProxy::restore`] forwards again.
//!
//! The proxy keeps its port for its whole life (a reset connection, not a refused one, is how
//! "down" looks), so nothing else on the machine can take the port during an outage.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// How long the proxy waits for the real server to accept a forwarded connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A proxy on a free port of 127.0.0.1 in front of one upstream address.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    line: Arc<Mutex<Line>>,
    acceptor: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Line {
    up: bool,
    /// The forwarding tasks started since the line was last cut.
    connections: Vec<JoinHandle<()>>,
    /// Connections forwarded, reset while cut, and reset because the server could not be
    /// reached (with the last reason), for a failing test's report.
    forwarded: u64,
    reset_while_cut: u64,
    upstream_failures: u64,
    last_upstream_failure: Option<String>,
    accept_failures: u64,
    last_accept_failure: Option<String>,
}

impl FaultProxy {
    /// Listens on a free port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port for the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let line = Arc::new(Mutex::new(Line {
            up: true,
            ..Line::default()
        }));
        let acceptor = tokio::spawn(accept(listener, upstream, Arc::clone(&line)));
        Self {
            address,
            line,
            acceptor,
        }
    }

    /// The address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Closes every forwarded connection and resets new ones until [`FaultProxy::restore`].
    /// When this returns, no client can reach the server any more.
    pub async fn cut(&self) {
        let connections = {
            let mut line = self.line.lock().expect("proxy state");
            line.up = false;
            std::mem::take(&mut line.connections)
        };
        for connection in connections {
            connection.abort();
            // Bounded: an aborted task ends at its next await point.
            let _ = connection.await;
        }
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.line.lock().expect("proxy state").up = true;
    }

    /// What the proxy did so far, for a failing test's report.
    pub fn report(&self) -> String {
        match self.line.lock() {
            Ok(line) => format!(
                "line {}, {} connections forwarded, {} reset while cut, {} reset because the \
                 server could not be reached (last: {}), {} failed accepts (last: {})",
                if line.up { "up" } else { "cut" },
                line.forwarded,
                line.reset_while_cut,
                line.upstream_failures,
                line.last_upstream_failure.as_deref().unwrap_or("none"),
                line.accept_failures,
                line.last_accept_failure.as_deref().unwrap_or("none")
            ),
            Err(_) => "proxy state poisoned".to_owned(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        if let Ok(mut line) = self.line.lock() {
            for connection in line.connections.drain(..) {
                connection.abort();
            }
        }
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, line: Arc<Mutex<Line>>) {
    loop {
        let inbound = match listener.accept().await {
            Ok((inbound, _)) => inbound,
            Err(error) => {
                if let Ok(mut state) = line.lock() {
                    state.accept_failures += 1;
                    state.last_accept_failure = Some(error.to_string());
                }
                // Out of file descriptors, say: try again shortly rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let mut state = line.lock().expect("proxy state");
        if !state.up {
            state.reset_while_cut += 1;
            reset(inbound);
            continue;
        }
        state.forwarded += 1;
        state.connections.retain(|task| !task.is_finished());
        state
            .connections
            .push(tokio::spawn(forward(inbound, upstream, Arc::clone(&line))));
    }
}

async fn forward(mut inbound: TcpStream, upstream: SocketAddr, line: Arc<Mutex<Line>>) {
    let connected = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(upstream));
    let failure = match connected.await {
        Ok(Ok(mut outbound)) => {
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            return;
        }
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no connection within {UPSTREAM_CONNECT_TIMEOUT:?}"),
    };
    // The server itself is unreachable: the client sees its connection reset.
    if let Ok(mut line) = line.lock() {
        line.upstream_failures += 1;
        line.last_upstream_failure = Some(failure);
    }
    reset(inbound);
}

/// Closes `stream` with a reset rather than an orderly shutdown, as a vanished peer does.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
