//! The common token verifier against a JWKS served over HTTP and sessions in the real Redis:
//! only EdDSA tokens signed by a published key, for our issuer and audience, within their
//! lifetime and with a live session, get through.

use std::time::Duration;

use actix_web::{App, HttpResponse, http::StatusCode, test, web};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use marquee_common::{
    auth::{
        ACCESS_COOKIE, AccessClaims, AuthError, AuthUser, Role, TokenVerifier, VerifierConfig,
        session_key,
    },
    redis::{RedisConfig, connect},
};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

const ISSUER: &str = "marquee-auth";
const AUDIENCE: &str = "marquee-api";

/// An Ed25519 signing key as auth-service would hold it.
struct Signer {
    kid: String,
    key: SigningKey,
}

impl Signer {
    fn new() -> Self {
        Self {
            kid: Uuid::now_v7().to_string(),
            key: SigningKey::from_bytes(&rand::random()),
        }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes()),
        })
    }

    fn sign(&self, claims: &Value) -> String {
        let der = self.key.to_pkcs8_der().unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }
}

fn claims(session: Uuid) -> Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::to_value(AccessClaims {
        sub: Uuid::now_v7(),
        sid: session,
        roles: vec![Role::User],
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + 900,
        jti: Uuid::now_v7(),
    })
    .unwrap()
}

async fn jwks_server(keys: &[&Signer]) -> MockServer {
    let server = MockServer::start().await;
    serve_keys(&server, keys).await;
    server
}

async fn serve_keys(server: &MockServer, keys: &[&Signer]) {
    server.reset().await;
    serve_keys_keeping_mocks(server, keys).await;
}

/// Adds the JWKS answer without removing the mocks already mounted.
async fn serve_keys_keeping_mocks(server: &MockServer, keys: &[&Signer]) {
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()
        })))
        .mount(server)
        .await;
}

fn config(jwks: &MockServer) -> VerifierConfig {
    VerifierConfig {
        jwks_url: format!("{}/.well-known/jwks.json", jwks.uri()),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_cache_ttl: Duration::from_secs(300),
        session_cache_ttl: Duration::ZERO,
        sessions_fail_open: true,
        leeway: Duration::from_secs(30),
    }
}

fn redis() -> marquee_common::redis::RedisConnection {
    connect(&RedisConfig::for_url("redis://127.0.0.1:6379")).unwrap()
}

/// A live session in Redis, as auth-service would create it.
async fn open_session() -> Uuid {
    let session = Uuid::now_v7();
    let mut redis = redis();
    let _: () = redis::cmd("SET")
        .arg(session_key(session))
        .arg("{}")
        .arg("EX")
        .arg(600)
        .query_async(&mut redis)
        .await
        .unwrap();
    session
}

async fn end_session(session: Uuid) {
    let _: () = redis::cmd("DEL")
        .arg(session_key(session))
        .query_async(&mut redis())
        .await
        .unwrap();
}

/// One published key, a verifier reading it, and a live session.
struct Fixture {
    signer: Signer,
    jwks: MockServer,
    verifier: TokenVerifier,
    session: Uuid,
}

async fn fixture() -> Fixture {
    let signer = Signer::new();
    let jwks = jwks_server(&[&signer]).await;
    let verifier = TokenVerifier::new(config(&jwks), redis());
    Fixture {
        signer,
        jwks,
        verifier,
        session: open_session().await,
    }
}

#[tokio::test]
async fn a_token_signed_by_a_published_key_with_a_live_session_is_accepted() {
    let Fixture {
        signer,
        jwks: _jwks,
        verifier,
        session,
    } = fixture().await;
    let claims = claims(session);

    let user = verifier.verify(&signer.sign(&claims)).await.unwrap();
    assert_eq!(user.id.to_string(), claims["sub"].as_str().unwrap());
    assert_eq!(user.session_id, session);
    assert_eq!(user.roles, [Role::User]);
    assert!(!user.is_admin());
}

#[tokio::test]
async fn a_token_whose_session_ended_is_refused() {
    let Fixture {
        signer,
        jwks: _jwks,
        verifier,
        session,
    } = fixture().await;
    let token = signer.sign(&claims(session));
    verifier.verify(&token).await.unwrap();

    end_session(session).await;
    assert!(matches!(
        verifier.verify(&token).await,
        Err(AuthError::SessionEnded)
    ));
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_refused() {
    let Fixture {
        signer,
        jwks: _jwks,
        verifier,
        session,
    } = fixture().await;
    let good = claims(session);
    let now = chrono::Utc::now().timestamp();

    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        signer.sign(&c)
    };
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(good.to_string());
        format!("{header}.{body}.")
    };
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(signer.kid.clone());
        let public = signer.key.verifying_key().to_bytes();
        encode(&header, &good, &EncodingKey::from_secret(&public)).unwrap()
    };
    let other_key = Signer {
        kid: signer.kid.clone(),
        key: SigningKey::from_bytes(&rand::random()),
    };
    let unknown_kid = Signer::new();
    let tampered = {
        let token = signer.sign(&good);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut body = good.clone();
        body["roles"] = json!(["admin"]);
        parts[1] = URL_SAFE_NO_PAD.encode(body.to_string());
        parts.join(".")
    };

    let cases = [
        ("alg none", unsigned),
        ("HS256 signed with the public key", hs256_with_public_key),
        (
            "signed by another key under a known kid",
            other_key.sign(&good),
        ),
        ("unknown kid", unknown_kid.sign(&good)),
        ("tampered claims", tampered),
        ("expired", with("exp", json!(now - 120))),
        // Beyond the 30 s clock skew: no working auth-service issued this yet.
        ("issued an hour from now", with("iat", json!(now + 3600))),
        (
            "valid only from an hour from now",
            with("nbf", json!(now + 3600)),
        ),
        ("wrong audience", with("aud", json!("another-api"))),
        ("wrong issuer", with("iss", json!("someone-else"))),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let result = verifier.verify(&token).await;
        assert!(
            matches!(result, Err(AuthError::InvalidToken(_))),
            "{what}: {result:?}"
        );
    }
    // Sanity: the untouched token passes, so each case failed for its own reason.
    verifier.verify(&signer.sign(&good)).await.unwrap();
}

#[tokio::test]
async fn unknown_kids_cause_at_most_one_jwks_request_per_interval() {
    let Fixture {
        signer,
        jwks,
        verifier,
        session,
    } = fixture().await;
    verifier
        .verify(&signer.sign(&claims(session)))
        .await
        .unwrap();

    // Tokens under kids nobody published: the keys were fetched a moment ago, so none of
    // them may trigger another fetch before JWKS_MIN_REFETCH has passed.
    for _ in 0..20 {
        let stranger = Signer::new();
        assert!(
            verifier
                .verify(&stranger.sign(&claims(session)))
                .await
                .is_err()
        );
    }
    let requests = jwks.received_requests().await.unwrap().len();
    assert_eq!(requests, 1, "unknown kids caused {requests} JWKS requests");
}

#[tokio::test]
async fn keys_are_refetched_for_an_unknown_kid_once_the_cache_may_refresh() {
    let old = Signer::new();
    let jwks = jwks_server(&[&old]).await;
    let verifier = TokenVerifier::new(config(&jwks), redis());
    let session = open_session().await;
    // No fetch yet: the first token with the new key makes the verifier fetch.
    let new = Signer::new();
    serve_keys(&jwks, &[&old, &new]).await;
    verifier.verify(&new.sign(&claims(session))).await.unwrap();
    verifier.verify(&old.sign(&claims(session))).await.unwrap();
    assert_eq!(
        jwks.received_requests().await.unwrap().len(),
        1,
        "one fetch serves both keys"
    );
}

#[tokio::test]
async fn malformed_jwks_entries_are_ignored_not_fatal() {
    let signer = Signer::new();
    let jwks = MockServer::start().await;
    Mock::given(matchers::path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"},
            {"kty": "RSA", "kid": "rsa", "n": "xyz", "e": "AQAB"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "no-x"},
            signer.jwk(),
        ]})))
        .mount(&jwks)
        .await;
    let verifier = TokenVerifier::new(config(&jwks), redis());
    let session = open_session().await;
    verifier
        .verify(&signer.sign(&claims(session)))
        .await
        .unwrap();
    let short = Signer {
        kid: "short".into(),
        key: SigningKey::from_bytes(&rand::random()),
    };
    assert!(matches!(
        verifier.verify(&short.sign(&claims(session))).await,
        Err(AuthError::InvalidToken(_))
    ));
}

#[tokio::test]
async fn an_unreachable_jwks_makes_verification_unavailable_not_lenient() {
    let signer = Signer::new();
    let jwks = jwks_server(&[&signer]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = signer.sign(&claims(open_session().await));
    let mut no_jwks = config(&jwks);
    no_jwks.jwks_url = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    let verifier = TokenVerifier::new(no_jwks, redis());
    assert!(matches!(
        verifier.verify(&token).await,
        Err(AuthError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_jwks_that_failed_before_any_key_was_fetched_is_tried_again_within_seconds() {
    let Fixture {
        signer,
        jwks,
        verifier,
        session,
    } = fixture().await;
    // auth-service answers 503 once (starting up, say), then serves its keys.
    jwks.reset().await;
    Mock::given(matchers::path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&jwks)
        .await;
    serve_keys_keeping_mocks(&jwks, &[&signer]).await;
    let token = signer.sign(&claims(session));
    assert!(matches!(
        verifier.verify(&token).await,
        Err(AuthError::Unavailable(_))
    ));
    // Not for JWKS_MIN_REFETCH (10 s): the next fetch is allowed after a second.
    marquee_testkit::eventually_async(
        Duration::from_secs(5),
        "the token to verify once the JWKS answers",
        || async { verifier.verify(&token).await.ok() },
    )
    .await;
    let fetches = jwks.received_requests().await.unwrap().len();
    assert_eq!(fetches, 2, "one failed fetch, one that succeeded");
}

async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "id": user.id, "admin": user.is_admin() }))
}

#[actix_web::test]
async fn the_extractor_reads_bearer_tokens_and_cookies_and_answers_problems() {
    let signer = Signer::new();
    let jwks = jwks_server(&[&signer]).await;
    let verifier = TokenVerifier::new(config(&jwks), redis());
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier))
            .route("/me", web::get().to(whoami)),
    )
    .await;
    let session = open_session().await;
    let mut admin = claims(session);
    admin["roles"] = json!(["user", "admin"]);
    let token = signer.sign(&admin);

    let bearer = test::TestRequest::get()
        .uri("/me")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let body: Value = test::call_and_read_body_json(&app, bearer).await;
    assert_eq!(body["admin"], true);

    let cookie = test::TestRequest::get()
        .uri("/me")
        .cookie(actix_web::cookie::Cookie::new(ACCESS_COOKIE, token.clone()))
        .to_request();
    assert_eq!(
        test::call_service(&app, cookie).await.status(),
        StatusCode::OK
    );

    let anonymous =
        test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let body: Value = test::read_body_json(anonymous).await;
    assert_eq!(body["code"], "missing_token");

    end_session(session).await;
    let revoked = test::TestRequest::get()
        .uri("/me")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let response = test::call_service(&app, revoked).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["code"], "session_ended");
}

#[tokio::test]
async fn a_failing_jwks_is_asked_once_per_interval_not_once_per_request() {
    let signer = Signer::new();
    let jwks = MockServer::start().await;
    Mock::given(matchers::path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&jwks)
        .await;
    let verifier = TokenVerifier::new(config(&jwks), redis());
    let token = signer.sign(&claims(open_session().await));
    for _ in 0..5 {
        assert!(matches!(
            verifier.verify(&token).await,
            Err(AuthError::Unavailable(_))
        ));
    }
    assert_eq!(jwks.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn without_redis_valid_tokens_pass_unchecked_only_when_configured_to() {
    let mut server = marquee_testkit::RedisProcess::start().await;
    let signer = Signer::new();
    let jwks = jwks_server(&[&signer]).await;
    let private_redis = || connect(&RedisConfig::for_url(server.url())).unwrap();
    let open = TokenVerifier::new(config(&jwks), private_redis());
    let closed = TokenVerifier::new(
        VerifierConfig {
            sessions_fail_open: false,
            ..config(&jwks)
        },
        private_redis(),
    );
    let session = Uuid::now_v7();
    let _: () = redis::cmd("SET")
        .arg(session_key(session))
        .arg("{}")
        .query_async(&mut private_redis())
        .await
        .unwrap();
    let token = signer.sign(&claims(session));
    open.verify(&token).await.unwrap();
    closed.verify(&token).await.unwrap();

    server.stop().await;
    open.verify(&token)
        .await
        .expect("a valid token passes while sessions cannot be checked");
    assert!(matches!(
        closed.verify(&token).await,
        Err(AuthError::Unavailable(_))
    ));
    // Only the session check lapses: a forged or expired token is still refused.
    let mut expired = claims(session);
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 120);
    assert!(matches!(
        open.verify(&signer.sign(&expired)).await,
        Err(AuthError::InvalidToken(_))
    ));
    assert!(matches!(
        open.verify(&Signer::new().sign(&claims(session))).await,
        Err(AuthError::InvalidToken(_))
    ));
}

#[tokio::test]
async fn a_remembered_token_still_expires_and_a_tampered_copy_is_checked_afresh() {
    let Fixture {
        signer,
        jwks,
        session,
        ..
    } = fixture().await;
    let verifier = TokenVerifier::new(
        VerifierConfig {
            leeway: Duration::ZERO,
            ..config(&jwks)
        },
        redis(),
    );
    let mut short_lived = claims(session);
    let expires = chrono::Utc::now().timestamp() + 2;
    short_lived["exp"] = json!(expires);
    let token = signer.sign(&short_lived);
    verifier
        .verify(&token)
        .await
        .expect("valid until it expires");
    verifier.verify(&token).await.expect("remembered");

    // The same header and claims with another signature: not the remembered text.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut forged = signature.as_bytes().to_vec();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{signed}.{}", String::from_utf8(forged).unwrap());
    assert!(matches!(
        verifier.verify(&tampered).await,
        Err(AuthError::InvalidToken(_))
    ));

    // Bounded wait: until the token's exp has passed (whole seconds).
    while chrono::Utc::now().timestamp() <= expires {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        matches!(
            verifier.verify(&token).await,
            Err(AuthError::InvalidToken(_))
        ),
        "remembered tokens expire like any other"
    );
}
