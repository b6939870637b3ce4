//! A user's journey through the whole platform ([`Platform`]), driven through the gateway
//! only, the way the frontend uses it.

use std::time::Duration;

use marquee_testkit::{ApiClient, WsClient, eventually_async};
use serde_json::{Value, json};

use crate::platform::{Options, PASSWORD, Platform};

/// Open chat sockets on one chat instance, read from its metrics.
async fn open_sockets(port: u16) -> f64 {
    ApiClient::new(port).metric("chat_connections", &[]).await
}

#[tokio::test]
async fn a_user_journey_through_the_gateway() {
    let platform = Platform::start(Options::default()).await;
    let api = &platform.gateway;

    // Register with a trace of our own: every hop must continue it.
    let trace_id = format!("{:032x}", uuid::Uuid::now_v7().as_u128());
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let registered = marquee_testkit::test_client()
        .post(api.url("/v1/auth/register"))
        .header("traceparent", &traceparent)
        .json(&json!({
            "email": "ada@example.com",
            "password": PASSWORD,
            "display_name": "Ada"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    assert!(registered.headers().contains_key("x-request-id"));
    let ada_id = registered.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ada = platform.sign_in("ada@example.com").await;
    let (_, bob) = platform.sign_up("bob@example.com", "Bob").await;

    // The profile appears once user-service has consumed UserCreated.
    let profile: Value = eventually_async(
        Duration::from_secs(20),
        "profile from UserCreated",
        || async {
            let response = api.get_as(&ada, "/v1/users/me").await;
            (response.status() == 200).then_some(response.json().await.unwrap())
        },
    )
    .await;
    assert_eq!(profile["display_name"], "Ada");
    assert_eq!(profile["id"], ada_id.as_str());

    // One trace: gateway → auth handler → outbox publish → user-service's consumer.
    let spans = platform
        .otlp
        .wait_for_trace(&trace_id, Duration::from_secs(20), |spans| {
            let has = |service: &str, name: &dyn Fn(&str) -> bool| {
                spans.iter().any(|s| s.service == service && name(&s.name))
            };
            has("gateway", &|_| true)
                && has("auth-service", &|n| n.contains("/v1/auth/register"))
                && has("auth-service", &|n| n == "publish")
                && has("user-service", &|n| n == "consume")
        })
        .await;
    let gateway_span = spans.iter().find(|s| s.service == "gateway").unwrap();
    assert_eq!(gateway_span.parent_span_id, "00f067aa0ba902b7");
    let auth_span = spans
        .iter()
        .find(|s| s.service == "auth-service" && s.name.contains("/v1/auth/register"))
        .unwrap();
    assert!(
        spans
            .iter()
            .any(|s| s.service == "gateway" && s.span_id == auth_span.parent_span_id),
        "auth's request span hangs under a gateway span: {spans:#?}"
    );
    let publish = spans.iter().find(|s| s.name == "publish").unwrap();
    let consume = spans
        .iter()
        .find(|s| s.service == "user-service" && s.name == "consume")
        .unwrap();
    assert_eq!(consume.parent_span_id, publish.span_id);

    // A new display name, which chat learns from UserUpdated.
    let etag = format!("\"{}\"", profile["version"]);
    let renamed = marquee_testkit::test_client()
        .patch(api.url("/v1/users/me"))
        .bearer_auth(&ada)
        .header("if-match", etag)
        .json(&json!({"display_name": "Ada Lovelace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200, "{:?}", renamed.text().await);

    // A room, and two sockets through the gateway on different chat instances.
    let room = api
        .post_as(
            &ada,
            "/v1/chat/rooms",
            Some(&json!({"name": "Film club", "visibility": "public"})),
        )
        .await;
    assert_eq!(room.status(), 201, "{:?}", room.text().await);
    let room_id = room.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let joined = api
        .post_as(&bob, &format!("/v1/chat/rooms/{room_id}/join"), None)
        .await;
    assert!(joined.status().is_success(), "{:?}", joined.text().await);

    let mut ada_socket = WsClient::connect(platform.gateway_port, "/v1/chat/ws", &ada).await;
    let mut bob_socket = WsClient::connect(platform.gateway_port, "/v1/chat/ws", &bob).await;
    let [first, second] = platform.chat_ports;
    eventually_async(
        Duration::from_secs(5),
        "one socket on each chat instance",
        || async {
            (open_sockets(first).await == 1.0 && open_sockets(second).await == 1.0).then_some(())
        },
    )
    .await;
    for socket in [&mut ada_socket, &mut bob_socket] {
        socket
            .send_json(&json!({"type": "join", "room_id": room_id}))
            .await;
        socket.next_of_type("joined").await;
    }

    // Chat's directory may take a moment to apply UserUpdated: send until the new name shows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let message = loop {
        ada_socket
            .send_json(&json!({
                "type": "send",
                "room_id": room_id,
                "client_msg_id": uuid::Uuid::now_v7().to_string(),
                "body": "Seen Metropolis?"
            }))
            .await;
        ada_socket.next_of_type("ack").await;
        let seen: Value = bob_socket.next_of_type("message").await;
        if seen["sender"]["display_name"] == "Ada Lovelace" {
            break seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chat never showed the new display name: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(message["body"], "Seen Metropolis?");
    // Bob's name reaches chat's directory from his UserCreated, too.
    let members = format!("/v1/chat/rooms/{room_id}/members");
    eventually_async(
        Duration::from_secs(20),
        "Bob's name in chat's directory",
        || async {
            let text = api
                .get_as(&bob, &members)
                .await
                .text()
                .await
                .unwrap_or_default();
            text.contains("\"Bob\"").then_some(())
        },
    )
    .await;
    bob_socket
        .send_json(&json!({
            "type": "send",
            "room_id": room_id,
            "client_msg_id": "bob-1",
            "body": "Twice!"
        }))
        .await;
    loop {
        let seen = ada_socket.next_of_type("message").await;
        if seen["body"] == "Twice!" {
            assert_eq!(seen["sender"]["display_name"], "Bob");
            break;
        }
    }

    // Movies from the offline catalogue, and a watchlist.
    let popular = api.get_as(&ada, "/v1/movies/popular").await;
    assert_eq!(popular.status(), 200);
    let popular: Value = popular.json().await.unwrap();
    let movie_id = popular["results"][0]["id"].as_i64().unwrap();
    let added = api
        .put_as(&ada, &format!("/v1/movies/watchlist/{movie_id}"))
        .await;
    assert!(added.status().is_success(), "{:?}", added.text().await);
    let watchlist: Value = api
        .get_as(&ada, "/v1/movies/watchlist")
        .await
        .json()
        .await
        .unwrap();
    assert!(watchlist.to_string().contains(&movie_id.to_string()));

    // Logout: within a second the old token is refused everywhere, and chat closes sockets.
    let logout = api.post_as(&ada, "/v1/auth/logout", None).await;
    assert!(logout.status().is_success(), "{:?}", logout.text().await);
    eventually_async(
        Duration::from_secs(1),
        "the old token refused everywhere",
        || async {
            let users = api.get_as(&ada, "/v1/users/me").await.status();
            let movies = api.get_as(&ada, "/v1/movies/watchlist").await.status();
            let chat = api.get_as(&ada, "/v1/chat/me/rooms").await.status();
            (users == 401 && movies == 401 && chat == 401).then_some(())
        },
    )
    .await;
    assert_eq!(ada_socket.closed().await, Some(4001));

    // Deleting the account (as the user, with a fresh sign-in) ends signing in.
    let ada = platform.sign_in("ada@example.com").await;
    let deleted = api.delete_as(&ada, &format!("/v1/users/{ada_id}")).await;
    assert!(deleted.status().is_success(), "{:?}", deleted.text().await);
    eventually_async(
        Duration::from_secs(20),
        "sign-in refused after deletion",
        || async {
            let response = api
                .post(
                    "/v1/auth/login",
                    &json!({"email": "ada@example.com", "password": PASSWORD}),
                )
                .await;
            (response.status() == 401).then_some(())
        },
    )
    .await;
}
