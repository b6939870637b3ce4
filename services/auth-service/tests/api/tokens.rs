//! Access tokens the verifier must refuse, presented to auth-service's own endpoints (which
//! use the common verifier) — each next to a correctly forged one that passes, so the test
//! proves the forging works and only the flaw is refused.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use marquee_common::auth::{AccessClaims, Role};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{AUDIENCE, ISSUER, spawn_app};

fn claims(user: &str, session: &str) -> AccessClaims {
    let now = Utc::now().timestamp();
    AccessClaims {
        sub: user.parse().unwrap(),
        sid: session.parse().unwrap(),
        roles: vec![Role::User],
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + 600,
        jti: Uuid::now_v7(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_misdirected_tokens_are_refused() {
    let app = spawn_app().await;
    let (user_id, _, tokens) = app.signed_in_user().await;
    let keys = app.signing_keys();
    let good = claims(&user_id, &tokens.session_id);

    let status = |token: String| {
        let app = &app;
        async move {
            let response = app.get_as(&token, "/v1/auth/sessions").await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }
    };

    // Control: a token signed with the service's key and right claims passes.
    assert_eq!(status(keys.sign(&good).unwrap()).await.0, 200);

    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good).unwrap());
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"test-key"}"#);
    let alg_none = format!("{none_header}.{payload}.");

    let public_key = URL_SAFE_NO_PAD
        .decode(
            app.get("/.well-known/jwks.json")
                .await
                .json::<Value>()
                .await
                .unwrap()["keys"][0]["x"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some("test-key".into());
    let hmac_with_public_key =
        jsonwebtoken::encode(&hs256, &good, &EncodingKey::from_secret(&public_key)).unwrap();

    let expired = keys
        .sign(&AccessClaims {
            iat: good.iat - 7200,
            exp: good.iat - 3600,
            ..good.clone()
        })
        .unwrap();
    let wrong_audience = keys
        .sign(&AccessClaims {
            aud: "another-api".into(),
            ..good.clone()
        })
        .unwrap();
    let wrong_issuer = keys
        .sign(&AccessClaims {
            iss: "someone-else".into(),
            ..good.clone()
        })
        .unwrap();
    let unknown_kid = auth_service::keys::SigningKeys::generate()
        .sign(&good)
        .unwrap();
    let mut tampered = keys.sign(&good).unwrap();
    let admin_payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&AccessClaims {
            roles: vec![Role::User, Role::Admin],
            ..good.clone()
        })
        .unwrap(),
    );
    let parts: Vec<&str> = tampered.split('.').collect();
    tampered = format!("{}.{admin_payload}.{}", parts[0], parts[2]);

    for (name, token) in [
        ("alg none", alg_none),
        ("HS256 keyed with the public key", hmac_with_public_key),
        ("expired", expired),
        ("wrong aud", wrong_audience),
        ("wrong iss", wrong_issuer),
        ("unknown kid", unknown_kid),
        ("tampered payload", tampered),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        assert_eq!(
            status(token).await,
            (401, "invalid_token".to_owned()),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_verifies_the_issued_tokens() {
    let app = spawn_app().await;
    let (user_id, _, tokens) = app.signed_in_user().await;
    // The verifier knows nothing but the JWKS URL.
    let user = app.verifier().verify(&tokens.access).await.unwrap();
    assert_eq!(user.id.to_string(), user_id);
    let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some("test-key"));
}
