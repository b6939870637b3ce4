//! The first administrator: bootstrap variables and the `admin` operations.

use std::time::Duration;

use auth_service::{
    admin::{self, AdminError, AdminOutcome},
    config::BootstrapAdmin,
    hashing::PasswordHasher,
};
use marquee_proto_events::{topics, users::v1::UserCreated};
use marquee_testkit::RecordCollector;
use prost::Message;

use crate::helpers::{PASSWORD, email, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_admin_signs_in_with_the_admin_role() {
    let address = email();
    let bootstrap = address.clone();
    let app = spawn_app_with(move |config| {
        config.bootstrap_admin = Some(BootstrapAdmin {
            email: bootstrap,
            password: PASSWORD.into(),
        });
    })
    .await;
    let collector = RecordCollector::start(
        &app.topics.config,
        &app.topics.config.topic(topics::USERS_V1),
    )
    .await;

    let tokens = app.login(&address, PASSWORD).await;
    let user = app.verifier().verify(&tokens.access).await.unwrap();
    assert!(user.is_admin());

    let records = collector.wait_for(1, Duration::from_secs(30)).await;
    let created = UserCreated::decode(records[0].payload.as_slice()).unwrap();
    assert_eq!(created.email, address);
    assert_eq!(created.roles, ["user", "admin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_account_becomes_admin_only_when_promoted() {
    let app = spawn_app().await;
    let (_, address, _) = app.signed_in_user().await;
    let pool = app.database.pool();
    let hasher = PasswordHasher::new(4, 1, Some(0)).await.unwrap();

    let refused =
        admin::ensure_admin(&pool, &hasher, &address, "another password".into(), "Admin").await;
    assert!(
        matches!(refused, Err(AdminError::NotAdmin(_))),
        "{refused:?}"
    );
    let user = app.login(&address, PASSWORD).await;
    assert!(
        !app.verifier()
            .verify(&user.access)
            .await
            .unwrap()
            .is_admin()
    );

    admin::promote(&pool, &address).await.unwrap();
    let again = admin::ensure_admin(&pool, &hasher, &address, PASSWORD.into(), "Admin").await;
    assert!(matches!(again, Ok(AdminOutcome::AlreadyAdmin(_))));
    // The role shows from the next refresh (or sign-in) on.
    let refreshed = app.refresh(&user.refresh).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed =
        crate::helpers::Tokens::from(refreshed.json::<serde_json::Value>().await.unwrap());
    assert!(
        app.verifier()
            .verify(&refreshed.access)
            .await
            .unwrap()
            .is_admin()
    );

    let unknown = admin::promote(&pool, &email()).await;
    assert!(matches!(unknown, Err(AdminError::NoSuchAccount(_))));
    let invalid = admin::ensure_admin(&pool, &hasher, "not-an-email", PASSWORD.into(), "A").await;
    assert!(matches!(invalid, Err(AdminError::Invalid(_))));
}
