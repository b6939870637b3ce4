//! `user-service import`: all or nothing, idempotent by id, silent unless asked to publish.

use std::io::Write;

use diesel::{QueryDsl, dsl::count_star};
use diesel_async::RunQueryDsl;
use marquee_proto_events::users::v1::UserUpdated;
use user_service::import::{self, ImportError, ImportOptions};
use uuid::Uuid;

use crate::{helpers::spawn_app, listing::csv_file};

diesel::table! { profiles (id) { id -> Uuid, } }

async fn profile_count(app: &crate::helpers::TestApp) -> i64 {
    let mut conn = app.database.connection().await;
    profiles::table
        .select(count_star())
        .get_result(&mut conn)
        .await
        .unwrap()
}

fn write_csv(content: &str) -> std::path::PathBuf {
    let path = csv_file();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_loads_valid_rows_once_and_publishes_only_when_asked() {
    let app = spawn_app().await;
    let events = app.user_events().await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let file = write_csv(&format!(
        "id,email,display_name,bio,avatar_url,locale,created_at\n\
         {a},Ada@Example.com,Ada,\"Tabs\tand\nlines\",https://cdn.example.com/a.png,en-gb,2020-01-02T03:04:05Z\n\
         {b},grace@example.com,Grace,,,,\n\
         ,linus@example.com,Linus,,,,\n"
    ));
    let options = ImportOptions {
        file: file.clone(),
        emit_events: false,
    };
    let url = app.database.secret_url();
    let report = import::run(&url, &options, |_| {}).await.unwrap();
    assert_eq!(
        (report.read, report.imported, report.skipped, report.events),
        (3, 3, 0, 0)
    );
    let again = import::run(&url, &options, |_| {}).await.unwrap();
    assert_eq!(
        (again.read, again.imported, again.skipped),
        (3, 0, 3),
        "ids a and b exist, and so does the id-less row's e-mail"
    );
    let duplicates = write_csv(
        "email,display_name\nnew@example.com,First\nNEW@example.com,Second\nGrace@example.com,Taken\n",
    );
    let report = import::run(
        &url,
        &ImportOptions {
            file: duplicates.clone(),
            emit_events: false,
        },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        (report.imported, report.skipped),
        (1, 2),
        "one profile per address"
    );
    std::fs::remove_file(duplicates).unwrap();
    assert_eq!(profile_count(&app).await, 4);

    let admin = app.admin().await;
    let ada: serde_json::Value = app
        .get_as(&admin.token, &format!("/v1/users/{a}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["bio"], "Tabs\tand\nlines");
    assert_eq!(ada["locale"], "en-GB");
    assert_eq!(ada["created_at"], "2020-01-02T03:04:05Z");

    let published =
        write_csv("email,display_name\nmarie@example.com,Marie\npierre@example.com,Pierre\n");
    let report = import::run(
        &url,
        &ImportOptions {
            file: published.clone(),
            emit_events: true,
        },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.events, 2);
    let updates = marquee_testkit::eventually(
        std::time::Duration::from_secs(30),
        "the imported profiles' events",
        || {
            let updates = events.all::<UserUpdated>();
            (updates.len() >= 2).then_some(updates)
        },
    )
    .await;
    assert_eq!(updates.len(), 2, "only the import that asked published");
    assert!(
        updates
            .iter()
            .all(|u| u.version == 1 && u.display_name.is_some())
    );
    for path in [file, published] {
        std::fs::remove_file(path).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_stops_the_import_with_its_line_and_writes_nothing() {
    let app = spawn_app().await;
    let url = app.database.secret_url();
    let run = |content: &str| {
        let file = write_csv(content);
        let url = url.clone();
        async move {
            let result = import::run(
                &url,
                &ImportOptions {
                    file: file.clone(),
                    emit_events: false,
                },
                |_| {},
            )
            .await;
            std::fs::remove_file(file).unwrap();
            result
        }
    };
    let error = run("email,display_name\nada@example.com,Ada\nnot-an-address,Bob\n")
        .await
        .unwrap_err();
    assert!(matches!(error, ImportError::Row { line: 3, .. }), "{error}");
    assert!(error.to_string().contains("email"), "{error}");
    assert!(matches!(
        run("email,name\nada@example.com,Ada\n").await.unwrap_err(),
        ImportError::Header(_)
    ));
    assert!(matches!(
        run("email,display_name\nada@example.com\n")
            .await
            .unwrap_err(),
        ImportError::Row { line: 2, .. }
    ));
    assert_eq!(profile_count(&app).await, 0, "all or nothing");
    let missing = import::run(
        &url,
        &ImportOptions {
            file: "/nonexistent/users.csv".into(),
            emit_events: false,
        },
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(missing, ImportError::Open { .. }));
}
