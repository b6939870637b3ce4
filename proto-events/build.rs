//! Compiles `proto/**/*.proto` with protox (a pure-Rust protobuf compiler, so no system
//! `protoc`) and generates the Rust types with prost. The compiled descriptor set is written
//! next to the generated code so the crate can embed it for the schema-compatibility test.

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "proto/marquee/users/v1/users.proto",
    "proto/marquee/sessions/v1/sessions.proto",
    "proto/marquee/chat/v1/chat.proto",
    "proto/marquee/movies/v1/movies.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let descriptors = protox::compile(PROTOS, ["proto"])?;
    std::fs::write(
        out_dir.join("marquee_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
