//! `GET /v1/users`: admins page through every profile with stable keyset cursors and search
//! by prefix.

use std::path::PathBuf;

use serde_json::Value;
use user_service::import::{self, ImportOptions};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

/// Loads `count` synthetic profiles (`user{n:07}@example.com`, "User {n:07}") with the bulk
/// importer.
pub async fn load_profiles(app: &TestApp, count: u64) {
    let mut csv = Vec::new();
    import::write_synthetic_csv(count, &mut csv).unwrap();
    load_csv(app, &csv, count).await;
}

/// Imports `csv`, which must create `count` profiles.
async fn load_csv(app: &TestApp, csv: &[u8], count: u64) {
    let file = csv_file();
    std::fs::write(&file, csv).unwrap();
    let options = ImportOptions {
        file: file.clone(),
        emit_events: false,
    };
    let report = import::run(&app.database.secret_url(), &options, |_| {})
        .await
        .unwrap();
    assert_eq!(report.imported, count);
    std::fs::remove_file(file).unwrap();
}

pub fn csv_file() -> PathBuf {
    std::env::temp_dir().join(format!("marquee-users-{}.csv", Uuid::now_v7().simple()))
}

async fn page(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app.get_as(token, &format!("/v1/users?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_through_thousands_of_profiles_returns_each_once_in_order() {
    let app = spawn_app().await;
    load_profiles(&app, 2_500).await;
    let admin = app.admin().await;

    let mut seen = Vec::new();
    let mut cursors = Vec::new();
    let mut query = "limit=100".to_owned();
    loop {
        let body = page(&app, &admin.token, &query).await;
        seen.extend(ids(&body));
        let Some(cursor) = body["next_cursor"].as_str() else {
            break;
        };
        cursors.push(cursor.to_owned());
        query = format!("limit=100&cursor={cursor}");
    }
    assert_eq!(seen.len(), 2_500, "every profile once");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in id order, no repeats"
    );
    assert_eq!(cursors.len(), 24);

    // A cursor stays valid and means the same page after more profiles arrive.
    let before = page(
        &app,
        &admin.token,
        &format!("limit=100&cursor={}", cursors[9]),
    )
    .await;
    let later: String = (0..10)
        .map(|n| format!("later{n}@example.com,Later {n}\n"))
        .collect();
    load_csv(&app, format!("email,display_name\n{later}").as_bytes(), 10).await;
    let after = page(
        &app,
        &admin.token,
        &format!("limit=100&cursor={}", cursors[9]),
    )
    .await;
    assert_eq!(ids(&before), ids(&after));
    assert_eq!(ids(&before)[0], seen[1_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_finds_profiles_by_e_mail_or_display_name_prefix() {
    let app = spawn_app().await;
    load_profiles(&app, 300).await;
    let admin = app.admin().await;
    let expected = |q: &str| {
        (0..300)
            .filter(|n| {
                format!("user{n:07}@example.com").starts_with(q)
                    || format!("user {n:07}").starts_with(q)
            })
            .count()
    };
    for (q, encoded) in [
        ("user000012", "user000012"),
        ("User 00001", "User%2000001"),
        ("USER0000299@EXAMPLE.COM", "USER0000299%40EXAMPLE.COM"),
        ("%", "%25"),
        ("nobody", "nobody"),
    ] {
        let mut found = 0;
        let mut query = format!("limit=7&q={encoded}");
        loop {
            let body = page(&app, &admin.token, &query).await;
            found += ids(&body).len();
            let Some(cursor) = body["next_cursor"].as_str() else {
                break;
            };
            query = format!("limit=7&q={encoded}&cursor={cursor}");
        }
        assert_eq!(found, expected(&q.to_lowercase()), "q={q}");
    }
    assert_eq!(expected("user000012"), 10);

    // Search pages are ordered by the matching text; their cursors only fit searches.
    let body = page(&app, &admin.token, "limit=5&q=user%200000").await;
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "User 0000000",
            "User 0000001",
            "User 0000002",
            "User 0000003",
            "User 0000004"
        ]
    );
    let cursor = body["next_cursor"].as_str().unwrap();
    let mixed = app
        .get_as(&admin.token, &format!("/v1/users?cursor={cursor}"))
        .await;
    assert_eq!(mixed.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_list_and_bad_paging_parameters_are_422() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app
        .identity
        .sign_in(Uuid::now_v7(), &[marquee_common::auth::Role::User])
        .await;
    let denied = app.get_as(&user.token, "/v1/users").await;
    assert_eq!(denied.status(), 403);

    for query in ["limit=0", "limit=101", "cursor=garbage", "limit=ten"] {
        let response = app
            .get_as(&admin.token, &format!("/v1/users?{query}"))
            .await;
        assert!(
            matches!(response.status().as_u16(), 400 | 422),
            "{query}: {}",
            response.status()
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["code"].is_string());
    }
    let control = app.get_as(&admin.token, "/v1/users?q=a%00b").await;
    assert_eq!(control.status(), 422);
    let long = "a".repeat(101);
    let response = app
        .get_as(&admin.token, &format!("/v1/users?q={long}"))
        .await;
    assert_eq!(response.status(), 422);
    let empty: Value = page(&app, &admin.token, "").await;
    assert_eq!(ids(&empty).len(), 0);
    assert!(empty.get("next_cursor").is_none());
}
