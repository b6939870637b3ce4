//! `POST /v1/auth/login` and the JWKS: issued tokens verify with the common verifier.

use serde_json::{Value, json};

use crate::helpers::{email, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_tokens_that_every_service_can_verify() {
    let app = spawn_app().await;
    let address = email();
    let user_id = app.register(&address, "correct horse battery").await;

    let response = app
        .post(
            "/v1/auth/login",
            &json!({"email": address.to_uppercase(), "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 64);

    let user = app
        .verifier()
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(user.id.to_string(), user_id);
    assert_eq!(
        user.session_id.to_string(),
        body["session_id"].as_str().unwrap()
    );
    assert!(!user.is_admin());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_address_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let address = email();
    app.register(&address, "correct horse battery").await;

    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        let mut body: Value = response.json().await.unwrap();
        body.as_object_mut().unwrap().remove("request_id");
        (status, body)
    };
    let wrong_password = answer(
        app.post(
            "/v1/auth/login",
            &json!({"email": address, "password": "wrong horse battery"}),
        )
        .await,
    )
    .await;
    let unknown = answer(
        app.post(
            "/v1/auth/login",
            &json!({"email": email(), "password": "correct horse battery"}),
        )
        .await,
    )
    .await;
    let malformed = answer(
        app.post(
            "/v1/auth/login",
            &json!({"email": "nobody", "password": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(wrong_password.0, 401);
    assert_eq!(wrong_password.1["code"], "invalid_credentials");
    assert_eq!(wrong_password, unknown);
    assert_eq!(wrong_password, malformed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_is_served_at_both_paths_and_the_service_is_ready() {
    let app = spawn_app().await;
    for path in ["/.well-known/jwks.json", "/v1/auth/.well-known/jwks.json"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        let key = &body["keys"][0];
        assert_eq!(
            (
                key["kty"].as_str(),
                key["crv"].as_str(),
                key["alg"].as_str()
            ),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
        );
        assert!(key.get("d").is_none(), "no private part is ever published");
    }
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
}
