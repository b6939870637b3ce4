-- Prefix search for the admin listing (`GET /v1/users?q=`): a search page is ordered by the
-- matching text (lower-cased, byte order "C"), then the id, and starts after its cursor, so
-- each page is one short range scan on each of these indexes, however deep it is.
CREATE INDEX profiles_email_prefix ON profiles ((lower(email) COLLATE "C"), id);
CREATE INDEX profiles_display_name_prefix ON profiles ((lower(display_name) COLLATE "C"), id);

-- Ids of deleted profiles: a replayed or late UserCreated must not bring a profile back.
-- Holds no personal data.
CREATE TABLE profile_tombstones (
    id          UUID        PRIMARY KEY,
    deleted_at  TIMESTAMPTZ NOT NULL
);
