//! The backbone migrations revert cleanly; a service that does not migrate refuses a schema
//! behind; connections use TLS as `sslmode` says.

use marquee_common::db::BACKBONE_MIGRATIONS;
use marquee_testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backbone_migration_reverts_and_reapplies() {
    let db = TestDatabase::create(None).await;
    db.revert_and_reapply(vec![BACKBONE_MIGRATIONS]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_migrate_on_start_a_schema_behind_refuses_to_start() {
    use diesel_async::RunQueryDsl;
    use marquee_common::db::{DatabaseConfig, DbError, prepare_schema};

    let db = TestDatabase::create(None).await;
    let mut config = DatabaseConfig::for_url(db.url());
    config.migrate_on_start = false;
    prepare_schema(&config, None)
        .await
        .expect("a migrated schema starts");

    // Forget the newest migration, as if the migration job had not run yet.
    let mut conn = db.connection().await;
    diesel::sql_query(
        "DELETE FROM __diesel_schema_migrations
         WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)",
    )
    .execute(&mut conn)
    .await
    .expect("forget a migration");

    match prepare_schema(&config, None).await {
        Err(DbError::SchemaBehind(pending)) => assert_eq!(pending.len(), 1, "{pending:?}"),
        other => panic!("expected SchemaBehind, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_the_connection_and_disable_does_not() {
    use diesel::{
        dsl::sql,
        sql_types::{Bool, Text},
    };
    use diesel_async::RunQueryDsl;
    use marquee_common::db::connect;

    let db = TestDatabase::create(None).await;
    let encrypted = "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())";
    let mut plain = connect(&format!("{}?sslmode=disable", db.url()))
        .await
        .expect("connect without TLS");
    let server_ssl: String = diesel::select(sql::<Text>("current_setting('ssl')"))
        .get_result(&mut plain)
        .await
        .expect("read the server's ssl setting");
    if server_ssl != "on" {
        eprintln!("skipped: this PostgreSQL server has ssl = {server_ssl}");
        return;
    }
    let is_encrypted: bool = diesel::select(sql::<Bool>(encrypted))
        .get_result(&mut plain)
        .await
        .expect("read pg_stat_ssl");
    assert!(!is_encrypted, "sslmode=disable must not use TLS");

    // `require` encrypts without checking the certificate (libpq's meaning): the test
    // server's is self-signed and issued for another name than 127.0.0.1.
    let mut tls = connect(&format!("{}?sslmode=require", db.url()))
        .await
        .expect("connect with TLS");
    let is_encrypted: bool = diesel::select(sql::<Bool>(encrypted))
        .get_result(&mut tls)
        .await
        .expect("read pg_stat_ssl");
    assert!(is_encrypted, "sslmode=require must use TLS");

    // `verify-full` checks the certificate: a self-signed one the system does not trust fails.
    assert!(
        connect(&format!("{}?sslmode=verify-full", db.url()))
            .await
            .is_err(),
        "an untrusted certificate must be refused with verify-full"
    );
}
