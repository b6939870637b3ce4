//! This instance's WebSocket connections and who should hear what.
//!
//! The hub never waits: every connection has a bounded queue ([`Outbound`] frames) drained by
//! its own task, and the hub only `try_send`s into it. A queue that is full means the client
//! cannot keep up; that connection alone is closed ([`Closing::SlowConsumer`]) and everyone
//! else's delivery goes on. Message frames are serialised once per message and shared by
//! every recipient.
//!
//! Indexes: which connections have a room open (they get `message` frames), which belong to
//! a member of a room (the others of those get `notification` frames), and which belong to a
//! user and to a session (for membership changes and revocations).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use bytestring::ByteString;
use marquee_common::http::metrics::Metrics;
use prometheus::{IntCounterVec, IntGauge, Opts};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    model::ChatMessage,
    ws::protocol::{Closing, Departure, ServerFrame},
};

/// Identifies a connection within this instance.
pub type ConnId = u64;

/// Longest notification preview, in characters.
const PREVIEW_CHARS: usize = 100;

/// What the hub hands a connection's task.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A message of an open room; the task checks `seq` against what it delivered.
    Message {
        room_id: Uuid,
        seq: u64,
        frame: ByteString,
    },
    /// Any other frame, ready to send.
    Frame(ByteString),
}

/// A registered connection's end of the hub.
#[derive(Debug)]
pub struct Registration {
    pub id: ConnId,
    pub outbound: mpsc::Receiver<Outbound>,
    /// Cancelled when the hub closes the connection; [`Registration::closing`] says why.
    pub kill: CancellationToken,
    reason: Arc<OnceLock<Closing>>,
}

impl Registration {
    /// Why the hub closed the connection (once `kill` is cancelled).
    pub fn closing(&self) -> Option<Closing> {
        self.reason.get().copied()
    }
}

struct Connection {
    user: Uuid,
    session: Uuid,
    tx: mpsc::Sender<Outbound>,
    kill: CancellationToken,
    reason: Arc<OnceLock<Closing>>,
    /// Rooms the user is a member of (notifications).
    member_of: HashSet<Uuid>,
    /// Rooms open on this connection (messages).
    open: HashSet<Uuid>,
}

impl Connection {
    fn close(&self, why: Closing) {
        let _ = self.reason.set(why);
        self.kill.cancel();
    }
}

#[derive(Default)]
struct State {
    connections: HashMap<ConnId, Connection>,
    open_in: HashMap<Uuid, HashSet<ConnId>>,
    members_in: HashMap<Uuid, HashSet<ConnId>>,
    by_user: HashMap<Uuid, HashSet<ConnId>>,
    by_session: HashMap<Uuid, HashSet<ConnId>>,
}

fn index_add(index: &mut HashMap<Uuid, HashSet<ConnId>>, key: Uuid, id: ConnId) {
    index.entry(key).or_default().insert(id);
}

fn index_remove(index: &mut HashMap<Uuid, HashSet<ConnId>>, key: Uuid, id: ConnId) {
    if let Some(ids) = index.get_mut(&key) {
        ids.remove(&id);
        if ids.is_empty() {
            index.remove(&key);
        }
    }
}

#[derive(Clone)]
struct HubMetrics {
    connections: IntGauge,
    frames: IntCounterVec,
    disconnects: IntCounterVec,
}

/// The connections of this instance. Cheap to share (`Arc`).
pub struct Hub {
    state: RwLock<State>,
    next_id: AtomicU64,
    queue: usize,
    metrics: HubMetrics,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub whose connections queue at most `queue` frames. Metrics:
    /// `chat_connections`, `chat_frames_out_total{kind}`, `chat_disconnects_total{reason}`.
    pub fn new(queue: usize, metrics: &Metrics) -> Self {
        let hub_metrics = HubMetrics {
            connections: IntGauge::new("chat_connections", "Open WebSocket connections")
                .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            frames: IntCounterVec::new(
                Opts::new(
                    "chat_frames_out_total",
                    "Frames queued for sockets, by kind",
                ),
                &["kind"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            disconnects: IntCounterVec::new(
                Opts::new(
                    "chat_disconnects_total",
                    "Connections ended, by reason (the server closed them, or the client left)",
                ),
                &["reason"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
        };
        metrics.register(hub_metrics.connections.clone());
        metrics.register(hub_metrics.frames.clone());
        metrics.register(hub_metrics.disconnects.clone());
        Self {
            state: RwLock::new(State::default()),
            next_id: AtomicU64::new(1),
            queue,
            metrics: hub_metrics,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection of `user`'s `session`, a member of `rooms`. `parent` cancelled
    /// (shutdown) cancels its `kill` too.
    pub fn register(
        &self,
        user: Uuid,
        session: Uuid,
        rooms: Vec<Uuid>,
        parent: &CancellationToken,
    ) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, outbound) = mpsc::channel(self.queue);
        let kill = parent.child_token();
        let reason = Arc::new(OnceLock::new());
        let mut state = self.write();
        for room in &rooms {
            index_add(&mut state.members_in, *room, id);
        }
        index_add(&mut state.by_user, user, id);
        index_add(&mut state.by_session, session, id);
        state.connections.insert(
            id,
            Connection {
                user,
                session,
                tx,
                kill: kill.clone(),
                reason: Arc::clone(&reason),
                member_of: rooms.into_iter().collect(),
                open: HashSet::new(),
            },
        );
        self.metrics.connections.set(gauge(state.connections.len()));
        Registration {
            id,
            outbound,
            kill,
            reason,
        }
    }

    /// Removes a connection; returns the rooms it had open.
    pub fn unregister(&self, id: ConnId) -> Vec<Uuid> {
        let mut state = self.write();
        let Some(connection) = state.connections.remove(&id) else {
            return Vec::new();
        };
        for room in &connection.member_of {
            index_remove(&mut state.members_in, *room, id);
        }
        for room in &connection.open {
            index_remove(&mut state.open_in, *room, id);
        }
        index_remove(&mut state.by_user, connection.user, id);
        index_remove(&mut state.by_session, connection.session, id);
        self.metrics.connections.set(gauge(state.connections.len()));
        connection.open.into_iter().collect()
    }

    /// The room is open on connection `id` (its member now, too).
    pub fn open(&self, id: ConnId, room: Uuid) {
        let mut state = self.write();
        let Some(connection) = state.connections.get_mut(&id) else {
            return;
        };
        connection.open.insert(room);
        connection.member_of.insert(room);
        index_add(&mut state.open_in, room, id);
        index_add(&mut state.members_in, room, id);
    }

    /// The room is no longer open on connection `id`.
    pub fn close_room(&self, id: ConnId, room: Uuid) {
        let mut state = self.write();
        if let Some(connection) = state.connections.get_mut(&id) {
            connection.open.remove(&room);
        }
        index_remove(&mut state.open_in, room, id);
    }

    /// Every room open on some connection of this instance (presence upkeep).
    pub fn open_rooms(&self) -> Vec<Uuid> {
        self.read().open_in.keys().copied().collect()
    }

    /// Hands a stored message to the connections that have its room open, and a
    /// notification to the other connections of its members.
    pub fn deliver(&self, message: &ChatMessage) {
        let state = self.read();
        let open = state.open_in.get(&message.room_id);
        if let Some(open) = open {
            let frame = ServerFrame::Message(message).text();
            for id in open {
                self.push(
                    &state,
                    *id,
                    "message",
                    Outbound::Message {
                        room_id: message.room_id,
                        seq: message.seq,
                        frame: frame.clone(),
                    },
                );
            }
        }
        let Some(members) = state.members_in.get(&message.room_id) else {
            return;
        };
        let mut notified = members
            .iter()
            .filter(|id| open.is_none_or(|o| !o.contains(id)))
            .peekable();
        if notified.peek().is_none() {
            return;
        }
        // Built only when some member does not have the room open.
        let preview: String = message.body.chars().take(PREVIEW_CHARS).collect();
        let notification = ServerFrame::Notification {
            room_id: message.room_id,
            seq: message.seq,
            sender: &message.sender,
            preview: &preview,
        }
        .text();
        for id in notified {
            self.push(
                &state,
                *id,
                "notification",
                Outbound::Frame(notification.clone()),
            );
        }
    }

    /// Sends `frame` to the connections that have `room` open, except `user`'s own.
    pub fn to_room(
        &self,
        room: Uuid,
        kind: &'static str,
        frame: &ByteString,
        except: Option<Uuid>,
    ) {
        let state = self.read();
        let Some(open) = state.open_in.get(&room) else {
            return;
        };
        for id in open {
            let is_excepted = state
                .connections
                .get(id)
                .is_some_and(|c| Some(c.user) == except);
            if !is_excepted {
                self.push(&state, *id, kind, Outbound::Frame(frame.clone()));
            }
        }
    }

    /// `user` joined or left `room` (somewhere): their connections here start or stop
    /// getting its notifications; a connection that had it open closes it.
    pub fn membership_changed(&self, user: Uuid, room: Uuid, member: bool) {
        let mut state = self.write();
        let ids: Vec<ConnId> = state
            .by_user
            .get(&user)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        for id in ids {
            let was_open = match state.connections.get_mut(&id) {
                Some(connection) if member => {
                    connection.member_of.insert(room);
                    false
                }
                Some(connection) => {
                    connection.member_of.remove(&room);
                    connection.open.remove(&room)
                }
                None => continue,
            };
            if member {
                index_add(&mut state.members_in, room, id);
            } else {
                index_remove(&mut state.members_in, room, id);
                if was_open {
                    index_remove(&mut state.open_in, room, id);
                    let left = ServerFrame::Left { room_id: room }.text();
                    self.push(&state, id, "left", Outbound::Frame(left));
                }
            }
        }
    }

    /// Closes every connection of a revoked session.
    pub fn close_session(&self, session: Uuid) -> usize {
        let state = self.read();
        let Some(ids) = state.by_session.get(&session) else {
            return 0;
        };
        for id in ids {
            if let Some(connection) = state.connections.get(id) {
                self.close_connection(connection, Closing::SessionEnded);
            }
        }
        ids.len()
    }

    /// Counts a close the connection's own task decided (idle, abuse, too big).
    pub fn count_close(&self, why: Closing) {
        self.metrics
            .disconnects
            .with_label_values(&[label(why)])
            .inc();
    }

    /// Counts a client that left by itself: `client_closed` or `connection_lost`.
    pub fn count_departure(&self, how: Departure) {
        let reason = match how {
            Departure::Closed => "client_closed",
            Departure::Lost => "connection_lost",
        };
        self.metrics.disconnects.with_label_values(&[reason]).inc();
    }

    fn close_connection(&self, connection: &Connection, why: Closing) {
        if !connection.kill.is_cancelled() {
            self.count_close(why);
        }
        connection.close(why);
    }

    fn push(&self, state: &State, id: ConnId, kind: &'static str, frame: Outbound) {
        let Some(connection) = state.connections.get(&id) else {
            return;
        };
        match connection.tx.try_send(frame) {
            Ok(()) => self.metrics.frames.with_label_values(&[kind]).inc(),
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !connection.kill.is_cancelled() {
                    tracing::info!(user = %connection.user, "closing a connection that cannot keep up");
                }
                self.close_connection(connection, Closing::SlowConsumer);
            }
            // The task is already gone; it unregisters itself.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// The `reason` label of `chat_disconnects_total` (docs/chat.md lists them).
fn label(why: Closing) -> &'static str {
    match why {
        Closing::GoingAway => "server_shutdown",
        Closing::SessionEnded => "session_ended",
        Closing::SlowConsumer => "slow_consumer",
        Closing::Abuse => "abuse",
        Closing::ProtocolViolation => "protocol_violation",
        Closing::Idle => "idle",
        Closing::TooBig => "too_big",
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
