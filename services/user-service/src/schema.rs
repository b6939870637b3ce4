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

diesel::table! {
    profile_tombstones (id) {
        id -> Uuid,
        deleted_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(profiles, profile_tombstones);
