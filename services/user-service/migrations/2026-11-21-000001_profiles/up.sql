-- Profiles: created from users.v1 UserCreated, changed through the API by their owners.
CREATE TABLE profiles (
    id              UUID        PRIMARY KEY,
    email           TEXT        NOT NULL,
    display_name    TEXT        NOT NULL,
    bio             TEXT,
    avatar_url      TEXT,
    locale          TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    -- Bumped by every change; the ETag of the profile and the version of UserUpdated.
    version         BIGINT      NOT NULL DEFAULT 1
);
