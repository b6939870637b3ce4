//! This instance's WebSocket connections and who should hear what.
//!
//! The hub never waits: every connection has a bounded queue ([`Outbound`] frames) drained by
//! its own task, and the hub only `try_send`s into it. Message frames are serialised once per
//! message and shared by every recipient.
//!
//! A full queue is a burst (the backlog of an outage arriving at once), not yet a client that
//! cannot keep up, so what does not fit is paced rather than lost or punished ([`Missed`]):
//! - a `message` of an open room is remembered as "caught up from history through this
//!   `seq`": the connection's task reads it from the database at its client's pace;
//! - a `notification` is remembered as the newest of its room, sent once there is room;
//! - `typing` and `presence` frames are dropped (the next one supersedes them);
//! - anything else (`left`) cannot be replayed: that connection is closed
//!   ([`Closing::SlowConsumer`]).
//!
//! A client that truly does not read is found by its own task, whose writes then block: one
//! that takes longer than `CHAT_WRITE_TIMEOUT` closes the connection (4008), and everyone
//! else's delivery goes on.
//!
//! Indexes: which connections have a room open (they get `message` frames), which belong to
//! a member of a room (the others of those get `notification` frames), and which belong to a
//! user and to a session (for membership changes and revocations).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use bytestring::ByteString;
use marquee_common::http::metrics::Metrics;
use prometheus::{IntCounterVec, IntGauge, Opts};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    model::ChatMessage,
    protocol::{Closing, Departure, ServerFrame},
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
    /// A notification of a message in a room that is not open here.
    Notification {
        room_id: Uuid,
        seq: u64,
        frame: ByteString,
    },
    /// Any other frame, ready to send.
    Frame(ByteString),
}

/// What a connection missed while its queue was full, per room (see the module docs).
#[derive(Debug, Default)]
pub struct Missed {
    rooms: Mutex<HashMap<Uuid, MissedInRoom>>,
    /// Woken when something is missed: the connection catches up once its queue has room.
    pub wake: Notify,
}

/// What one room missed.
#[derive(Debug, Default, Clone)]
pub struct MissedInRoom {
    /// Messages of the open room up to this `seq` are to be read from history.
    pub messages_through: Option<u64>,
    /// The newest notification of the room, with its `seq`.
    pub notification: Option<(u64, ByteString)>,
}

impl Missed {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, MissedInRoom>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn message(&self, room: Uuid, seq: u64) {
        let mut rooms = self.lock();
        let through = &mut rooms.entry(room).or_default().messages_through;
        *through = Some(through.map_or(seq, |through| through.max(seq)));
        drop(rooms);
        self.wake.notify_one();
    }

    fn notification(&self, room: Uuid, seq: u64, frame: ByteString) {
        let mut rooms = self.lock();
        let latest = &mut rooms.entry(room).or_default().notification;
        if latest.as_ref().is_none_or(|(newest, _)| seq > *newest) {
            *latest = Some((seq, frame));
        }
        drop(rooms);
        self.wake.notify_one();
    }

    /// Everything missed so far, forgotten here.
    pub fn take(&self) -> HashMap<Uuid, MissedInRoom> {
        std::mem::take(&mut *self.lock())
    }
}

/// A registered connection's end of the hub.
#[derive(Debug)]
pub struct Registration {
    pub id: ConnId,
    pub outbound: mpsc::Receiver<Outbound>,
    /// What did not fit in `outbound`, to catch up on.
    pub missed: Arc<Missed>,
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
    missed: Arc<Missed>,
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
    deferred: IntCounterVec,
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
    /// `chat_connections`, `chat_frames_out_total{kind}`, `chat_frames_deferred_total{kind}`
    /// (did not fit a full queue: caught up later, or dropped when superseded),
    /// `chat_disconnects_total{reason}`.
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
            deferred: IntCounterVec::new(
                Opts::new(
                    "chat_frames_deferred_total",
                    "Frames that did not fit a connection's full queue, by kind: caught up \
                     from history or sent as the room's newest later (message, notification), \
                     or dropped (typing, presence)",
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
        metrics.register(hub_metrics.deferred.clone());
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
        let missed = Arc::new(Missed::default());
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
                missed: Arc::clone(&missed),
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
            missed,
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
                Outbound::Notification {
                    room_id: message.room_id,
                    seq: message.seq,
                    frame: notification.clone(),
                },
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
        let frame = match connection.tx.try_send(frame) {
            Ok(()) => {
                self.metrics.frames.with_label_values(&[kind]).inc();
                return;
            }
            // The task is already gone; it unregisters itself.
            Err(mpsc::error::TrySendError::Closed(_)) => return,
            Err(mpsc::error::TrySendError::Full(frame)) => frame,
        };
        // A burst: pace what can be caught up, drop what is superseded (module docs).
        match frame {
            Outbound::Message { room_id, seq, .. } => connection.missed.message(room_id, seq),
            Outbound::Notification {
                room_id,
                seq,
                frame,
            } => connection.missed.notification(room_id, seq, frame),
            Outbound::Frame(_) if matches!(kind, "typing" | "presence") => {}
            Outbound::Frame(_) => {
                if !connection.kill.is_cancelled() {
                    tracing::info!(user = %connection.user, kind, "closing a connection whose queue is full");
                }
                self.close_connection(connection, Closing::SlowConsumer);
                return;
            }
        }
        self.metrics.deferred.with_label_values(&[kind]).inc();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(room_id: Uuid, seq: u64) -> ChatMessage {
        ChatMessage {
            room_id,
            seq,
            id: Uuid::now_v7(),
            sender: crate::model::Sender {
                id: Uuid::now_v7(),
                display_name: Some("Ada".into()),
            },
            body: format!("message {seq}"),
            attachment_ids: Vec::new(),
            sent_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_burst_beyond_the_queue_is_paced_not_punished() {
        let hub = Hub::new(4, &Metrics::new());
        let shutdown = CancellationToken::new();
        let (user, room, other_room) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let reader = hub.register(user, Uuid::now_v7(), vec![room, other_room], &shutdown);
        hub.open(reader.id, room);
        for seq in 1..=10 {
            hub.deliver(&message(room, seq));
            hub.deliver(&message(other_room, seq));
        }
        assert!(
            !reader.kill.is_cancelled(),
            "a burst does not close the connection"
        );
        let missed = reader.missed.take();
        assert_eq!(missed[&room].messages_through, Some(10));
        assert_eq!(
            missed[&other_room]
                .notification
                .as_ref()
                .map(|(seq, _)| *seq),
            Some(10),
            "only the newest notification of a room is kept"
        );
        // Superseded signals are dropped; a frame that cannot be replayed closes it.
        let typing = ByteString::from_static("{}");
        hub.to_room(room, "typing", &typing, None);
        assert!(!reader.kill.is_cancelled());
        hub.membership_changed(user, room, false);
        assert_eq!(reader.closing(), Some(Closing::SlowConsumer));
    }
}
