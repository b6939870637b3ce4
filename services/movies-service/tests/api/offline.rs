//! Without TMDb credentials the bundled offline catalogue answers, with no network at all.

use serde_json::Value;

use crate::helpers::spawn_offline;

#[tokio::test]
async fn without_credentials_the_offline_catalogue_answers() {
    let app = spawn_offline().await;
    assert_eq!(app.provider, "offline");

    let response = app.get("/v1/movies/popular").await;
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("cache-status"));
    let page: Value = response.json().await.unwrap();
    assert!(page["total_results"].as_u64().unwrap() >= 50);
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    let first = &results[0];
    assert!(first["id"].as_i64().unwrap() > 900_000_000);
    assert!(!first["genres"].as_array().unwrap().is_empty());
    assert!(first["overview"].as_str().unwrap().len() > 50);

    let id = first["id"].as_i64().unwrap();
    let movie: Value = app
        .get(&format!("/v1/movies/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(movie["title"], first["title"]);
    assert!(movie["runtime"].as_u64().unwrap() > 0);

    let found: Value = app
        .get("/v1/movies/search?q=nosferatu")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["title"] == "Nosferatu"),
        "{found}"
    );
    let none: Value = app
        .get("/v1/movies/search?q=zzzzzz")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["total_results"], 0);

    let genres: Value = app.get("/v1/movies/genres").await.json().await.unwrap();
    assert!(genres["genres"].as_array().unwrap().len() >= 5);
    assert_eq!(app.get("/v1/movies/603").await.status(), 404);
    assert_eq!(app.get("/v1/movies/search?q=").await.status(), 422);
}
