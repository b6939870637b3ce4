-- Prefix search for the admin listing (`GET /v1/users?q=`): ranges on the lower-cased e-mail
-- and display name in byte order ("C"), so `q` is one index range scan on each column.
CREATE INDEX profiles_email_prefix ON profiles ((lower(email) COLLATE "C"));
CREATE INDEX profiles_display_name_prefix ON profiles ((lower(display_name) COLLATE "C"));

-- Ids of deleted profiles: a replayed or late UserCreated must not bring a profile back.
-- Holds no personal data.
CREATE TABLE profile_tombstones (
    id          UUID        PRIMARY KEY,
    deleted_at  TIMESTAMPTZ NOT NULL
);
