//! Diesel table definitions of chat-service's own tables (see `migrations/`).

diesel::table! {
    rooms (id) {
        id -> Uuid,
        name -> Text,
        name_key -> Text,
        topic -> Text,
        visibility -> Text,
        created_by -> Uuid,
        created_at -> Timestamptz,
        last_seq -> Int8,
    }
}

diesel::table! {
    room_members (room_id, user_id) {
        room_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        joined_at -> Timestamptz,
        last_read_seq -> Int8,
    }
}

diesel::table! {
    messages (room_id, seq) {
        room_id -> Uuid,
        seq -> Int8,
        id -> Uuid,
        sender_id -> Uuid,
        client_msg_id -> Text,
        body -> Text,
        attachment_ids -> Array<Uuid>,
        sent_at -> Timestamptz,
    }
}

diesel::table! {
    attachments (id) {
        id -> Uuid,
        room_id -> Uuid,
        uploader_id -> Uuid,
        content_type -> Text,
        size_bytes -> Int8,
        file_name -> Text,
        message_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    directory (user_id) {
        user_id -> Uuid,
        display_name -> Text,
        version -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(room_members -> rooms (room_id));
diesel::joinable!(messages -> rooms (room_id));
diesel::joinable!(attachments -> rooms (room_id));

diesel::allow_tables_to_appear_in_same_query!(
    rooms,
    room_members,
    messages,
    attachments,
    directory
);
