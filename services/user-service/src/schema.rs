//! Diesel table definitions of user-service's own tables (see `migrations/`).

diesel::table! {
    profiles (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        bio -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        locale -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}
