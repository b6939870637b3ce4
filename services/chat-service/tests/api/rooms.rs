//! Rooms over REST: create, search, visibility, joining, members, validation.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn rooms_are_created_found_by_prefix_and_private_ones_stay_hidden() {
    let app = spawn_app().await;
    let ada = app.user("Ada").await;
    let eve = app.user("Eve").await;
    app.room(&ada, "Film noir", "public").await;
    app.room(&ada, "Film festival", "public").await;
    let private = app.room(&ada, "Film secrets", "private").await;
    app.room(&ada, "Music", "public").await;

    let found: Value = app
        .get_as(&eve.token, "/v1/chat/rooms?q=FILM&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["name"], "Film festival");
    let cursor = found["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get_as(
            &eve.token,
            &format!("/v1/chat/rooms?q=film&limit=5&cursor={cursor}"),
        )
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Film noir"], "Eve does not see the private room");
    let mine: Value = app
        .get_as(&ada.token, "/v1/chat/rooms?q=film")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);

    assert_eq!(
        app.get_as(&eve.token, &format!("/v1/chat/rooms/{private}"))
            .await
            .status(),
        404
    );
    let join = app
        .post_as(&eve.token, &format!("/v1/chat/rooms/{private}/join"), None)
        .await;
    assert_eq!(join.status(), 404);
    // The owner lets Eve in.
    let add = app
        .put_as(
            &ada.token,
            &format!("/v1/chat/rooms/{private}/members/{}", eve.id),
        )
        .await;
    assert_eq!(add.status(), 201);
    let room: Value = app
        .get_as(&eve.token, &format!("/v1/chat/rooms/{private}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(room["my_role"], "member");
    let members: Value = app
        .get_as(&eve.token, &format!("/v1/chat/rooms/{private}/members"))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada", "Eve"]);
    let not_owner = app
        .put_as(
            &eve.token,
            &format!("/v1/chat/rooms/{private}/members/{}", ada.id),
        )
        .await;
    assert_eq!(not_owner.status(), 403);
    let leave = app
        .post_as(&eve.token, &format!("/v1/chat/rooms/{private}/leave"), None)
        .await;
    assert_eq!(leave.status(), 204);
    assert_eq!(
        app.get_as(&eve.token, &format!("/v1/chat/rooms/{private}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn bad_input_gets_clear_problems() {
    let app = spawn_app().await;
    let ada = app.user("Ada").await;
    let blank = app
        .post_as(
            &ada.token,
            "/v1/chat/rooms",
            Some(&json!({"name": "  ", "topic": "x".repeat(501)})),
        )
        .await;
    assert_eq!(blank.status(), 422);
    let body: Value = blank.json().await.unwrap();
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    let unknown = app
        .post_as(
            &ada.token,
            "/v1/chat/rooms",
            Some(&json!({"name": "x", "colour": "red"})),
        )
        .await;
    assert_eq!(unknown.status(), 422, "unknown fields are refused");
    assert_eq!(
        app.get_as(&ada.token, "/v1/chat/rooms/not-a-uuid")
            .await
            .status(),
        400
    );
    assert_eq!(
        app.get_as(&ada.token, "/v1/chat/rooms?q=").await.status(),
        422
    );
    let room = app.room(&ada, "Limits", "public").await;
    let history = app
        .get_as(
            &ada.token,
            &format!("/v1/chat/rooms/{room}/messages?limit=0"),
        )
        .await;
    assert_eq!(history.status(), 422);
    let long = app
        .post_as(
            &ada.token,
            &format!("/v1/chat/rooms/{room}/messages"),
            Some(&json!({"client_msg_id": "c", "body": "x".repeat(4001)})),
        )
        .await;
    assert_eq!(long.status(), 422);
    assert_eq!(app.get("/v1/chat/me/rooms").await.status(), 401);
}
