//! Diesel table definitions of the event backbone's own tables (`migrations/`), the same in
//! every service database.

diesel::table! {
    outbox (id) {
        id -> Int8,
        event_id -> Uuid,
        topic -> Text,
        record_key -> Text,
        ce_type -> Text,
        payload -> Bytea,
        trace_headers -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    inbox (consumer_group, event_id) {
        consumer_group -> Text,
        event_id -> Uuid,
        ce_type -> Text,
        topic -> Text,
        processed_at -> Timestamptz,
    }
}
