//! Messages across instances: fan-out, gap-free seq, idempotent sends, resume, names.

use std::collections::BTreeSet;

use marquee_proto_events::users::v1::UserUpdated;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{join_socket, send, spawn_app, spawn_cluster};

#[tokio::test]
async fn two_clients_on_two_instances_see_each_others_messages() {
    let cluster = spawn_cluster(2, |_| {}).await;
    let ada = cluster.user("Ada").await;
    let bob = cluster.user("Bob").await;
    let room = cluster.room(&ada, "Film club", "public").await;
    let mut ada_socket = cluster.instances[0].socket(&ada).await;
    let mut bob_socket = cluster.instances[1].socket(&bob).await;
    join_socket(&mut ada_socket, room).await;
    join_socket(&mut bob_socket, room).await; // joins the public room, too

    let ack = send(&mut ada_socket, room, "a1", "Seen Metropolis?").await;
    assert_eq!(ack["seq"], 1);
    let seen_by_bob = bob_socket.next_of_type("message").await;
    assert_eq!(seen_by_bob["body"], "Seen Metropolis?");
    assert_eq!(seen_by_bob["sender"]["display_name"], "Ada");
    assert_eq!(seen_by_bob["id"], ack["id"]);

    send(&mut bob_socket, room, "b1", "Twice!").await;
    let seen_by_ada = ada_socket.next_of_type("message").await;
    // Ada's own message arrives first (same room, in order), then Bob's.
    assert_eq!(seen_by_ada["seq"], 1);
    let seen_by_ada = ada_socket.next_of_type("message").await;
    assert_eq!(seen_by_ada["body"], "Twice!");
    assert_eq!(seen_by_ada["seq"], 2);
}

#[tokio::test]
async fn seq_is_gap_free_under_20_concurrent_senders() {
    let cluster = spawn_cluster(2, |_| {}).await;
    let owner = cluster.user("Owner").await;
    let room = cluster.room(&owner, "Busy", "public").await;
    let mut observer = cluster.instances[1].socket(&owner).await;
    join_socket(&mut observer, room).await;
    let names: Vec<String> = (0..20).map(|i| format!("Sender {i}")).collect();
    let senders = cluster
        .users(&names.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    futures::future::join_all(senders.iter().map(|user| cluster.join(user, room))).await;
    let per_sender = 5;
    let sends = senders.iter().enumerate().map(|(i, user)| {
        let instance = &cluster.instances[i % 2];
        async move {
            let mut socket = instance.socket(user).await;
            let mut seqs = Vec::new();
            for n in 0..per_sender {
                let ack = send(&mut socket, room, &format!("{i}-{n}"), "hello").await;
                seqs.push(ack["seq"].as_u64().unwrap());
            }
            seqs
        }
    });
    let acked: BTreeSet<u64> = futures::future::join_all(sends)
        .await
        .into_iter()
        .flatten()
        .collect();
    let total = 20 * per_sender;
    assert_eq!(acked, (1..=total).collect::<BTreeSet<u64>>());
    // The observer on the other instance sees every one, in order, once.
    for expected in 1..=total {
        assert_eq!(observer.next_of_type("message").await["seq"], expected);
    }
}

#[tokio::test]
async fn a_repeated_client_msg_id_is_acknowledged_with_the_original_and_stored_once() {
    let app = spawn_app().await;
    let ada = app.user("Ada").await;
    let room = app.room(&ada, "Retries", "public").await;
    let mut socket = app.socket(&ada).await;
    let first = send(&mut socket, room, "same", "once").await;
    let again = send(&mut socket, room, "same", "once").await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["seq"], again["seq"]);
    let path = format!("/v1/chat/rooms/{room}/messages");
    let rest = app
        .post_as(
            &ada.token,
            &path,
            Some(&json!({"client_msg_id": "same", "body": "once"})),
        )
        .await;
    assert_eq!(rest.status(), 200, "a replay is 200, not 201");
    let history: Value = app.get_as(&ada.token, &path).await.json().await.unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn resume_after_a_disconnect_delivers_exactly_the_missed_messages() {
    let cluster = spawn_cluster(2, |_| {}).await;
    let ada = cluster.user("Ada").await;
    let bob = cluster.user("Bob").await;
    let room = cluster.room(&ada, "Resume", "public").await;
    cluster.join(&bob, room).await;
    let mut bob_socket = cluster.instances[1].socket(&bob).await;
    join_socket(&mut bob_socket, room).await;
    let mut ada_socket = cluster.instances[0].socket(&ada).await;
    send(&mut ada_socket, room, "1", "one").await;
    send(&mut ada_socket, room, "2", "two").await;
    assert_eq!(bob_socket.next_of_type("message").await["seq"], 1);
    assert_eq!(bob_socket.next_of_type("message").await["seq"], 2);
    bob_socket.close().await;

    for n in 3..=6 {
        send(&mut ada_socket, room, &n.to_string(), "missed").await;
    }
    let mut bob_socket = cluster.instances[0].socket(&bob).await;
    bob_socket
        .send_json(&json!({"type": "resume", "room_id": room, "after_seq": 2}))
        .await;
    assert_eq!(bob_socket.next_of_type("joined").await["last_seq"], 2);
    // Live messages sent while the replay runs are neither lost nor repeated.
    send(&mut ada_socket, room, "7", "live").await;
    let mut seqs = Vec::new();
    for _ in 3..=7 {
        seqs.push(
            bob_socket.next_of_type("message").await["seq"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(seqs, vec![3, 4, 5, 6, 7]);
    bob_socket.send_json(&json!({"type": "ping"})).await;
    assert_eq!(
        bob_socket.next_json().await["type"],
        "pong",
        "nothing after 7"
    );
}

#[tokio::test]
async fn a_non_member_can_neither_send_nor_read_the_history() {
    let app = spawn_app().await;
    let ada = app.user("Ada").await;
    let eve = app.user("Eve").await;
    let public = app.room(&ada, "Open", "public").await;
    let private = app.room(&ada, "Closed", "private").await;
    let history = app
        .get_as(&eve.token, &format!("/v1/chat/rooms/{public}/messages"))
        .await;
    assert_eq!(history.status(), 403);
    let body: Value = history.json().await.unwrap();
    assert_eq!(body["code"], "not_a_member");
    let post = app
        .post_as(
            &eve.token,
            &format!("/v1/chat/rooms/{private}/messages"),
            Some(&json!({"client_msg_id": "x", "body": "let me in"})),
        )
        .await;
    assert_eq!(
        post.status(),
        404,
        "a private room does not exist for outsiders"
    );
    let mut socket = app.socket(&eve).await;
    socket
        .send_json(&json!({"type": "send", "room_id": public, "client_msg_id": "x", "body": "hi"}))
        .await;
    let error = socket.next_of_type("error").await;
    assert_eq!(error["code"], "not_a_member");
    assert_eq!(error["client_msg_id"], "x");
    socket
        .send_json(&json!({"type": "join", "room_id": private}))
        .await;
    assert_eq!(socket.next_of_type("error").await["code"], "room_not_found");
}

#[tokio::test]
async fn a_display_name_change_shows_on_later_messages() {
    let cluster = spawn_cluster(2, |_| {}).await;
    let ada = cluster.user("Ada").await;
    let room = cluster.room(&ada, "Names", "public").await;
    let mut watcher = cluster.instances[1].socket(&ada).await;
    join_socket(&mut watcher, room).await;
    let mut socket = cluster.instances[0].socket(&ada).await;
    send(&mut socket, room, "before", "hi").await;
    assert_eq!(
        watcher.next_of_type("message").await["sender"]["display_name"],
        "Ada"
    );

    let renamed = UserUpdated {
        user_id: ada.id.to_string(),
        version: 2,
        display_name: Some("Ada Lovelace".into()),
        updated_at: Some(std::time::SystemTime::now().into()),
        ..UserUpdated::default()
    };
    let id = cluster.publisher().publish(&renamed).await;
    cluster.database.wait_applied(id).await;
    send(&mut socket, room, "after", "hi again").await;
    assert_eq!(
        watcher.next_of_type("message").await["sender"]["display_name"],
        "Ada Lovelace"
    );
    // History shows the current name on every message.
    let history: Value = cluster
        .get_as(&ada.token, &format!("/v1/chat/rooms/{room}/messages"))
        .await
        .json()
        .await
        .unwrap();
    for item in history["items"].as_array().unwrap() {
        assert_eq!(item["sender"]["display_name"], "Ada Lovelace");
    }
}

#[tokio::test]
async fn members_not_viewing_a_room_get_a_notification() {
    let cluster = spawn_cluster(2, |_| {}).await;
    let ada = cluster.user("Ada").await;
    let bob = cluster.user("Bob").await;
    let room = cluster.room(&ada, "Pings", "public").await;
    let mut bob_socket = cluster.instances[1].socket(&bob).await;
    // Bob joins over REST after connecting: the other instance learns it from the signal.
    cluster.join(&bob, room).await;
    let mut ada_socket = cluster.instances[0].socket(&ada).await;
    let notified = async {
        loop {
            send(&mut ada_socket, room, &Uuid::now_v7().to_string(), "psst").await;
            if let Ok(frame) = tokio::time::timeout(
                std::time::Duration::from_millis(500),
                bob_socket.next_of_type("notification"),
            )
            .await
            {
                return frame;
            }
        }
    };
    let notification = tokio::time::timeout(std::time::Duration::from_secs(10), notified)
        .await
        .expect("a notification");
    assert_eq!(notification["room_id"], room.to_string());
    assert_eq!(notification["preview"], "psst");
    let mine: Value = cluster
        .get_as(&bob.token, "/v1/chat/me/rooms")
        .await
        .json()
        .await
        .unwrap();
    assert!(mine["items"][0]["unread"].as_u64().unwrap() >= 1);
}
