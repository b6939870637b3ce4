-- The event backbone every service database carries (shipped by crates/common).
--
-- outbox: events written in the same transaction as the state change they describe; the
-- relay publishes them in id order and deletes each row once the broker has acknowledged it,
-- so the table holds exactly the events not yet published.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    event_id     UUID        NOT NULL UNIQUE,
    topic        TEXT        NOT NULL,
    record_key   TEXT        NOT NULL,
    ce_type      TEXT        NOT NULL,
    payload      BYTEA       NOT NULL,
    -- W3C trace context captured at enqueue time: {"traceparent": "...", "tracestate": "..."}
    trace_headers JSONB      NOT NULL DEFAULT '{}'::jsonb,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Wake the relay as soon as a transaction that enqueued events commits (NOTIFY is delivered
-- at commit, once per channel and payload per transaction).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('marquee_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- inbox: one row per event a consumer group has applied; inserted in the same transaction as
-- the handler's effect, so a redelivered event is recognised and skipped.
CREATE TABLE inbox (
    consumer_group TEXT        NOT NULL,
    event_id       UUID        NOT NULL,
    ce_type        TEXT        NOT NULL,
    topic          TEXT        NOT NULL,
    processed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);

CREATE INDEX inbox_processed_at ON inbox (processed_at);
