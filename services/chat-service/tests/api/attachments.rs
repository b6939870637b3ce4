//! Attachments: upload with type sniffing and a size limit, download for members only.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{Cluster, spawn_cluster};

/// A valid 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

async fn upload(
    cluster: &Cluster,
    token: &str,
    room: uuid::Uuid,
    name: &str,
    declared: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(declared)
        .unwrap();
    cluster
        .client
        .post(cluster.url(&format!("/v1/chat/rooms/{room}/attachments")))
        .bearer_auth(token)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn attachments_are_sniffed_limited_and_only_members_download_them() {
    let cluster = spawn_cluster(1, |config| config.attachments.max_bytes = 1024).await;
    let ada = cluster.user("Ada").await;
    let eve = cluster.user("Eve").await;
    let room = cluster.room(&ada, "Pictures", "public").await;

    let stored = upload(
        &cluster,
        &ada.token,
        room,
        "../dot.png",
        "application/octet-stream",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(stored.status(), 201);
    let attachment: Value = stored.json().await.unwrap();
    assert_eq!(
        attachment["content_type"], "image/png",
        "recognised from the bytes"
    );
    assert_eq!(attachment["file_name"], "dot.png");

    let script = upload(
        &cluster,
        &ada.token,
        room,
        "x.png",
        "image/png",
        b"<script>alert(1)</script>".to_vec(),
    )
    .await;
    assert_eq!(script.status(), 415);
    let too_big = upload(
        &cluster,
        &ada.token,
        room,
        "big.png",
        "image/png",
        [PNG, &[0u8; 2048]].concat(),
    )
    .await;
    assert_eq!(too_big.status(), 413);
    let outsider = upload(
        &cluster,
        &eve.token,
        room,
        "dot.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(outsider.status(), 403);

    // Sent with a message, then downloaded.
    let id = attachment["id"].as_str().unwrap();
    let path = format!("/v1/chat/rooms/{room}/messages");
    let sent = cluster
        .post_as(
            &ada.token,
            &path,
            Some(&json!({"client_msg_id": "p", "attachment_ids": [id]})),
        )
        .await;
    assert_eq!(sent.status(), 201);
    let reused = cluster
        .post_as(
            &ada.token,
            &path,
            Some(&json!({"client_msg_id": "q", "attachment_ids": [id]})),
        )
        .await;
    assert_eq!(reused.status(), 422, "an attachment is sent once");
    let download_path = format!("/v1/chat/rooms/{room}/attachments/{id}");
    let download = cluster.get_as(&ada.token, &download_path).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
    assert_eq!(download.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(
        cluster.get_as(&eve.token, &download_path).await.status(),
        403
    );
    let missing = format!("/v1/chat/rooms/{room}/attachments/{}", uuid::Uuid::now_v7());
    assert_eq!(cluster.get_as(&ada.token, &missing).await.status(), 404);
}
