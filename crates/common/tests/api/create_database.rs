//! `db::create_database`, behind `<service> migrate --create-database` (what `cargo xtask up`
//! runs for each service), against a private server that asks every connection for a
//! SCRAM-SHA-256 password — PostgreSQL's default since 14 — and a role made for the test.

use diesel::{QueryableByName, sql_types::Text};
use diesel_async::RunQueryDsl;
use marquee_common::db;
use marquee_testkit::PostgresProcess;

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    password: String,
}

#[tokio::test]
async fn a_role_signing_in_with_scram_creates_its_database_once() {
    let server = PostgresProcess::start_with_password("superuser-secret").await;
    let mut admin = db::connect(&server.url())
        .await
        .expect("the superuser signs in with its SCRAM password");
    diesel::sql_query("CREATE ROLE marquee_app LOGIN CREATEDB PASSWORD 'app-secret'")
        .execute(&mut admin)
        .await
        .unwrap();
    let stored: Stored = diesel::sql_query(
        "SELECT rolpassword AS password FROM pg_authid WHERE rolname = 'marquee_app'",
    )
    .get_result(&mut admin)
    .await
    .unwrap();
    assert!(
        stored.password.starts_with("SCRAM-SHA-256$"),
        "the role's password is a SCRAM verifier"
    );

    let app = server
        .url()
        .replace("postgres:superuser-secret@", "marquee_app:app-secret@")
        .replace("/postgres", "/marquee_app_db");
    assert_eq!(db::create_database(&app).await, Ok(true), "created");
    assert_eq!(db::create_database(&app).await, Ok(false), "already there");
    db::connect(&app)
        .await
        .expect("the role signs in to its new database");

    let wrong = app.replace("app-secret", "not-the-password");
    let error = db::create_database(&wrong).await.unwrap_err();
    assert!(
        error.contains("password authentication failed") && !error.contains("not-the-password"),
        "a clear error that does not repeat the password: {error}"
    );
}

#[tokio::test]
async fn a_url_without_a_database_is_refused_before_connecting() {
    // Port 9 (discard) has no listener: an attempt to connect would say so instead.
    let error = db::create_database("postgres://postgres@127.0.0.1:9")
        .await
        .unwrap_err();
    assert_eq!(error, "the database URL names no database");
}
