//! Files attached to messages: uploaded to a room, stored through `object_store` (a local
//! directory by default, any S3-compatible store by configuration), recorded in the
//! `attachments` table, referenced from messages, downloadable by the room's members only.
//!
//! The content type is recognised from the file's first bytes (its magic number), never taken
//! from the client, and must be on the allow-list (`ATTACHMENTS_ALLOWED_TYPES`): a script
//! uploaded as `image/png` is refused, and downloads are served with the recognised type and
//! `X-Content-Type-Options: nosniff`.

mod s3;

use std::{path::PathBuf, sync::Arc};

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use marquee_common::{
    ConfigError, Env,
    config::in_range,
    db::{self, PgPool},
};
use object_store::{
    ObjectStore, ObjectStoreExt as _, local::LocalFileSystem, path::Path, prefix::PrefixStore,
};
use uuid::Uuid;

use crate::{
    error::ChatError,
    model::Attachment,
    rooms,
    store::{self, attachments::AttachmentRow},
};

/// Longest stored file name, in characters.
const FILE_NAME_MAX: usize = 255;

/// Where attachment bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A directory on local disk (created when missing).
    Local(PathBuf),
    /// An S3-compatible bucket, under an optional key prefix. Credentials, region and
    /// endpoint come from the usual `AWS_*` variables (`AWS_ENDPOINT` for R2 or MinIO).
    S3 { bucket: String, prefix: String },
}

/// Attachment settings.
#[derive(Debug, Clone)]
pub struct AttachmentConfig {
    /// `ATTACHMENTS_STORE` (default `data/attachments`): a directory, `file:///abs/dir`, or
    /// `s3://bucket[/prefix]`.
    pub location: StoreLocation,
    /// `ATTACHMENTS_MAX_BYTES` (default 10485760, 10 MiB): largest upload.
    pub max_bytes: usize,
    /// `ATTACHMENTS_ALLOWED_TYPES` (default `image/png,image/jpeg,image/gif,image/webp,application/pdf`):
    /// content types accepted, as recognised from the file's bytes.
    pub allowed_types: Vec<String>,
}

/// Content types accepted by default.
pub const DEFAULT_ALLOWED_TYPES: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
];

impl AttachmentConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let location = parse_location(env.raw("ATTACHMENTS_STORE").unwrap_or("data/attachments"))
            .map_err(|problem| ConfigError::new("ATTACHMENTS_STORE", problem))?;
        let allowed_types = match env.list("ATTACHMENTS_ALLOWED_TYPES") {
            list if list.is_empty() => DEFAULT_ALLOWED_TYPES.map(str::to_owned).to_vec(),
            list => list.into_iter().map(|t| t.to_ascii_lowercase()).collect(),
        };
        Ok(Self {
            location,
            max_bytes: in_range(
                "ATTACHMENTS_MAX_BYTES",
                env.or("ATTACHMENTS_MAX_BYTES", 10 * 1024 * 1024)?,
                1..=1024 * 1024 * 1024,
            )?,
            allowed_types,
        })
    }

    /// A local directory with every other default.
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Self {
            location: StoreLocation::Local(dir.into()),
            max_bytes: 10 * 1024 * 1024,
            allowed_types: DEFAULT_ALLOWED_TYPES.map(str::to_owned).to_vec(),
        }
    }
}

fn parse_location(raw: &str) -> Result<StoreLocation, String> {
    if let Some(rest) = raw.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("s3:// needs a bucket name: s3://bucket[/prefix]".into());
        }
        return Ok(StoreLocation::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        });
    }
    let path = raw.strip_prefix("file://").unwrap_or(raw);
    if path.is_empty() || raw.contains("://") && !raw.starts_with("file://") {
        return Err("must be a directory, file:///dir or s3://bucket[/prefix]".into());
    }
    Ok(StoreLocation::Local(PathBuf::from(path)))
}

/// Opens the configured store.
pub fn open_store(location: &StoreLocation) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    match location {
        StoreLocation::Local(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            })?;
            Ok(Arc::new(LocalFileSystem::new_with_prefix(dir)?))
        }
        StoreLocation::S3 { bucket, prefix } => {
            let store = s3::s3_store(bucket)?;
            if prefix.is_empty() {
                Ok(store)
            } else {
                Ok(Arc::new(PrefixStore::new(store, prefix.as_str())))
            }
        }
    }
}

/// A file name safe to store and to put in `Content-Disposition`: the last path segment,
/// without control characters or quotes, at most [`FILE_NAME_MAX`] characters.
pub fn clean_file_name(raw: Option<&str>) -> String {
    let last = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .take(FILE_NAME_MAX)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

/// An attachment's bytes as they stream from the store.
pub type Content = BoxStream<'static, Result<Bytes, object_store::Error>>;

/// Attachment operations.
#[derive(Clone)]
pub struct Attachments {
    pool: PgPool,
    store: Arc<dyn ObjectStore>,
    config: AttachmentConfig,
}

impl std::fmt::Debug for Attachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachments")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn object_path(room: Uuid, id: Uuid) -> Path {
    Path::from(format!("rooms/{room}/{id}"))
}

impl Attachments {
    pub fn new(pool: PgPool, store: Arc<dyn ObjectStore>, config: AttachmentConfig) -> Self {
        Self {
            pool,
            store,
            config,
        }
    }

    /// The largest upload, in bytes.
    pub fn max_bytes(&self) -> usize {
        self.config.max_bytes
    }

    /// Checks that `user` may upload to `room` (before reading the body).
    pub async fn check_uploader(&self, user: Uuid, room: Uuid) -> Result<(), ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        rooms::as_member(&mut conn, room, user).await.map(|_| ())
    }

    /// Stores `content` uploaded by `user` to `room`.
    pub async fn upload(
        &self,
        user: Uuid,
        room: Uuid,
        file_name: &str,
        content: Bytes,
    ) -> Result<Attachment, ChatError> {
        if content.len() > self.config.max_bytes {
            return Err(ChatError::TooLarge {
                max_bytes: self.config.max_bytes,
            });
        }
        let content_type = infer::get(&content)
            .map_or("application/octet-stream", |kind| kind.mime_type())
            .to_owned();
        if !self.config.allowed_types.contains(&content_type) {
            return Err(ChatError::UnsupportedType(content_type));
        }
        {
            let mut conn = db::connection(&self.pool).await?;
            rooms::as_member(&mut conn, room, user).await?;
        }
        let row = AttachmentRow {
            id: Uuid::now_v7(),
            room_id: room,
            uploader_id: user,
            content_type,
            size_bytes: i64::try_from(content.len()).unwrap_or(i64::MAX),
            file_name: file_name.to_owned(),
            message_id: None,
            created_at: chrono::Utc::now(),
        };
        let path = object_path(room, row.id);
        // No pooled connection is held while the bytes travel (a slow object store would
        // otherwise pin the pool).
        self.store.put(&path, content.into()).await?;
        let mut conn = db::connection(&self.pool).await?;
        if let Err(error) = store::attachments::insert(&mut conn, &row).await {
            // Do not leave bytes nobody can reach; a failure here only costs disk.
            if let Err(cleanup) = self.store.delete(&path).await {
                tracing::warn!(%cleanup, %path, "could not remove an orphaned attachment");
            }
            return Err(error.into());
        }
        Ok(to_model(row))
    }

    /// The attachment and its bytes, for a member of its room.
    pub async fn download(
        &self,
        user: Uuid,
        room: Uuid,
        id: Uuid,
    ) -> Result<(Attachment, Content), ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        rooms::as_member(&mut conn, room, user).await?;
        let row = store::attachments::find(&mut conn, room, id)
            .await?
            .ok_or(ChatError::AttachmentNotFound)?;
        drop(conn);
        let content = self
            .store
            .get(&object_path(room, id))
            .await
            .map_err(|error| match error {
                object_store::Error::NotFound { .. } => ChatError::AttachmentNotFound,
                other => ChatError::Storage(other),
            })?
            .into_stream()
            .boxed();
        Ok((to_model(row), content))
    }
}

fn to_model(row: AttachmentRow) -> Attachment {
    Attachment {
        id: row.id,
        room_id: row.room_id,
        content_type: row.content_type,
        size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
        file_name: row.file_name,
        created_at: row.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_locations_parse() {
        assert_eq!(
            parse_location("s3://bucket/chat/attachments/"),
            Ok(StoreLocation::S3 {
                bucket: "bucket".into(),
                prefix: "chat/attachments".into()
            })
        );
        assert_eq!(
            parse_location("file:///var/lib/chat"),
            Ok(StoreLocation::Local("/var/lib/chat".into()))
        );
        assert_eq!(
            parse_location("data/attachments"),
            Ok(StoreLocation::Local("data/attachments".into()))
        );
        assert!(parse_location("s3://").is_err());
        assert!(parse_location("gs://bucket").is_err());
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_file_name(Some("C:\\Users\\me\\cat.png")), "cat.png");
        assert_eq!(clean_file_name(Some("a\"b;c\n.png")), "abc.png");
        assert_eq!(clean_file_name(Some(".hidden")), "hidden");
        assert_eq!(clean_file_name(None), "attachment");
        assert_eq!(clean_file_name(Some(&"x".repeat(300))).len(), 255);
    }
}
