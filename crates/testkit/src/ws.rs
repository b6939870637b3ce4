//! A WebSocket client for tests of the chat protocol: JSON frames in and out, waits with
//! deadlines, and the close code the server sent.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream, client_async,
    tungstenite::{self, Message, client::IntoClientRequest, http},
};

/// How long a test waits for an expected frame (or the server's close), for the handshake,
/// and for a frame to be sent.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected test client.
pub struct WsClient {
    stream: WebSocketStream<TcpStream>,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsClient").finish_non_exhaustive()
    }
}

/// How to connect.
#[derive(Debug, Clone, Default)]
pub struct WsOptions {
    /// Sent as `Authorization: Bearer …`.
    pub bearer: Option<String>,
    /// Sent as `Sec-WebSocket-Protocol` (comma-separated entries).
    pub protocols: Option<String>,
    /// The socket's receive buffer, to make a client that cannot keep up.
    pub recv_buffer: Option<u32>,
    /// Sent as `Origin`, as a browser page on that site would.
    pub origin: Option<String>,
}

impl WsClient {
    /// Connects to `ws://127.0.0.1:<port><path>` with a bearer token.
    pub async fn connect(port: u16, path: &str, token: &str) -> Self {
        let options = WsOptions {
            bearer: Some(token.to_owned()),
            ..WsOptions::default()
        };
        Self::try_connect(port, path, &options)
            .await
            .unwrap_or_else(|e| panic!("WebSocket handshake with 127.0.0.1:{port}{path}: {e}"))
            .0
    }

    /// Connects; the handshake's failure (a refused upgrade carries the HTTP response) is
    /// returned, not panicked on. Panics if the handshake takes longer than
    /// [`FRAME_TIMEOUT`].
    pub async fn try_connect(
        port: u16,
        path: &str,
        options: &WsOptions,
    ) -> Result<(Self, http::Response<Option<Vec<u8>>>), tungstenite::Error> {
        let mut request = format!("ws://127.0.0.1:{port}{path}").into_client_request()?;
        if let Some(token) = &options.bearer {
            request.headers_mut().insert(
                http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().expect("header value"),
            );
        }
        if let Some(origin) = &options.origin {
            request
                .headers_mut()
                .insert(http::header::ORIGIN, origin.parse().expect("header value"));
        }
        if let Some(protocols) = &options.protocols {
            request.headers_mut().insert(
                http::header::SEC_WEBSOCKET_PROTOCOL,
                protocols.parse().expect("header value"),
            );
        }
        let socket = TcpSocket::new_v4()?;
        if let Some(size) = options.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let handshake = async {
            let tcp = socket.connect(([127, 0, 0, 1], port).into()).await?;
            client_async(request, tcp).await
        };
        let (stream, response) = tokio::time::timeout(FRAME_TIMEOUT, handshake)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no WebSocket handshake with 127.0.0.1:{port}{path} within {FRAME_TIMEOUT:?}"
                )
            })?;
        Ok((Self { stream }, response))
    }

    pub async fn send_json(&mut self, frame: &Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        let sent = tokio::time::timeout(
            FRAME_TIMEOUT,
            self.stream.send(Message::Text(text.to_owned().into())),
        )
        .await
        .unwrap_or_else(|_| panic!("a frame could not be sent within {FRAME_TIMEOUT:?}"));
        sent.unwrap_or_else(|e| panic!("sending a frame failed: {e}"));
    }

    /// The next JSON frame (pings and pongs skipped); panics on a close, or when none comes
    /// within [`FRAME_TIMEOUT`].
    pub async fn next_json(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
        self.next_matching(deadline, "a JSON frame", |_| true).await
    }

    /// The next frame whose `type` is `kind`, skipping others; panics when none comes within
    /// [`FRAME_TIMEOUT`].
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        self.next_of_type_within(kind, FRAME_TIMEOUT).await
    }

    /// [`WsClient::next_of_type`] with a longer wait, for frames that come only after an
    /// outage; the socket keeps answering pings meanwhile.
    pub async fn next_of_type_within(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        let what = format!("a {kind:?} frame");
        self.next_matching(deadline, &what, |frame| frame["type"] == kind)
            .await
    }

    async fn next_matching(
        &mut self,
        deadline: tokio::time::Instant,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut skipped = Vec::new();
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} in time; skipped meanwhile: {skipped:?}"))
                .unwrap_or_else(|| panic!("the connection ended while waiting for {what}"))
                .unwrap_or_else(|e| panic!("unreadable frame while waiting for {what}: {e}"));
            match message {
                Message::Text(text) => {
                    let frame: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("not a JSON frame ({e}): {text}"));
                    if wanted(&frame) {
                        return frame;
                    }
                    skipped.push(frame["type"].clone());
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                Message::Binary(_) => panic!("unexpected binary frame while waiting for {what}"),
                Message::Close(close) => {
                    panic!("closed by the server while waiting for {what}: {close:?}")
                }
            }
        }
    }

    /// Reads until the server closes; returns the close code (`None` when the connection
    /// ended without a close frame). Panics if it stays open past the timeout.
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("the server closes the connection within the timeout");
            match next {
                Some(Ok(Message::Close(close))) => return close.map(|c| u16::from(c.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Closes from the client side (giving up after [`FRAME_TIMEOUT`]).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(FRAME_TIMEOUT, self.stream.close(None)).await;
    }
}
