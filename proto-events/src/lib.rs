//! Marquee's event contracts.
//!
//! Every event that crosses a service boundary is a protobuf message defined under `proto/`
//! and published on a versioned Kafka topic. This crate is the single place that says, for
//! each message, which topic it travels on ([`Event::TOPIC`]), which CloudEvents `ce_type` it
//! carries ([`Event::CE_TYPE`]) and which aggregate id keys it ([`Event::key`]) — the key
//! decides the partition, so per-aggregate order is the partition's order.
//!
//! Evolution rules: add fields, never renumber or retype one. `schema.lock` pins the field
//! numbers and types of every published message and a test fails on an incompatible edit; a
//! breaking change is a new package and topic (`users.v2`).

/// Generated types for `marquee.users.v1`.
pub mod users {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/marquee.users.v1.rs"));
    }
}

/// Generated types for `marquee.sessions.v1`.
pub mod sessions {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/marquee.sessions.v1.rs"));
    }
}

/// Generated types for `marquee.chat.v1`.
pub mod chat {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/marquee.chat.v1.rs"));
    }
}

/// Generated types for `marquee.movies.v1`.
pub mod movies {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/marquee.movies.v1.rs"));
    }
}

/// The encoded `FileDescriptorSet` of every message in this crate, for tools that need the
/// schema at run time (schema registries, the compatibility test).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/marquee_descriptor.bin"));

/// Logical topic names. A deployment may put a prefix in front of them
/// (`KAFKA_TOPIC_PREFIX`); the relay and consumers apply it, the contracts never do.
pub mod topics {
    /// Account and profile lifecycle: `UserCreated`, `UserUpdated`, `UserDeleted`.
    pub const USERS_V1: &str = "users.v1";
    /// Session revocations.
    pub const SESSIONS_V1: &str = "sessions.v1";
    /// Chat messages, consumed by every chat instance for fan-out.
    pub const CHAT_MESSAGES_V1: &str = "chat.messages.v1";
    /// Watchlist changes.
    pub const MOVIES_V1: &str = "movies.v1";

    /// Every topic the platform publishes on, for whoever creates topics.
    pub const ALL: [&str; 4] = [USERS_V1, SESSIONS_V1, CHAT_MESSAGES_V1, MOVIES_V1];

    /// The dead-letter topic of a consumer group reading `topic`.
    pub fn dead_letter(topic: &str, group: &str) -> String {
        format!("{topic}.{group}.dlq")
    }
}

/// The CloudEvents `ce_specversion` every Marquee event carries.
pub const CE_SPEC_VERSION: &str = "1.0";

/// The CloudEvents `content-type` of every Marquee event value.
pub const CONTENT_TYPE: &str = "application/protobuf";

/// A message that is published as an event.
pub trait Event: prost::Message + Default {
    /// Logical topic (see [`topics`]).
    const TOPIC: &'static str;
    /// CloudEvents `ce_type`: `marquee.<package>.<Message>`.
    const CE_TYPE: &'static str;
    /// The aggregate id that keys the record and so picks its partition.
    fn key(&self) -> &str;
}

macro_rules! event {
    ($ty:ty, $topic:expr, $ce_type:literal, $key:ident) => {
        impl Event for $ty {
            const TOPIC: &'static str = $topic;
            const CE_TYPE: &'static str = $ce_type;
            fn key(&self) -> &str {
                &self.$key
            }
        }
    };
}

event!(
    users::v1::UserCreated,
    topics::USERS_V1,
    "marquee.users.v1.UserCreated",
    user_id
);
event!(
    users::v1::UserUpdated,
    topics::USERS_V1,
    "marquee.users.v1.UserUpdated",
    user_id
);
event!(
    users::v1::UserDeleted,
    topics::USERS_V1,
    "marquee.users.v1.UserDeleted",
    user_id
);
event!(
    sessions::v1::SessionRevoked,
    topics::SESSIONS_V1,
    "marquee.sessions.v1.SessionRevoked",
    user_id
);
event!(
    chat::v1::MessageSent,
    topics::CHAT_MESSAGES_V1,
    "marquee.chat.v1.MessageSent",
    room_id
);
event!(
    movies::v1::WatchlistChanged,
    topics::MOVIES_V1,
    "marquee.movies.v1.WatchlistChanged",
    user_id
);

/// `(ce_type, topic)` of every published message, for tests and tooling.
pub const PUBLISHED: [(&str, &str); 6] = [
    (
        users::v1::UserCreated::CE_TYPE,
        users::v1::UserCreated::TOPIC,
    ),
    (
        users::v1::UserUpdated::CE_TYPE,
        users::v1::UserUpdated::TOPIC,
    ),
    (
        users::v1::UserDeleted::CE_TYPE,
        users::v1::UserDeleted::TOPIC,
    ),
    (
        sessions::v1::SessionRevoked::CE_TYPE,
        sessions::v1::SessionRevoked::TOPIC,
    ),
    (chat::v1::MessageSent::CE_TYPE, chat::v1::MessageSent::TOPIC),
    (
        movies::v1::WatchlistChanged::CE_TYPE,
        movies::v1::WatchlistChanged::TOPIC,
    ),
];
