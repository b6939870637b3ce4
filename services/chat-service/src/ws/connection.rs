//! One WebSocket connection, served by its own task.
//!
//! The task owns the socket and reads four sources: the client's frames, the hub's queue for
//! this connection, what did not fit that queue ([`Missed`](crate::hub::Missed): caught up
//! from history at the client's pace), and a heartbeat. Writes that block (a client that
//! does not read) block only this task, and one that takes longer than `CHAT_WRITE_TIMEOUT`
//! closes the connection (4008).
//!
//! Ordering: for every room open on the connection the task remembers the last `seq` it
//! wrote. A message at or below it is a duplicate and is dropped; one above the next
//! expected `seq` means messages are missing (they raced the room's opening, or the fan-out
//! reordered them), and the gap is filled from the database first. So a client sees each
//! open room's messages once, in order, without gaps — after `joined`, and after a
//! `resume`'s replay.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, ProtocolError, Session};
use bytestring::ByteString;
use marquee_common::{auth::AuthUser, shutdown::CancellationToken};
use uuid::Uuid;

use crate::{
    config::ChatConfig,
    domain::Draft,
    error::ChatError,
    history::{Messages, PAGE_MAX},
    hub::{Hub, MissedInRoom, Outbound, Registration},
    model::seq_in,
    presence::Presence,
    protocol::{ClientFrame, Closing, Departure, ServerFrame},
    rooms::Rooms,
    signals::{Signal, Signals},
};

/// How long the server waits for a close frame to be written before dropping the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Typing signals forwarded per room and connection, at most one per this interval.
const TYPING_INTERVAL: Duration = Duration::from_secs(1);
/// One strike is forgiven per this interval.
const STRIKE_FORGIVENESS: Duration = Duration::from_secs(6);

/// What every connection shares.
#[derive(Debug, Clone)]
pub struct SocketContext {
    pub hub: Arc<Hub>,
    pub rooms: Rooms,
    pub messages: Messages,
    pub presence: Presence,
    pub signals: Signals,
    pub config: Arc<ChatConfig>,
    /// The service's shutdown: every connection closes with 1001 when it is cancelled.
    pub shutdown: CancellationToken,
}

/// A token bucket: `capacity` tokens, refilled at `rate` per second.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    rate: f64,
    at: Instant,
}

impl Bucket {
    fn new(capacity: u32, rate: f64) -> Self {
        Self {
            capacity: f64::from(capacity),
            tokens: f64::from(capacity),
            rate,
            at: Instant::now(),
        }
    }

    /// Takes a token; `false` when there is none.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
            .min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why the loop stopped.
enum Stop {
    /// The server closes, for this reason.
    Close(Closing),
    /// The client went away: nothing more to say.
    Gone(Departure),
}

/// Serves one authenticated connection until either side ends it.
pub async fn serve(
    ctx: SocketContext,
    user: AuthUser,
    session: Session,
    stream: AggregatedMessageStream,
) {
    let (member_of, display_name) = match Box::pin(ctx.rooms.profile(user.id)).await {
        Ok(profile) => profile,
        Err(error) => {
            tracing::warn!(%error, "cannot set up a chat connection");
            let reason = actix_ws::CloseReason {
                code: actix_ws::CloseCode::Again,
                description: Some("try again later".into()),
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.close(Some(reason))).await;
            return;
        }
    };
    let mut registration = ctx
        .hub
        .register(user.id, user.session_id, member_of, &ctx.shutdown);
    let mut connection = Connection {
        connection_id: registration.id,
        sends: Bucket::new(ctx.config.send_burst, ctx.config.send_rate),
        strikes: Bucket::new(
            ctx.config.max_strikes,
            1.0 / STRIKE_FORGIVENESS.as_secs_f64(),
        ),
        ctx,
        user,
        display_name,
        session,
        kill: registration.kill.clone(),
        open: HashMap::new(),
        typed: HashMap::new(),
        last_heard: Instant::now(),
    };
    let stop = connection.run(&mut registration, stream).await;
    Box::pin(connection.finish(&registration, stop)).await;
}

struct Connection {
    connection_id: u64,
    ctx: SocketContext,
    user: AuthUser,
    display_name: Option<String>,
    session: Session,
    kill: CancellationToken,
    /// Rooms open here → the last `seq` written.
    open: HashMap<Uuid, u64>,
    /// Rooms → when a typing signal was last forwarded.
    typed: HashMap<Uuid, Instant>,
    sends: Bucket,
    strikes: Bucket,
    last_heard: Instant,
}

impl Connection {
    /// Each step's future is boxed: the steps (a send's transaction, a catch-up from
    /// history) are large state machines that run for a moment, while this loop lives as long
    /// as the socket — inline, their size would sit in every idle connection's task (9.6 KB
    /// a socket by heaptrack before they were boxed).
    async fn run(
        &mut self,
        registration: &mut Registration,
        mut stream: AggregatedMessageStream,
    ) -> Stop {
        let mut heartbeat = tokio::time::interval(self.ctx.config.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        loop {
            let step = tokio::select! {
                () = registration.kill.cancelled() => {
                    Err(Stop::Close(registration.closing().unwrap_or(Closing::GoingAway)))
                }
                outbound = registration.outbound.recv() => match outbound {
                    Some(outbound) => Box::pin(self.outbound(outbound)).await,
                    None => Err(Stop::Close(Closing::GoingAway)),
                },
                () = registration.missed.wake.notified() => {
                    Box::pin(self.catch_up_missed(registration.missed.take())).await
                }
                frame = stream.recv() => Box::pin(self.inbound(frame)).await,
                _ = heartbeat.tick() => Box::pin(self.heartbeat()).await,
            };
            if let Err(stop) = step {
                // A kill that raced the step wins: it carries the real reason.
                if let Some(why) = registration.closing() {
                    return Stop::Close(why);
                }
                return stop;
            }
        }
    }

    /// Closes the socket (politely, if it still reads) and forgets the connection.
    async fn finish(self, registration: &Registration, stop: Stop) {
        let opened = self.ctx.hub.unregister(registration.id);
        for room in opened {
            self.left(room, registration.id).await;
        }
        let reason = match stop {
            Stop::Close(why) => {
                if registration.closing().is_none() {
                    self.ctx.hub.count_close(why);
                }
                Some(why.reason())
            }
            Stop::Gone(how) => {
                self.ctx.hub.count_departure(how);
                None
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.session.clone().close(reason)).await;
    }

    /// Writes `text`; see [`Connection::bounded`].
    async fn write(&mut self, text: ByteString) -> Result<(), Stop> {
        let mut session = self.session.clone();
        self.bounded(session.text(text)).await
    }

    /// Finishes a write to the socket, unless the hub kills the connection first; a client
    /// that has not made room for it within `CHAT_WRITE_TIMEOUT` does not read, and is
    /// closed as too slow.
    async fn bounded(
        &self,
        write: impl Future<Output = Result<(), actix_ws::Closed>>,
    ) -> Result<(), Stop> {
        tokio::select! {
            written = tokio::time::timeout(self.ctx.config.write_timeout, write) => match written {
                Ok(written) => written.map_err(|_| Stop::Gone(Departure::Lost)),
                Err(_) => {
                    tracing::info!(user = %self.user.id, "closing a connection that does not read");
                    Err(Stop::Close(Closing::SlowConsumer))
                }
            },
            () = self.kill.cancelled() => Err(Stop::Close(Closing::GoingAway)),
        }
    }

    async fn outbound(&mut self, outbound: Outbound) -> Result<(), Stop> {
        match outbound {
            Outbound::Frame(text) | Outbound::Notification { frame: text, .. } => {
                self.write(text).await
            }
            Outbound::Message {
                room_id,
                seq,
                frame,
            } => {
                let Some(&last) = self.open.get(&room_id) else {
                    return Ok(()); // closed meanwhile
                };
                if seq <= last {
                    return Ok(());
                }
                if seq > last + 1 {
                    self.catch_up(room_id, Some(seq - 1)).await?;
                }
                if self.open.get(&room_id).is_some_and(|&last| seq == last + 1) {
                    self.write(frame).await?;
                    self.open.insert(room_id, seq);
                }
                Ok(())
            }
        }
    }

    /// Delivers what did not fit the queue during a burst: each open room's messages from
    /// history, and each other room's newest notification.
    async fn catch_up_missed(&mut self, missed: HashMap<Uuid, MissedInRoom>) -> Result<(), Stop> {
        for (room, missed) in missed {
            if let Some(through) = missed.messages_through {
                self.catch_up(room, Some(through)).await?;
            }
            if let Some((_, notification)) = missed.notification
                && !self.open.contains_key(&room)
            {
                self.write(notification).await?;
            }
        }
        Ok(())
    }

    /// Writes the room's stored messages after the last one written, up to `through` (or
    /// the newest).
    async fn catch_up(&mut self, room: Uuid, through: Option<u64>) -> Result<(), Stop> {
        loop {
            let Some(&last) = self.open.get(&room) else {
                return Ok(());
            };
            if through.is_some_and(|t| last >= t) {
                return Ok(());
            }
            let batch = match self.ctx.messages.replay(room, last, through).await {
                Ok(batch) => batch,
                Err(error) => {
                    // The client notices the gap by `seq` and can `resume`.
                    tracing::warn!(%error, %room, "cannot fill a gap from history");
                    return Ok(());
                }
            };
            let full = batch.len() == usize::try_from(PAGE_MAX).unwrap_or(usize::MAX);
            for message in &batch {
                self.write(ServerFrame::Message(message).text()).await?;
                self.open.insert(room, message.seq);
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn heartbeat(&mut self) -> Result<(), Stop> {
        if self.last_heard.elapsed() > self.ctx.config.idle_timeout {
            return Err(Stop::Close(Closing::Idle));
        }
        let rooms: Vec<Uuid> = self.open.keys().copied().collect();
        if let Err(error) = self
            .ctx
            .presence
            .enter(&rooms, self.user.id, self.id())
            .await
        {
            tracing::debug!(%error, "presence heartbeat failed");
        }
        let mut session = self.session.clone();
        self.bounded(session.ping(b"")).await
    }

    /// This connection's id (the hub's), also naming its presence entries.
    fn id(&self) -> u64 {
        self.connection_id
    }

    async fn inbound(
        &mut self,
        frame: Option<Result<AggregatedMessage, ProtocolError>>,
    ) -> Result<(), Stop> {
        let frame = match frame {
            // The connection ended without a close frame: dropped, reset, or the client's
            // process died.
            None => return Err(Stop::Gone(Departure::Lost)),
            Some(Err(ProtocolError::Overflow)) => return Err(Stop::Close(Closing::TooBig)),
            Some(Err(ProtocolError::Io(error))) => {
                tracing::debug!(%error, "WebSocket connection broke");
                return Err(Stop::Gone(Departure::Lost));
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "WebSocket protocol violation");
                return Err(Stop::Close(Closing::ProtocolViolation));
            }
            Some(Ok(frame)) => frame,
        };
        self.last_heard = Instant::now();
        match frame {
            AggregatedMessage::Text(text) => self.text(&text).await,
            AggregatedMessage::Binary(_) => {
                self.refuse("unsupported_frame", "frames are JSON text", None, None)
                    .await
            }
            // Like every write, bounded: a client that pings but never reads fills the
            // session and is disconnected as a slow consumer, not waited on.
            AggregatedMessage::Ping(bytes) => {
                let mut session = self.session.clone();
                self.bounded(session.pong(&bytes)).await
            }
            AggregatedMessage::Pong(_) => Ok(()),
            AggregatedMessage::Close(_) => Err(Stop::Gone(Departure::Closed)),
        }
    }

    /// Answers a frame the client should not have sent with an `error` frame, and counts a
    /// strike; too many close the connection.
    async fn refuse(
        &mut self,
        code: &str,
        message: &str,
        room_id: Option<Uuid>,
        client_msg_id: Option<&str>,
    ) -> Result<(), Stop> {
        let frame = ServerFrame::Error {
            code,
            message,
            room_id,
            client_msg_id,
        }
        .text();
        self.write(frame).await?;
        if self.strikes.take() {
            Ok(())
        } else {
            Err(Stop::Close(Closing::Abuse))
        }
    }

    /// Reports a failed operation (not the client's fault, or a rule it could not know).
    async fn fail(
        &mut self,
        error: &ChatError,
        room_id: Option<Uuid>,
        client_msg_id: Option<&str>,
    ) -> Result<(), Stop> {
        let problem = error.problem();
        let mut message = problem.detail().unwrap_or(problem.title()).to_owned();
        for field in problem.errors() {
            message.push_str(&format!("; {}: {}", field.field, field.message));
        }
        let frame = ServerFrame::Error {
            code: problem.code(),
            message: &message,
            room_id,
            client_msg_id,
        }
        .text();
        self.write(frame).await
    }

    async fn text(&mut self, text: &str) -> Result<(), Stop> {
        if text.len() > self.ctx.config.max_frame_bytes {
            let message = format!(
                "frames may be at most {} bytes",
                self.ctx.config.max_frame_bytes
            );
            return self.refuse("frame_too_large", &message, None, None).await;
        }
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(error) => {
                let message = format!("not a valid frame: {error}");
                return self.refuse("bad_frame", &message, None, None).await;
            }
        };
        match frame {
            ClientFrame::Ping => self.write(ServerFrame::Pong.text()).await,
            ClientFrame::Join { room_id } => self.open_room(room_id, None).await,
            ClientFrame::Resume { room_id, after_seq } => {
                self.open_room(room_id, Some(after_seq)).await
            }
            ClientFrame::Leave { room_id } => {
                if self.open.remove(&room_id).is_some() {
                    self.ctx.hub.close_room(self.id(), room_id);
                    self.left(room_id, self.id()).await;
                }
                self.write(ServerFrame::Left { room_id }.text()).await
            }
            ClientFrame::Send {
                room_id,
                client_msg_id,
                body,
                attachment_ids,
            } => {
                self.send(room_id, &client_msg_id, &body, &attachment_ids)
                    .await
            }
            ClientFrame::Typing { room_id } => self.typing(room_id).await,
            ClientFrame::Read { room_id, seq } => {
                match self
                    .ctx
                    .rooms
                    .mark_read(self.user.id, room_id, seq_in(seq))
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(error) => self.fail(&error, Some(room_id), None).await,
                }
            }
        }
    }

    /// `join` (from the newest message on) or `resume` (from `after_seq`).
    async fn open_room(&mut self, room_id: Uuid, after_seq: Option<u64>) -> Result<(), Stop> {
        let room = match self.ctx.rooms.join(self.user.id, room_id).await {
            Ok((room, _)) => room,
            Err(error) => return self.fail(&error, Some(room_id), None).await,
        };
        let start = after_seq.unwrap_or(room.last_seq).min(room.last_seq);
        let already_open = self.open.contains_key(&room_id);
        // Listen first, then read: anything stored meanwhile is either queued or replayed.
        self.ctx.hub.open(self.id(), room_id);
        self.open.insert(room_id, start);
        if !already_open {
            match self
                .ctx
                .presence
                .enter(&[room_id], self.user.id, self.id())
                .await
            {
                Ok(()) => {
                    self.ctx
                        .signals
                        .publish(&Signal::Presence {
                            room_id,
                            user_id: self.user.id,
                            online: true,
                        })
                        .await;
                }
                Err(error) => tracing::warn!(%error, "presence unavailable"),
            }
        }
        let online = self
            .ctx
            .rooms
            .online_unchecked(room_id)
            .await
            .unwrap_or_default();
        self.write(
            ServerFrame::Joined {
                room_id,
                last_seq: start,
                online: &online,
            }
            .text(),
        )
        .await?;
        self.catch_up(room_id, None).await
    }

    /// The connection no longer has `room` open: drop its presence entry and, if that was
    /// the user's last, tell the room.
    async fn left(&self, room_id: Uuid, connection: u64) {
        match self
            .ctx
            .presence
            .leave(room_id, self.user.id, connection)
            .await
        {
            Ok(true) => {
                self.ctx
                    .signals
                    .publish(&Signal::Presence {
                        room_id,
                        user_id: self.user.id,
                        online: false,
                    })
                    .await;
            }
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, "presence unavailable; the entry will expire"),
        }
    }

    async fn send(
        &mut self,
        room_id: Uuid,
        client_msg_id: &str,
        body: &str,
        attachment_ids: &[Uuid],
    ) -> Result<(), Stop> {
        if !self.sends.take() {
            let message = format!(
                "at most {} messages per second (bursts of {})",
                self.ctx.config.send_rate, self.ctx.config.send_burst
            );
            return self
                .refuse("rate_limited", &message, Some(room_id), Some(client_msg_id))
                .await;
        }
        let draft = match Draft::parse(
            client_msg_id,
            body,
            attachment_ids,
            self.ctx.config.max_body_chars,
        ) {
            Ok(draft) => draft,
            Err(invalid) => {
                return self
                    .fail(
                        &ChatError::Invalid(invalid),
                        Some(room_id),
                        Some(client_msg_id),
                    )
                    .await;
            }
        };
        match self.ctx.messages.send(self.user.id, room_id, draft).await {
            Ok(sent) => {
                let ack = ServerFrame::Ack {
                    client_msg_id,
                    room_id,
                    id: sent.message.id,
                    seq: sent.message.seq,
                };
                self.write(ack.text()).await
            }
            Err(error) => self.fail(&error, Some(room_id), Some(client_msg_id)).await,
        }
    }

    async fn typing(&mut self, room_id: Uuid) -> Result<(), Stop> {
        if !self.open.contains_key(&room_id) {
            return self
                .refuse(
                    "room_not_open",
                    "join the room on this connection first",
                    Some(room_id),
                    None,
                )
                .await;
        }
        if self
            .typed
            .get(&room_id)
            .is_some_and(|at| at.elapsed() < TYPING_INTERVAL)
        {
            return Ok(()); // already announced; the indicator lasts longer than this
        }
        self.typed.insert(room_id, Instant::now());
        self.ctx
            .signals
            .publish(&Signal::Typing {
                room_id,
                user_id: self.user.id,
                display_name: self.display_name.clone(),
            })
            .await;
        Ok(())
    }
}
