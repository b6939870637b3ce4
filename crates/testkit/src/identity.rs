//! Signed-in users for the tests of services that verify access tokens.
//!
//! [`TestIdentity`] plays auth-service's part: it holds an Ed25519 key, serves its JWKS on a
//! local HTTP server (point `AUTH_JWKS_URL` at [`TestIdentity::jwks_url`]), and signs in users
//! by writing their session to Redis and signing an access token for it — exactly what the
//! common verifier checks. Logging out deletes the session.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use marquee_common::{
    auth::{AccessClaims, Role, VerifierConfig, session_key},
    redis::{RedisConfig, connect},
};
use serde_json::json;
use uuid::Uuid;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

pub const ISSUER: &str = "marquee-auth";
pub const AUDIENCE: &str = "marquee-api";

/// An issuer of access tokens for tests.
pub struct TestIdentity {
    server: MockServer,
    kid: String,
    key: EncodingKey,
    redis: marquee_common::redis::RedisConnection,
}

impl std::fmt::Debug for TestIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIdentity")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub session_id: Uuid,
    pub token: String,
}

impl TestIdentity {
    pub async fn start() -> Self {
        let signing = SigningKey::from_bytes(&rand::random());
        let kid = format!("test-{}", Uuid::now_v7());
        let der = signing.to_pkcs8_der().expect("PKCS#8");
        let server = MockServer::start().await;
        Mock::given(path("/.well-known/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [{
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes()),
            }]})))
            .mount(&server)
            .await;
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        Self {
            server,
            kid,
            key: EncodingKey::from_ed_der(der.as_bytes()),
            redis: connect(&RedisConfig::for_url(url)).expect("Redis URL"),
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.server.uri())
    }

    /// Verifier settings for a service under test (no session cache: logouts show at once).
    pub fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            jwks_url: self.jwks_url(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_cache_ttl: Duration::from_secs(300),
            session_cache_ttl: Duration::ZERO,
            sessions_fail_open: true,
            leeway: Duration::from_secs(30),
        }
    }

    /// Signs `user` in (a new session) with `roles`.
    pub async fn sign_in(&self, user: Uuid, roles: &[Role]) -> TestUser {
        let session_id = Uuid::now_v7();
        redis::pipe()
            .hset(session_key(session_id), "user_id", user.to_string())
            .ignore()
            .expire(session_key(session_id), 3600)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
            .expect("session written");
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user,
            sid: session_id,
            roles: roles.to_vec(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + 900,
            jti: Uuid::now_v7(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        TestUser {
            id: user,
            session_id,
            token: jsonwebtoken::encode(&header, &claims, &self.key).expect("signed"),
        }
    }

    /// Ends `user`'s session, as a logout does.
    pub async fn sign_out(&self, user: &TestUser) {
        redis::cmd("DEL")
            .arg(session_key(user.session_id))
            .query_async::<()>(&mut self.redis.clone())
            .await
            .expect("session deleted");
    }
}
