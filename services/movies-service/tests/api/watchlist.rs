//! Watchlists: idempotent changes announced on `movies.v1`, per-user isolation, paging, and
//! the purge when a user is deleted. (The offline catalogue supplies the movies.)

use std::collections::HashSet;

use marquee_proto_events::{movies::v1::WatchlistChange, users::v1::UserDeleted};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_offline};

/// Ids of movies in the catalogue, most popular first.
async fn movie_ids(app: &TestApp, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut page = 1;
    while ids.len() < n {
        let body: Value = app
            .get(&format!("/v1/movies/popular?page={page}"))
            .await
            .json()
            .await
            .unwrap();
        let results = body["results"].as_array().unwrap();
        assert!(!results.is_empty(), "the catalogue has {n} movies");
        ids.extend(results.iter().map(|m| m["id"].as_i64().unwrap()));
        page += 1;
    }
    ids.truncate(n);
    ids
}

async fn watchlist(app: &TestApp, token: &str) -> Vec<i64> {
    let response = app.get_as(token, "/v1/movies/watchlist").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["movie_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn adding_and_removing_are_idempotent_and_each_change_is_announced_once() {
    let app = spawn_offline().await;
    let events = app.watchlist_events().await;
    let user = app.user().await;
    let ids = movie_ids(&app, 2).await;
    let (movie, marker) = (ids[0], ids[1]);
    let path = format!("/v1/movies/watchlist/{movie}");

    let added = app.put_as(&user.token, &path).await;
    assert_eq!(added.status(), 201);
    let item: Value = added.json().await.unwrap();
    assert_eq!(item["movie_id"], movie);
    assert!(item["title"].as_str().is_some_and(|t| !t.is_empty()));
    let again = app.put_as(&user.token, &path).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), item, "the same entry");
    assert_eq!(watchlist(&app, &user.token).await, vec![movie]);

    assert_eq!(app.delete_as(&user.token, &path).await.status(), 204);
    assert_eq!(app.delete_as(&user.token, &path).await.status(), 204);
    assert!(watchlist(&app, &user.token).await.is_empty());

    // A last change, published after the others: once it is there, they all are.
    let last = format!("/v1/movies/watchlist/{marker}");
    assert_eq!(app.put_as(&user.token, &last).await.status(), 201);
    let published = events.about(user.id, 3).await;
    let changes: Vec<(i64, i32)> = published.iter().map(|e| (e.movie_id, e.change)).collect();
    assert_eq!(
        changes,
        [
            (movie, WatchlistChange::Added as i32),
            (movie, WatchlistChange::Removed as i32),
            (marker, WatchlistChange::Added as i32),
        ]
    );
    assert!(published.iter().all(|e| e.changed_at.is_some()));
}

#[tokio::test]
async fn watchlists_are_per_user() {
    let app = spawn_offline().await;
    let (alice, bob) = (app.user().await, app.user().await);
    let movie = movie_ids(&app, 1).await[0];
    let path = format!("/v1/movies/watchlist/{movie}");

    assert_eq!(app.put_as(&alice.token, &path).await.status(), 201);
    assert!(watchlist(&app, &bob.token).await.is_empty());
    assert_eq!(app.delete_as(&bob.token, &path).await.status(), 204);
    assert_eq!(watchlist(&app, &alice.token).await, vec![movie]);
    assert_eq!(
        app.put_as(&bob.token, &path).await.status(),
        201,
        "bob's own"
    );
}

#[tokio::test]
async fn watchlists_need_a_valid_token() {
    let app = spawn_offline().await;
    let user = app.user().await;
    let requests = [
        app.client.get(app.url("/v1/movies/watchlist")),
        app.client.put(app.url("/v1/movies/watchlist/900000001")),
        app.client.delete(app.url("/v1/movies/watchlist/900000001")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    app.identity.sign_out(&user).await;
    let response = app.get_as(&user.token, "/v1/movies/watchlist").await;
    assert_eq!(response.status(), 401, "a signed-out session");
}

#[tokio::test]
async fn only_catalogue_movies_can_be_added() {
    let app = spawn_offline().await;
    let user = app.user().await;
    let unknown = app.put_as(&user.token, "/v1/movies/watchlist/603").await;
    assert_eq!(unknown.status(), 404);
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["code"], "movie_not_found");
    for (bad, status) in [("0", 422), ("-1", 422), ("abc", 400)] {
        let response = app
            .put_as(&user.token, &format!("/v1/movies/watchlist/{bad}"))
            .await;
        assert_eq!(response.status(), status, "{bad}");
    }
    assert!(watchlist(&app, &user.token).await.is_empty());
}

#[tokio::test]
async fn a_full_watchlist_refuses_more() {
    let app = crate::helpers::spawn(None, None, |config| config.watchlist_max_items = 2).await;
    let user = app.user().await;
    let ids = movie_ids(&app, 3).await;
    for id in &ids[..2] {
        let path = format!("/v1/movies/watchlist/{id}");
        assert_eq!(app.put_as(&user.token, &path).await.status(), 201);
    }
    let full = app
        .put_as(&user.token, &format!("/v1/movies/watchlist/{}", ids[2]))
        .await;
    assert_eq!(full.status(), 409);
    assert_eq!(
        full.json::<Value>().await.unwrap()["code"],
        "watchlist_full"
    );
    let present = format!("/v1/movies/watchlist/{}", ids[0]);
    assert_eq!(
        app.put_as(&user.token, &present).await.status(),
        200,
        "re-adding is fine"
    );
}

#[tokio::test]
async fn a_watchlist_pages_newest_first() {
    let app = spawn_offline().await;
    let user = app.user().await;
    let ids = movie_ids(&app, 25).await;
    for id in &ids {
        let path = format!("/v1/movies/watchlist/{id}");
        assert_eq!(app.put_as(&user.token, &path).await.status(), 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/movies/watchlist?limit=10&cursor={cursor}"),
            None => "/v1/movies/watchlist?limit=10".to_owned(),
        };
        let page: Value = app.get_as(&user.token, &path).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 10);
        seen.extend(items.iter().map(|i| i["movie_id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    assert_eq!(seen, newest_first);
    let bad = app
        .get_as(&user.token, "/v1/movies/watchlist?cursor=nonsense&limit=0")
        .await;
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn a_deleted_users_watchlist_is_purged() {
    let app = spawn_offline().await;
    let events = app.watchlist_events().await;
    let (user, other) = (app.user().await, app.user().await);
    let ids = movie_ids(&app, 2).await;
    for id in &ids {
        let path = format!("/v1/movies/watchlist/{id}");
        assert_eq!(app.put_as(&user.token, &path).await.status(), 201);
        assert_eq!(app.put_as(&other.token, &path).await.status(), 201);
    }

    let deleted = app
        .publisher()
        .publish(&UserDeleted {
            user_id: user.id.to_string(),
            deleted_at: Some(std::time::SystemTime::now().into()),
        })
        .await;
    app.database.wait_applied(deleted).await;

    assert!(watchlist(&app, &user.token).await.is_empty());
    assert_eq!(
        watchlist(&app, &other.token).await.len(),
        2,
        "others keep theirs"
    );
    let published = events.about(user.id, 4).await;
    let removed: HashSet<i64> = published
        .iter()
        .filter(|e| e.change == WatchlistChange::Removed as i32)
        .map(|e| e.movie_id)
        .collect();
    assert_eq!(removed, ids.iter().copied().collect());
}
