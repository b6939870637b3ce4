//! Guards the wire compatibility of every published message.
//!
//! `schema.lock` lists each field (package.Message, number, name, label, type) and each enum
//! value of the contracts. A field that disappears, changes its number, type or label, or an
//! enum value that changes, fails this test: consumers that were built against the old
//! schema would misread new events. New fields and values must be appended to the lock; run
//! the test with `UPDATE_SCHEMA_LOCK=1` to do that (it refuses while anything was broken).

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use marquee_proto_events::{FILE_DESCRIPTOR_SET, PUBLISHED};
use prost::Message;
use prost_types::{
    FileDescriptorSet,
    field_descriptor_proto::{Label, Type},
};

const LOCK_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.lock");

fn current_schema() -> BTreeSet<String> {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    let mut lines = BTreeSet::new();
    for file in set
        .file
        .iter()
        .filter(|f| f.package().starts_with("marquee."))
    {
        let package = file.package();
        for message in &file.message_type {
            for field in &message.field {
                let ty = match field.r#type() {
                    Type::Message | Type::Enum => field.type_name().to_owned(),
                    other => other
                        .as_str_name()
                        .trim_start_matches("TYPE_")
                        .to_lowercase(),
                };
                let label = match (field.label(), field.proto3_optional()) {
                    (Label::Repeated, _) => "repeated",
                    (_, true) => "optional",
                    _ => "singular",
                };
                lines.insert(format!(
                    "field {package}.{} {} {} {label} {ty}",
                    message.name(),
                    field.number(),
                    field.name()
                ));
            }
        }
        for en in &file.enum_type {
            for value in &en.value {
                lines.insert(format!(
                    "enum {package}.{} {} {}",
                    en.name(),
                    value.number(),
                    value.name()
                ));
            }
        }
    }
    lines
}

fn locked_schema() -> BTreeSet<String> {
    // A missing lock is an empty one: the first run with UPDATE_SCHEMA_LOCK=1 writes it.
    std::fs::read_to_string(LOCK_PATH)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn published_messages_keep_their_field_numbers_and_types() {
    let current = current_schema();
    let locked = locked_schema();

    let broken: Vec<_> = locked.difference(&current).collect();
    assert!(
        broken.is_empty(),
        "incompatible change to published events; these locked entries no longer hold \
         (add fields instead, or publish a new topic version):\n{}",
        broken
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let added: Vec<_> = current.difference(&locked).collect();
    if added.is_empty() {
        return;
    }
    if std::env::var_os("UPDATE_SCHEMA_LOCK").is_some() {
        let mut text = String::from(
            "# Wire contract of published events; checked by tests/schema_lock.rs.\n\
             # Append only: an entry that changes or disappears breaks consumers.\n",
        );
        for line in &current {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(LOCK_PATH, text).expect("schema.lock is writable");
        return;
    }
    panic!(
        "new schema entries are not in schema.lock yet; review them and rerun with \
         UPDATE_SCHEMA_LOCK=1:\n{}",
        added
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_published_ce_type_names_a_message_of_the_contracts() {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    let messages: BTreeSet<String> = set
        .file
        .iter()
        .flat_map(|f| {
            f.message_type
                .iter()
                .map(move |m| format!("{}.{}", f.package(), m.name()))
        })
        .collect();
    for (ce_type, topic) in PUBLISHED {
        assert!(
            messages.contains(ce_type),
            "{ce_type} is not a message of the contracts"
        );
        let version = ce_type
            .split('.')
            .nth(2)
            .expect("ce_type has a version segment");
        assert!(
            topic.ends_with(version),
            "{ce_type} travels on {topic}, another version"
        );
    }
}
