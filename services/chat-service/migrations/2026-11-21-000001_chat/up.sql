-- Chat rooms. `last_seq` is the newest message's position: a sender increments it in the same
-- transaction that stores the message, so the row lock orders a room's senders and a rollback
-- leaves no gap.
CREATE TABLE rooms (
    id         UUID        PRIMARY KEY,
    name       TEXT        NOT NULL,
    -- Lower-cased name for prefix search; "C" collation so one b-tree serves both
    -- `LIKE 'prefix%'` and the keyset ORDER BY.
    name_key   TEXT        COLLATE "C" NOT NULL,
    topic      TEXT        NOT NULL DEFAULT '',
    visibility TEXT        NOT NULL CHECK (visibility IN ('public', 'private')),
    created_by UUID        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seq   BIGINT      NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

CREATE INDEX rooms_by_name ON rooms (name_key, id);

-- Who belongs to a room. `last_read_seq` is how far the member has read (unread counts).
CREATE TABLE room_members (
    room_id       UUID        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       UUID        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('owner', 'member')),
    joined_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_read_seq BIGINT      NOT NULL DEFAULT 0 CHECK (last_read_seq >= 0),
    PRIMARY KEY (room_id, user_id)
);

-- "My rooms" and "which rooms is this user in".
CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

-- Messages, keyed by their gap-free position in the room. A sender's retry of the same
-- client_msg_id in a room finds the original instead of storing a second copy.
CREATE TABLE messages (
    room_id        UUID        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq            BIGINT      NOT NULL CHECK (seq > 0),
    id             UUID        NOT NULL UNIQUE,
    sender_id      UUID        NOT NULL,
    client_msg_id  TEXT        NOT NULL,
    body           TEXT        NOT NULL,
    attachment_ids UUID[]      NOT NULL DEFAULT '{}',
    sent_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, seq),
    UNIQUE (room_id, sender_id, client_msg_id)
);

-- Uploaded files (the bytes live in the object store under rooms/<room_id>/<id>).
-- `message_id` is set when a message references the attachment; each is used at most once.
CREATE TABLE attachments (
    id           UUID        PRIMARY KEY,
    room_id      UUID        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    uploader_id  UUID        NOT NULL,
    content_type TEXT        NOT NULL,
    size_bytes   BIGINT      NOT NULL CHECK (size_bytes > 0),
    file_name    TEXT        NOT NULL,
    message_id   UUID,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX attachments_by_room ON attachments (room_id, id);

-- Read model of users.v1: the display names messages show.
CREATE TABLE directory (
    user_id      UUID        PRIMARY KEY,
    display_name TEXT        NOT NULL,
    -- user-service's profile version; older updates are ignored.
    version      BIGINT      NOT NULL DEFAULT 0,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
