//! The backbone migrations revert cleanly: up, down, up again on a real database.

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
