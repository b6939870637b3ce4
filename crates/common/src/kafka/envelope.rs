//! The CloudEvents Kafka binary binding, both ways.
//!
//! A Marquee record's value is the protobuf-encoded event; its headers say what it is:
//!
//! | header | value |
//! |---|---|
//! | `ce_specversion` | `1.0` |
//! | `ce_id` | UUIDv7, fixed when the event is enqueued (so republishing keeps it) |
//! | `ce_type` | e.g. `marquee.users.v1.UserCreated` |
//! | `ce_source` | the publishing service, e.g. `auth-service` |
//! | `ce_time` | RFC 3339 time the event happened |
//! | `content-type` | `application/protobuf` |
//! | `traceparent`, `tracestate` | W3C trace context of the code that enqueued it |
//!
//! The record key is the aggregate id (see `marquee_proto_events::Event::key`).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use marquee_proto_events::{CE_SPEC_VERSION, CONTENT_TYPE, Event};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use uuid::Uuid;

pub const SPECVERSION: &str = "ce_specversion";
pub const ID: &str = "ce_id";
pub const TYPE: &str = "ce_type";
pub const SOURCE: &str = "ce_source";
pub const TIME: &str = "ce_time";
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// The CloudEvents attributes and trace context of one event, as carried in headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes {
    pub id: Uuid,
    pub ce_type: String,
    pub source: String,
    pub time: DateTime<Utc>,
    /// `traceparent` / `tracestate`, when the event was produced inside a trace.
    pub trace_headers: HashMap<String, String>,
}

impl Attributes {
    /// Record headers for these attributes.
    pub fn to_headers(&self) -> OwnedHeaders {
        let id = self.id.to_string();
        let time = self.time.to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut headers = OwnedHeaders::new_with_capacity(6 + self.trace_headers.len())
            .insert(header(SPECVERSION, CE_SPEC_VERSION))
            .insert(header(ID, &id))
            .insert(header(TYPE, &self.ce_type))
            .insert(header(SOURCE, &self.source))
            .insert(header(TIME, &time))
            .insert(header(CONTENT_TYPE_HEADER, CONTENT_TYPE));
        for (name, value) in &self.trace_headers {
            headers = headers.insert(header(name, value));
        }
        headers
    }

    /// Reads the attributes from record headers.
    pub fn from_headers(headers: Option<&impl Headers>) -> Result<Self, EnvelopeError> {
        let map = header_map(headers);
        let get = |name: &'static str| {
            map.get(name)
                .map(String::as_str)
                .ok_or(EnvelopeError::MissingHeader(name))
        };
        let spec = get(SPECVERSION)?;
        if spec != CE_SPEC_VERSION {
            return Err(EnvelopeError::InvalidHeader(SPECVERSION, spec.to_owned()));
        }
        let id = get(ID)?;
        let time = get(TIME)?;
        Ok(Self {
            id: Uuid::parse_str(id).map_err(|_| EnvelopeError::InvalidHeader(ID, id.to_owned()))?,
            ce_type: get(TYPE)?.to_owned(),
            source: get(SOURCE)?.to_owned(),
            time: DateTime::parse_from_rfc3339(time)
                .map_err(|_| EnvelopeError::InvalidHeader(TIME, time.to_owned()))?
                .with_timezone(&Utc),
            trace_headers: ["traceparent", "tracestate"]
                .into_iter()
                .filter_map(|name| Some((name.to_owned(), map.get(name)?.clone())))
                .collect(),
        })
    }
}

/// An event received from the broker, with where it came from.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    pub attributes: Attributes,
    /// The physical topic it was read from.
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    /// The protobuf-encoded event.
    pub payload: Vec<u8>,
}

impl ReceivedEvent {
    /// Parses a record; fails when a CloudEvents header is missing or malformed.
    pub fn from_message(message: &BorrowedMessage<'_>) -> Result<Self, EnvelopeError> {
        Ok(Self {
            attributes: Attributes::from_headers(message.headers())?,
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: message.payload().unwrap_or_default().to_vec(),
        })
    }

    pub fn id(&self) -> Uuid {
        self.attributes.id
    }

    pub fn ce_type(&self) -> &str {
        &self.attributes.ce_type
    }

    /// Whether this is an `E`.
    pub fn is<E: Event>(&self) -> bool {
        self.attributes.ce_type == E::CE_TYPE
    }

    /// Decodes the payload as an `E`, checking the `ce_type` first.
    pub fn decode<E: Event>(&self) -> Result<E, EnvelopeError> {
        if !self.is::<E>() {
            return Err(EnvelopeError::UnexpectedType {
                expected: E::CE_TYPE,
                actual: self.attributes.ce_type.clone(),
            });
        }
        E::decode(self.payload.as_slice()).map_err(|e| EnvelopeError::Payload(e.to_string()))
    }
}

/// A record that is not a well-formed Marquee event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("invalid header {0}: {1:?}")]
    InvalidHeader(&'static str, String),
    #[error("expected a {expected} event, got {actual}")]
    UnexpectedType {
        expected: &'static str,
        actual: String,
    },
    #[error("undecodable payload: {0}")]
    Payload(String),
}

/// Every header of a record as UTF-8 text (non-UTF-8 values are skipped).
pub fn header_map(headers: Option<&impl Headers>) -> HashMap<String, String> {
    headers
        .map(|headers| {
            headers
                .iter()
                .filter_map(|h| {
                    Some((
                        h.key.to_ascii_lowercase(),
                        String::from_utf8(h.value?.to_vec()).ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_through_headers() {
        let attributes = Attributes {
            id: Uuid::now_v7(),
            ce_type: "marquee.users.v1.UserCreated".into(),
            source: "auth-service".into(),
            time: Utc::now(),
            trace_headers: HashMap::from([(
                "traceparent".into(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            )]),
        };
        let headers = attributes.to_headers();
        let parsed = Attributes::from_headers(Some(&headers)).unwrap();
        assert_eq!(parsed.id, attributes.id);
        assert_eq!(parsed.ce_type, attributes.ce_type);
        assert_eq!(parsed.source, attributes.source);
        assert_eq!(parsed.trace_headers, attributes.trace_headers);
        assert_eq!(
            parsed.time.timestamp_micros(),
            attributes.time.timestamp_micros(),
            "ce_time keeps microseconds"
        );
        assert_eq!(
            header_map(Some(&headers))["content-type"],
            "application/protobuf"
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_named() {
        let headers = OwnedHeaders::new().insert(header(SPECVERSION, "1.0"));
        assert_eq!(
            Attributes::from_headers(Some(&headers)),
            Err(EnvelopeError::MissingHeader(ID))
        );
        let headers = OwnedHeaders::new()
            .insert(header(SPECVERSION, "1.0"))
            .insert(header(ID, "nope"))
            .insert(header(TYPE, "marquee.users.v1.UserCreated"))
            .insert(header(SOURCE, "auth-service"))
            .insert(header(TIME, "2026-11-21T10:00:00Z"));
        assert!(matches!(
            Attributes::from_headers(Some(&headers)),
            Err(EnvelopeError::InvalidHeader(ID, _))
        ));
    }
}
