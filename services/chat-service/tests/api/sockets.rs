//! The WebSocket edge: authentication, bad frames, revoked sessions, presence, slow clients.

use marquee_proto_events::sessions::v1::{RevocationReason, SessionRevoked};
use marquee_testkit::{WsClient, WsOptions, eventually_async};
use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{join_socket, send, spawn_app, spawn_cluster};

#[tokio::test]
async fn an_upgrade_without_a_valid_token_is_refused_before_upgrading() {
    let app = spawn_app().await;
    for options in [
        WsOptions::default(),
        WsOptions {
            bearer: Some("not-a-token".into()),
            ..WsOptions::default()
        },
    ] {
        let refused = WsClient::try_connect(app.port, "/v1/chat/ws", &options)
            .await
            .expect_err("refused");
        match refused {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                assert_eq!(response.status(), 401);
            }
            other => panic!("expected an HTTP refusal, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_page_from_another_site_cannot_open_a_socket_even_without_the_gateway() {
    let app = spawn_app().await;
    let ada = app.user("Ada").await;
    let from = |origin: &str| WsOptions {
        bearer: Some(ada.token.clone()),
        origin: Some(origin.to_owned()),
        ..WsOptions::default()
    };
    let refused = WsClient::try_connect(app.port, "/v1/chat/ws", &from("https://evil.example"))
        .await
        .expect_err("refused");
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
    // A page served from the host the socket is opened on is the same site.
    let same_site = from(&format!("http://127.0.0.1:{}", app.port));
    let (mut socket, _) = WsClient::try_connect(app.port, "/v1/chat/ws", &same_site)
        .await
        .expect("upgraded");
    socket.send_json(&json!({"type": "ping"})).await;
    assert_eq!(socket.next_json().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn browsers_authenticate_with_the_subprotocol_and_get_it_selected() {
    let app = spawn_app().await;
    let ada = app.user("Ada").await;
    let options = WsOptions {
        protocols: Some(format!("marquee.chat.v1, bearer.{}", ada.token)),
        ..WsOptions::default()
    };
    let (mut socket, response) = WsClient::try_connect(app.port, "/v1/chat/ws", &options)
        .await
        .expect("upgraded");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "marquee.chat.v1"
    );
    socket.send_json(&json!({"type": "ping"})).await;
    assert_eq!(socket.next_json().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn malformed_frames_get_error_frames_and_repeated_abuse_closes_the_socket() {
    let cluster = spawn_cluster(1, |config| config.chat.max_strikes = 3).await;
    let ada = cluster.user("Ada").await;
    let mut socket = cluster.socket(&ada).await;
    socket.send_text("{not json").await;
    let error = socket.next_of_type("error").await;
    assert_eq!(error["code"], "bad_frame");
    socket.send_json(&json!({"type": "teleport"})).await;
    assert_eq!(socket.next_of_type("error").await["code"], "bad_frame");
    let oversized = json!({"type": "ping", "pad": "x".repeat(20_000)});
    socket.send_json(&oversized).await;
    assert_eq!(
        socket.next_of_type("error").await["code"],
        "frame_too_large"
    );
    // Still served between strikes.
    socket.send_json(&json!({"type": "ping"})).await;
    assert_eq!(socket.next_of_type("pong").await["type"], "pong");
    socket.send_text("[]").await;
    assert_eq!(socket.closed().await, Some(1008));
}

#[tokio::test]
async fn a_revoked_session_closes_its_sockets_on_every_instance() {
    let cluster = spawn_cluster(2, |_| {}).await;
    let ada = cluster.user("Ada").await;
    let mut on_a = cluster.instances[0].socket(&ada).await;
    let mut on_b = cluster.instances[1].socket(&ada).await;
    for socket in [&mut on_a, &mut on_b] {
        socket.send_json(&json!({"type": "ping"})).await;
        socket.next_of_type("pong").await;
    }
    cluster.identity.sign_out(&ada).await;
    cluster
        .publisher()
        .publish(&SessionRevoked {
            session_id: ada.session_id.to_string(),
            user_id: ada.id.to_string(),
            reason: RevocationReason::Logout.into(),
            revoked_at: Some(std::time::SystemTime::now().into()),
        })
        .await;
    assert_eq!(on_a.closed().await, Some(4001));
    assert_eq!(on_b.closed().await, Some(4001));
}

#[tokio::test]
async fn presence_shows_a_user_and_then_drops_them() {
    let cluster = spawn_cluster(2, |_| {}).await;
    let ada = cluster.user("Ada").await;
    let bob = cluster.user("Bob").await;
    let room = cluster.room(&ada, "Lobby", "public").await;
    cluster.join(&bob, room).await;
    let mut ada_socket = cluster.instances[0].socket(&ada).await;
    join_socket(&mut ada_socket, room).await;
    let mut bob_socket = cluster.instances[1].socket(&bob).await;
    let joined = join_socket(&mut bob_socket, room).await;
    let online: Vec<String> = joined["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["display_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        online.contains(&"Ada".to_owned()) && online.contains(&"Bob".to_owned()),
        "{joined}"
    );
    // Ada (on the other instance) hears that Bob came online, then that he left.
    let bob_id = bob.id.to_string();
    let mut about_bob = async || loop {
        let presence = ada_socket.next_of_type("presence").await;
        if presence["user_id"] == bob_id.as_str() {
            return presence;
        }
    };
    assert_eq!(about_bob().await["online"], true);
    bob_socket.close().await;
    assert_eq!(about_bob().await["online"], false);
    let path = format!("/v1/chat/rooms/{room}/presence");
    eventually_async(
        Duration::from_secs(10),
        "Bob to drop out of presence",
        || async {
            let list: Value = cluster.get_as(&ada.token, &path).await.json().await.ok()?;
            let ids: Vec<&str> = list
                .as_array()?
                .iter()
                .filter_map(|u| u["user_id"].as_str())
                .collect();
            (ids == [ada.id.to_string().as_str()]).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_without_delaying_the_others() {
    // Large messages fill the kernel's buffers (a few MB on loopback) in a few dozen sends.
    let cluster = spawn_cluster(1, |config| {
        config.chat.send_queue = 32;
        config.chat.max_body_chars = 64_000;
        config.chat.max_frame_bytes = 96 * 1024;
        // A socket that takes nothing for a second is not reading.
        config.chat.write_timeout = Duration::from_secs(1);
    })
    .await;
    let ada = cluster.user("Ada").await;
    let sloth = cluster.user("Sloth").await;
    let room = cluster.room(&ada, "Firehose", "public").await;
    cluster.join(&sloth, room).await;
    let mut slow = cluster.socket_with_small_buffer(&sloth).await;
    join_socket(&mut slow, room).await;
    let mut reader = cluster.socket(&ada).await;
    join_socket(&mut reader, room).await;
    let mut writer = cluster.socket(&ada).await;

    // The slow client stops reading; messages of ~60 KB each overflow its buffers and queue.
    // They go in rounds of 8: the writer is never more than 8 messages ahead of the reader,
    // so however loaded the machine, only the client that does not read at all can fall the
    // queue's 32 behind. Rounds go on until it has been disconnected, at most 1000 messages.
    let body = "x".repeat(60_000);
    let round = 8;
    let mut sent = 0;
    while cluster
        .metric("chat_disconnects_total", &[("reason", "slow_consumer")])
        .await
        < 1.0
    {
        assert!(
            sent < 1000,
            "the slow consumer is still connected after {sent} messages"
        );
        for i in sent..sent + round {
            send(&mut writer, room, &format!("m{i}"), &body).await;
        }
        for expected in sent + 1..=sent + round {
            let message = reader.next_of_type("message").await;
            assert_eq!(
                message["seq"], expected,
                "the reader gets every message in order"
            );
        }
        sent += round;
    }
    assert_eq!(
        cluster
            .metric("chat_disconnects_total", &[("reason", "slow_consumer")])
            .await,
        1.0
    );
    // Its buffers were full, so the close frame (4008) may not fit; the connection ends.
    let code = slow.closed().await;
    assert!(matches!(code, None | Some(4008)), "{code:?}");
}

#[tokio::test]
async fn a_burst_beyond_the_queue_is_caught_up_in_order_without_disconnecting() {
    // As after an outage: far more messages arrive for a socket than its queue holds, while
    // the client is briefly not reading (its buffers full). It is behind, not dead.
    let cluster = spawn_cluster(1, |config| {
        config.chat.send_queue = 8;
        config.chat.max_body_chars = 64_000;
        config.chat.max_frame_bytes = 96 * 1024;
        config.chat.send_rate = 1000.0;
        config.chat.send_burst = 1000;
        config.chat.write_timeout = Duration::from_secs(60);
    })
    .await;
    let ada = cluster.user("Ada").await;
    let bea = cluster.user("Bea").await;
    let room = cluster.room(&ada, "Backlog", "public").await;
    cluster.join(&bea, room).await;
    let mut behind = cluster.socket_with_small_buffer(&bea).await;
    join_socket(&mut behind, room).await;
    let mut writer = cluster.socket(&ada).await;

    // ~60 KB messages while `behind` reads nothing, in rounds until its socket buffers, its
    // session and its queue of 8 are full and a message does not fit (a few MB).
    let body = "y".repeat(60_000);
    let mut count = 0;
    while cluster
        .metric("chat_frames_deferred_total", &[("kind", "message")])
        .await
        < 1.0
    {
        assert!(count < 400, "{count} messages and nothing was deferred");
        for i in count..count + 8 {
            send(&mut writer, room, &format!("b{i}"), &body).await;
        }
        count += 8;
    }
    // Reading again, the client gets every message once, in order.
    for expected in 1..=count {
        let message = behind.next_of_type("message").await;
        assert_eq!(message["seq"], expected);
    }
    assert_eq!(
        cluster
            .metric("chat_disconnects_total", &[("reason", "slow_consumer")])
            .await,
        0.0
    );
    behind.send_json(&json!({"type": "ping"})).await;
    assert_eq!(behind.next_of_type("pong").await["type"], "pong");
}
