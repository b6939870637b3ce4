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

#[derive(Debug)]
struct Line {
    up: bool,
    /// The forwarding tasks started since the line was last cut.
    connections: Vec<JoinHandle<()>>,
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
            connections: Vec::new(),
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
            Err(_) => {
                // Out of file descriptors, say: try again shortly rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let mut line = line.lock().expect("proxy state");
        if !line.up {
            reset(inbound);
            continue;
        }
        line.connections.retain(|task| !task.is_finished());
        line.connections
            .push(tokio::spawn(forward(inbound, upstream)));
    }
}

async fn forward(mut inbound: TcpStream, upstream: SocketAddr) {
    let connected = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(upstream));
    match connected.await {
        Ok(Ok(mut outbound)) => {
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        }
        // The server itself is unreachable: the client sees its connection reset.
        _ => reset(inbound),
    }
}

/// Closes `stream` with a reset rather than an orderly shutdown, as a vanished peer does.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
