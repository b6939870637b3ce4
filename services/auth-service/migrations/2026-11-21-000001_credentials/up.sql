-- Accounts: what auth-service needs to authenticate a user. Profiles live in user-service.
-- Sessions, refresh-token state and sign-in throttles live in Redis (see src/store/).
CREATE TABLE credentials (
    user_id         UUID        PRIMARY KEY,
    -- Normalised (trimmed, lower-cased) e-mail; unique, so sign-in is case-insensitive.
    email           TEXT        NOT NULL,
    password_hash   TEXT        NOT NULL,
    roles           TEXT[]      NOT NULL DEFAULT ARRAY['user'],
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when the user is deleted: the row stays so the e-mail cannot be re-registered by
    -- accident while events about the old account are still in flight.
    disabled_at     TIMESTAMPTZ
);

CREATE UNIQUE INDEX credentials_email ON credentials (email);
