//! `attachments`: what was uploaded, by whom, to which room (the bytes are in the object
//! store).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::attachments;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments)]
pub struct AttachmentRow {
    pub id: Uuid,
    pub room_id: Uuid,
    pub uploader_id: Uuid,
    pub content_type: String,
    pub size_bytes: i64,
    pub file_name: String,
    pub message_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &AttachmentRow) -> QueryResult<()> {
    diesel::insert_into(attachments::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    id: Uuid,
) -> QueryResult<Option<AttachmentRow>> {
    attachments::table
        .filter(attachments::room_id.eq(room))
        .filter(attachments::id.eq(id))
        .select(AttachmentRow::as_select())
        .first(conn)
        .await
        .optional()
}
