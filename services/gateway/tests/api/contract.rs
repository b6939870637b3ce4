//! Contract fuzzing: schemathesis generates requests from each service's OpenAPI document
//! and sends them through the gateway as a signed-in user, with every check on (server
//! errors, undocumented status codes, responses that do not match their schemas, valid data
//! refused, invalid data accepted, 405s without `Allow`, …). Its settings, and every
//! operation or check left out with the reason, are in `.config/schemathesis.toml`.
//!
//! schemathesis is a pinned Python tool that `cargo xtask test` installs and names in
//! `MARQUEE_SCHEMATHESIS`; run alone, the test looks where xtask puts it.

use std::{path::PathBuf, process::Stdio, time::Duration};

use crate::platform::{Options, Platform};

/// The longest one document's run may take (50 examples per operation on a loaded machine).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The schemathesis executable: `MARQUEE_SCHEMATHESIS`, or the virtualenv xtask makes.
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("MARQUEE_SCHEMATHESIS")
        .map(PathBuf::from)
        .or_else(|| {
            let tools = std::env::var_os("MARQUEE_TOOLS_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME")
                        .map(|home| PathBuf::from(home).join(".cache/marquee/tools"))
                })?;
            Some(tools.join("test-venv/bin/schemathesis"))
        })
        .expect("MARQUEE_SCHEMATHESIS or HOME");
    assert!(
        path.exists(),
        "schemathesis is not at {}: `cargo xtask test` installs it (.config/test-tools.txt), \
         or set MARQUEE_SCHEMATHESIS",
        path.display()
    );
    path
}

/// The workspace's `.config/schemathesis.toml`.
fn config_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.config/schemathesis.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_does_what_its_openapi_document_says() {
    let schemathesis = schemathesis();
    let platform = Platform::start(Options {
        // Thousands of requests from one address and one user: the budgets are not the
        // subject here (they have their own tests).
        env: vec![
            ("RATE_LIMIT_ENABLED".into(), "false".into()),
            ("AUTH_IP_LIMIT_BURST".into(), "100000".into()),
            ("AUTH_IP_LIMIT_PER_MINUTE".into(), "100000".into()),
        ],
        ..Options::default()
    })
    .await;
    let mut failed = Vec::new();
    // auth last: its fuzzing signs its user out everywhere (logout-all).
    for service in ["users", "movies", "chat", "auth"] {
        // A user of its own per document: one run's logout, e-mail change or deletion does
        // not starve the next.
        let email = format!("fuzzer-{service}@example.com");
        let token = platform.sign_up_with_profile(&email, "Fuzzer").await;
        let document = platform.gateway.url(&format!("/v1/{service}/openapi.json"));
        let run = tokio::process::Command::new(&schemathesis)
            .arg("--config-file")
            .arg(config_file())
            .arg("--no-color")
            .args(["run", &document])
            .args(["--url", &platform.gateway.url("")])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(RUN_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| panic!("schemathesis on {service} ran over {RUN_TIMEOUT:?}"))
            .expect("schemathesis runs");
        let report = String::from_utf8_lossy(&output.stdout);
        println!("──── {service} ────\n{report}");
        if !output.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            failed.push(service);
        }
    }
    assert!(
        failed.is_empty(),
        "the API does not do what its OpenAPI document says: {failed:?} (schemathesis' \
         report for each is above)"
    );
}
