//! movies-service's migrations revert cleanly (up, down, up).

use marquee_common::db::BACKBONE_MIGRATIONS;
use marquee_testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_migration_reverts_and_reapplies() {
    let db = TestDatabase::create(Some(movies_service::MIGRATIONS)).await;
    db.revert_and_reapply(vec![BACKBONE_MIGRATIONS, movies_service::MIGRATIONS])
        .await;
}
