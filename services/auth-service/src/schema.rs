//! Diesel table definitions of auth-service's own tables (see `migrations/`).

diesel::table! {
    credentials (user_id) {
        user_id -> Uuid,
        email -> Text,
        password_hash -> Text,
        roles -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        disabled_at -> Nullable<Timestamptz>,
    }
}
