//! `user-service import --file users.csv`: bulk-loads profiles (fixtures, migrations from
//! another system, the 1 M-user benchmark).
//!
//! The CSV has a header row. `email` and `display_name` are required columns; `id` (a UUID,
//! generated as UUIDv7 when absent or empty), `bio`, `avatar_url`, `locale` and `created_at`
//! (RFC 3339, default now) are optional. Every value goes through the same validation as the
//! API; the first invalid row stops the import with its line number, and nothing is written.
//!
//! How: a reader thread parses and validates rows and streams them, already in COPY's text
//! format, into `COPY … FROM STDIN` of a temporary table; one `INSERT … SELECT` then moves them
//! into `profiles`, skipping ids that exist or were deleted and e-mail addresses that are taken
//! (one profile per address; within the file, the smallest id wins). Everything is one
//! transaction: an interrupted import leaves no trace, and re-running one changes nothing.
//! Memory stays flat whatever the file's size.
//!
//! Events: none by default (an import is not a change users made). With `--emit-events`, every
//! imported profile gets a `UserUpdated` carrying all its fields at version 1, in the same
//! transaction (also by COPY), for services that keep their own copy of user data.

use std::{
    collections::HashMap,
    fmt::Write as _,
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
    time::SystemTime,
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::SinkExt;
use marquee_common::{
    domain::{DisplayName, Email},
    kafka::outbox::NewOutboxEvent,
};
use marquee_proto_events::users::v1::UserUpdated;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::domain::{AvatarUrl, Bio, Invalid, Locale};

/// Rows per chunk sent to COPY (and per progress report granularity).
const CHUNK_ROWS: usize = 2_000;
/// Profiles turned into events per round trip with `--emit-events`.
const EVENT_BATCH: i64 = 10_000;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub file: PathBuf,
    /// Enqueue a `UserUpdated` for every imported profile.
    pub emit_events: bool,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows in the file.
    pub read: u64,
    /// Profiles created.
    pub imported: u64,
    /// Rows left alone: their id or e-mail exists already (or appeared earlier in the file),
    /// or the id was deleted.
    pub skipped: u64,
    /// Events enqueued (`--emit-events`).
    pub events: u64,
}

/// Why an import stopped. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}: {message}")]
    Row { line: u64, message: String },
    #[error(
        "the header must name the columns email and display_name (and may name id, bio, avatar_url, locale, created_at); {0}"
    )]
    Header(String),
    #[error("database: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("database TLS: {0}")]
    Tls(String),
}

/// Imports `options.file` into the database at `database_url`; `progress` is called with the
/// number of rows streamed so far, about every [`CHUNK_ROWS`] rows.
pub async fn run(
    database_url: &SecretString,
    options: &ImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let file = File::open(&options.file).map_err(|source| ImportError::Open {
        path: options.file.clone(),
        source,
    })?;
    let (url, tls) =
        marquee_common::db::tls_for(database_url.expose_secret()).map_err(ImportError::Tls)?;
    let (mut client, connection) = tokio_postgres::connect(&url, tls).await?;
    let connection = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::error!(%error, "import connection failed");
        }
    });

    let transaction = client.transaction().await?;
    transaction
        .batch_execute(
            "CREATE TEMP TABLE import_profiles (LIKE profiles INCLUDING DEFAULTS) ON COMMIT DROP;
             CREATE TEMP TABLE import_inserted (id UUID PRIMARY KEY) ON COMMIT DROP;",
        )
        .await?;

    // The reader thread parses and validates; this task feeds COPY.
    let (chunks, mut received) = mpsc::channel::<Result<(Bytes, u64), ImportError>>(4);
    let path = options.file.clone();
    let reader = tokio::task::spawn_blocking(move || read_rows(file, &path, &chunks));
    let sink = transaction
        .copy_in(
            "COPY import_profiles (id, email, display_name, bio, avatar_url, locale, created_at, \
             updated_at, version) FROM STDIN",
        )
        .await?;
    let mut sink = std::pin::pin!(sink);
    let mut read = 0;
    let mut failure = None;
    while let Some(chunk) = received.recv().await {
        match chunk {
            Ok((bytes, rows)) => {
                sink.send(bytes).await?;
                read = rows;
                progress(read);
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    drop(received);
    // A reader that panicked reports nothing: treat it as a failure too.
    let reader_failed = reader.await.is_err();
    if let Some(error) = failure {
        // Dropping the sink unfinished aborts the COPY; the transaction rolls back.
        return Err(error);
    }
    if reader_failed {
        return Err(ImportError::Row {
            line: read + 2,
            message: "the reader stopped unexpectedly".into(),
        });
    }
    sink.as_mut().finish().await?;

    let imported = transaction
        .execute(
            r#"WITH inserted AS (
                 INSERT INTO profiles
                 SELECT DISTINCT ON (lower(i.email)) i.* FROM import_profiles i
                 WHERE NOT EXISTS (SELECT 1 FROM profile_tombstones t WHERE t.id = i.id)
                   AND NOT EXISTS (SELECT 1 FROM profiles p
                                   WHERE lower(p.email) COLLATE "C" = lower(i.email) COLLATE "C")
                 ORDER BY lower(i.email), i.id
                 ON CONFLICT (id) DO NOTHING
                 RETURNING id
             )
             INSERT INTO import_inserted SELECT id FROM inserted"#,
            &[],
        )
        .await?;
    let events = if options.emit_events {
        enqueue_events(&transaction).await?
    } else {
        0
    };
    if events > 0 {
        // Delivered at commit: the service's relay publishes the events at once.
        let wake = format!("NOTIFY {}", marquee_common::kafka::outbox::WAKE_CHANNEL);
        transaction.batch_execute(&wake).await?;
    }
    transaction.commit().await?;
    if imported > 0 {
        // Fresh statistics, so the planner keeps choosing the index plans after a big load.
        client.batch_execute("ANALYZE profiles").await?;
    }
    drop(client);
    connection.abort();
    Ok(ImportReport {
        read,
        imported,
        skipped: read.saturating_sub(imported),
        events,
    })
}

/// Parses and validates the CSV, sending COPY text chunks; stops at the first bad row.
fn read_rows(file: File, path: &Path, chunks: &mpsc::Sender<Result<(Bytes, u64), ImportError>>) {
    let send = |item| chunks.blocking_send(item).is_ok();
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::Headers)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let columns = match csv
        .headers()
        .map_err(|e| e.to_string())
        .and_then(Columns::of)
    {
        Ok(columns) => columns,
        Err(message) => {
            send(Err(ImportError::Header(format!(
                "{}: {message}",
                path.display()
            ))));
            return;
        }
    };
    let now = Utc::now();
    let mut buffer = String::with_capacity(CHUNK_ROWS * 128);
    let mut rows = 0u64;
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let line = error.position().map_or(rows + 2, |p| p.line());
                send(Err(ImportError::Row {
                    line,
                    message: error.to_string(),
                }));
                return;
            }
        }
        let line = record.position().map_or(rows + 2, |p| p.line());
        if let Err(message) = columns.write_row(&record, now, &mut buffer) {
            send(Err(ImportError::Row { line, message }));
            return;
        }
        rows += 1;
        if rows.is_multiple_of(CHUNK_ROWS as u64) {
            let chunk = Bytes::from(std::mem::take(&mut buffer));
            buffer.reserve(CHUNK_ROWS * 128);
            if !send(Ok((chunk, rows))) {
                return;
            }
        }
    }
    if !buffer.is_empty() || rows == 0 {
        send(Ok((Bytes::from(buffer), rows)));
    }
}

/// Where each known column is in the file.
#[derive(Debug)]
struct Columns {
    id: Option<usize>,
    email: usize,
    display_name: usize,
    bio: Option<usize>,
    avatar_url: Option<usize>,
    locale: Option<usize>,
    created_at: Option<usize>,
}

impl Columns {
    fn of(header: &csv::StringRecord) -> Result<Self, String> {
        let mut index = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let known = [
                "id",
                "email",
                "display_name",
                "bio",
                "avatar_url",
                "locale",
                "created_at",
            ];
            if !known.contains(&name) {
                return Err(format!("unknown column {name:?}"));
            }
            if index.insert(name.to_owned(), i).is_some() {
                return Err(format!("column {name:?} appears twice"));
            }
        }
        let required = |name: &str| {
            index
                .get(name)
                .copied()
                .ok_or_else(|| format!("column {name:?} is missing"))
        };
        Ok(Self {
            email: required("email")?,
            display_name: required("display_name")?,
            id: index.get("id").copied(),
            bio: index.get("bio").copied(),
            avatar_url: index.get("avatar_url").copied(),
            locale: index.get("locale").copied(),
            created_at: index.get("created_at").copied(),
        })
    }

    /// Validates one record and appends it to `out` as a line of COPY text.
    fn write_row(
        &self,
        record: &csv::StringRecord,
        now: DateTime<Utc>,
        out: &mut String,
    ) -> Result<(), String> {
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        let invalid = |e: Invalid| e.to_string();
        let id = match field(self.id).trim() {
            "" => Uuid::now_v7(),
            raw => raw
                .parse::<Uuid>()
                .map_err(|_| format!("id: {raw:?} is not a UUID"))?,
        };
        let email = Email::parse("email", field(Some(self.email))).map_err(invalid)?;
        let display_name =
            DisplayName::parse("display_name", field(Some(self.display_name))).map_err(invalid)?;
        let bio = Bio::parse("bio", field(self.bio)).map_err(invalid)?;
        let avatar_url = AvatarUrl::parse("avatar_url", field(self.avatar_url)).map_err(invalid)?;
        let locale = Locale::parse("locale", field(self.locale)).map_err(invalid)?;
        let created_at = match field(self.created_at).trim() {
            "" => now,
            raw => DateTime::parse_from_rfc3339(raw)
                .map_err(|_| format!("created_at: {raw:?} is not an RFC 3339 time"))?
                .with_timezone(&Utc),
        };
        let created_at = created_at.to_rfc3339();
        let columns = [
            Some(id.to_string()),
            Some(email.as_str().to_owned()),
            Some(display_name.as_str().to_owned()),
            bio.map(|b| b.as_str().to_owned()),
            avatar_url.map(|u| u.as_str().to_owned()),
            locale.map(|l| l.as_str().to_owned()),
            Some(created_at.clone()),
            Some(created_at),
            Some("1".to_owned()),
        ];
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            match column {
                Some(value) => copy_escape(value, out),
                None => out.push_str("\\N"),
            }
        }
        out.push('\n');
        Ok(())
    }
}

/// Appends `value` escaped for COPY's text format.
fn copy_escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Enqueues a full `UserUpdated` for every profile this import created, in batches, by COPY
/// into the outbox (the relay is woken at commit by the outbox trigger).
async fn enqueue_events(transaction: &tokio_postgres::Transaction<'_>) -> Result<u64, ImportError> {
    transaction
        .batch_execute(
            "DECLARE imported NO SCROLL CURSOR FOR
                 SELECT p.id::text, p.email, p.display_name, p.bio, p.avatar_url, p.locale,
                        (extract(epoch FROM p.updated_at) * 1000000)::int8
                 FROM import_inserted i JOIN profiles p USING (id)
                 ORDER BY p.id",
        )
        .await?;
    let mut total = 0;
    loop {
        let rows = transaction
            .query(&format!("FETCH {EVENT_BATCH} FROM imported"), &[])
            .await?;
        if rows.is_empty() {
            break;
        }
        let mut buffer = String::with_capacity(rows.len() * 256);
        for row in &rows {
            let micros: i64 = row.get(6);
            let updated_at =
                DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_else(Utc::now);
            let event = UserUpdated {
                user_id: row.get(0),
                version: 1,
                email: Some(row.get(1)),
                display_name: Some(row.get(2)),
                bio: Some(row.get::<_, Option<String>>(3).unwrap_or_default()),
                avatar_url: Some(row.get::<_, Option<String>>(4).unwrap_or_default()),
                locale: Some(row.get::<_, Option<String>>(5).unwrap_or_default()),
                updated_at: Some(SystemTime::from(updated_at).into()),
            };
            write_outbox_row(&NewOutboxEvent::new(&event), &mut buffer);
        }
        let sink = transaction
            .copy_in(
                "COPY outbox (event_id, topic, record_key, ce_type, payload, created_at) FROM STDIN",
            )
            .await?;
        let mut sink = std::pin::pin!(sink);
        sink.send(Bytes::from(buffer)).await?;
        sink.as_mut().finish().await?;
        total += rows.len() as u64;
    }
    transaction.batch_execute("CLOSE imported").await?;
    Ok(total)
}

fn write_outbox_row(row: &NewOutboxEvent, out: &mut String) {
    let mut payload = String::with_capacity(2 + row.payload.len() * 2);
    payload.push_str("\\x");
    for byte in &row.payload {
        let _ = write!(payload, "{byte:02x}");
    }
    for (i, value) in [
        row.event_id.to_string(),
        row.topic.clone(),
        row.record_key.clone(),
        row.ce_type.clone(),
        payload,
        row.created_at.to_rfc3339(),
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            out.push('\t');
        }
        copy_escape(value, out);
    }
    out.push('\n');
}

/// Writes `count` synthetic, valid profiles as import CSV to `out` (for benchmarks and
/// tests): `user{n}@example.com`, "User {n}".
pub fn write_synthetic_csv(count: u64, out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(out, "email,display_name,locale")?;
    for n in 0..count {
        writeln!(out, "user{n:07}@example.com,User {n:07},en-GB")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_its_delimiters() {
        let mut out = String::new();
        copy_escape("a\tb\nc\\d\re", &mut out);
        assert_eq!(out, "a\\tb\\nc\\\\d\\re");
    }

    #[test]
    fn headers_need_email_and_display_name_and_nothing_unknown() {
        let header = |names: &[&str]| Columns::of(&csv::StringRecord::from(names.to_vec()));
        assert!(header(&["email", "display_name"]).is_ok());
        assert!(
            header(&[
                "id",
                "email",
                "display_name",
                "bio",
                "avatar_url",
                "locale",
                "created_at"
            ])
            .is_ok()
        );
        assert!(header(&["email"]).is_err());
        assert!(header(&["email", "display_name", "password"]).is_err());
        assert!(header(&["email", "email", "display_name"]).is_err());
    }

    #[test]
    fn rows_are_validated_like_the_api() {
        let columns = Columns::of(&csv::StringRecord::from(vec![
            "email",
            "display_name",
            "locale",
        ]))
        .unwrap();
        let mut out = String::new();
        let row = |values: &[&str]| csv::StringRecord::from(values.to_vec());
        assert!(
            columns
                .write_row(
                    &row(&["Ada@Example.com", "Ada", "en-gb"]),
                    Utc::now(),
                    &mut out
                )
                .is_ok()
        );
        assert!(out.contains("\tada@example.com\tAda\t\\N\t\\N\ten-GB\t"));
        let error = columns
            .write_row(&row(&["nope", "Ada", ""]), Utc::now(), &mut out)
            .unwrap_err();
        assert!(error.starts_with("email:"), "{error}");
    }
}
