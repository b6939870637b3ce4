//! Changing and deleting profiles: who may, what is published, and the guards (If-Match,
//! Idempotency-Key, validation).

use marquee_common::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{created, email, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_s_change_publishes_user_updated_with_the_changed_fields_and_new_version() {
    let app = spawn_app().await;
    let events = app.user_events().await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;

    let response = app
        .patch_as(
            &ada.token,
            "/v1/users/me",
            &json!({"display_name": "Ada Lovelace", "bio": "Analyst", "locale": "en-gb"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["display_name"], "Ada Lovelace");
    assert_eq!(profile["locale"], "en-GB");
    assert_eq!(profile["version"], 2);

    let updated = events.updated(ada.id, 1).await;
    assert_eq!(updated[0].version, 2);
    assert_eq!(updated[0].display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(updated[0].bio.as_deref(), Some("Analyst"));
    assert_eq!(updated[0].locale.as_deref(), Some("en-GB"));
    assert_eq!(updated[0].email, None, "unchanged fields are absent");
    assert_eq!(updated[0].avatar_url, None);

    // Clearing is a present empty text; a change that changes nothing publishes nothing.
    let cleared = app
        .patch_as(&ada.token, "/v1/users/me", &json!({"bio": null}))
        .await;
    assert_eq!(cleared.status(), 200);
    let same = app
        .patch_as(
            &ada.token,
            "/v1/users/me",
            &json!({"display_name": "Ada Lovelace"}),
        )
        .await;
    let same: Value = same.json().await.unwrap();
    assert_eq!(
        same["version"], 3,
        "no version for a change that changes nothing"
    );
    let updated = events.updated(ada.id, 2).await;
    assert_eq!(updated[1].version, 3);
    assert_eq!(updated[1].bio.as_deref(), Some(""));

    // The owner reads the change at once.
    let me: Value = app
        .get_as(&ada.token, "/v1/users/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["display_name"], "Ada Lovelace");
    assert!(me["bio"].is_null());
    assert_eq!(events.updated(ada.id, 2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_may_not_change_or_delete_a_profile_but_an_admin_may() {
    let app = spawn_app().await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let mallory = app.user_with_profile("Mallory", &[Role::User]).await;
    let admin = app.admin().await;
    let path = format!("/v1/users/{}", ada.id);

    let denied = app
        .patch_as(&mallory.token, &path, &json!({"display_name": "Hacked"}))
        .await;
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");
    assert_eq!(app.delete_as(&mallory.token, &path).await.status(), 403);
    // Strangers learn nothing about ids that do not exist either.
    let unknown = format!("/v1/users/{}", Uuid::now_v7());
    assert_eq!(
        app.patch_as(&mallory.token, &unknown, &json!({"bio": "x"}))
            .await
            .status(),
        403
    );

    let by_admin = app
        .patch_as(&admin.token, &path, &json!({"display_name": "Countess"}))
        .await;
    assert_eq!(by_admin.status(), 200);
    let profile: Value = by_admin.json().await.unwrap();
    assert_eq!(profile["display_name"], "Countess");
    assert!(profile["email"].is_string(), "admins see the e-mail");
    assert_eq!(
        app.patch_as(&admin.token, &unknown, &json!({"bio": "x"}))
            .await
            .status(),
        404
    );
    assert_eq!(app.delete_as(&admin.token, &unknown).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_is_412_and_a_current_one_goes_through() {
    let app = spawn_app().await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let patch = |etag: &'static str, name: &'static str| {
        app.client
            .patch(app.url("/v1/users/me"))
            .bearer_auth(&ada.token)
            .header("If-Match", etag)
            .json(&json!({"display_name": name}))
            .send()
    };
    assert_eq!(patch("\"1\"", "First").await.unwrap().status(), 200);
    let stale = patch("\"1\"", "Second").await.unwrap();
    assert_eq!(stale.status(), 412);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["code"], "version_mismatch");
    assert_eq!(patch("W/\"2\"", "Weak").await.unwrap().status(), 412);
    assert_eq!(patch("\"2\"", "Second").await.unwrap().status(), 200);
    assert_eq!(patch("*", "Third").await.unwrap().status(), 200);

    let delete = app
        .client
        .delete(app.url(&format!("/v1/users/{}", ada.id)))
        .bearer_auth(&ada.token)
        .header("If-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 412);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_patch_with_the_same_idempotency_key_is_replayed_not_reapplied() {
    let app = spawn_app().await;
    let events = app.user_events().await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let key = Uuid::now_v7().to_string();
    let send = |body: Value| {
        app.client
            .patch(app.url("/v1/users/me"))
            .bearer_auth(&ada.token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
    };
    let first = send(json!({"bio": "Once"})).await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = send(json!({"bio": "Once"})).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(again["version"], 2);

    let other = send(json!({"bio": "Twice"})).await.unwrap();
    assert_eq!(other.status(), 422);
    let body: Value = other.json().await.unwrap();
    assert_eq!(body["code"], "idempotency_key_reused");

    let me: Value = app
        .get_as(&ada.token, "/v1/users/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["version"], 2, "applied once");
    assert_eq!(events.updated(ada.id, 1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_changes_are_422_naming_every_field_and_a_taken_e_mail_is_409() {
    let app = spawn_app().await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let grace = app.user_with_profile("Grace", &[Role::User]).await;

    let invalid = app
        .patch_as(
            &ada.token,
            "/v1/users/me",
            &json!({
                "display_name": "",
                "avatar_url": "javascript:alert(1)",
                "locale": "klingon-language",
                "bio": "x".repeat(501),
            }),
        )
        .await;
    assert_eq!(invalid.status(), 422);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["code"], "validation_failed");
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["avatar_url", "bio", "display_name", "locale"]);

    for (body, code) in [
        (json!({"role": "admin"}), "invalid_body"),
        (json!({"display_name": 42}), "invalid_body"),
        (json!({"email": null}), "validation_failed"),
    ] {
        let response = app.patch_as(&ada.token, "/v1/users/me", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], code, "{body}");
    }
    let not_json = app
        .client
        .patch(app.url("/v1/users/me"))
        .bearer_auth(&ada.token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);

    let grace_email = app
        .get_as(&grace.token, "/v1/users/me")
        .await
        .json::<Value>()
        .await
        .unwrap()["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let taken = app
        .patch_as(
            &ada.token,
            "/v1/users/me",
            &json!({"email": grace_email.to_uppercase()}),
        )
        .await;
    assert_eq!(taken.status(), 409);
    let body: Value = taken.json().await.unwrap();
    assert_eq!(body["code"], "email_taken");
    let fresh = email();
    let moved = app
        .patch_as(&ada.token, "/v1/users/me", &json!({"email": fresh}))
        .await;
    assert_eq!(moved.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_publishes_user_deleted_and_the_profile_stays_gone() {
    let app = spawn_app().await;
    let events = app.user_events().await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let path = format!("/v1/users/{}", ada.id);
    let admin = app.admin().await;
    // Cached before the delete: the delete must invalidate it.
    assert_eq!(app.get_as(&admin.token, &path).await.status(), 200);

    let deleted = app.delete_as(&ada.token, &path).await;
    assert_eq!(deleted.status(), 204);
    let events_about = events.deleted(ada.id, 1).await;
    assert_eq!(events_about[0].user_id, ada.id.to_string());
    assert!(events_about[0].deleted_at.is_some());

    let gone = app.get_as(&admin.token, &path).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(app.delete_as(&admin.token, &path).await.status(), 404);

    // A replayed UserCreated does not bring the profile back.
    let replay = app
        .publisher()
        .publish(&created(ada.id, &email(), "Ada again"))
        .await;
    app.database.wait_applied(replay).await;
    assert_eq!(app.get_as(&admin.token, &path).await.status(), 404);
}
