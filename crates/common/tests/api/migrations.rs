//! The backbone migrations revert cleanly: up, down, up again on a real database.

use marquee_common::db::BACKBONE_MIGRATIONS;
use marquee_testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backbone_migration_reverts_and_reapplies() {
    let db = TestDatabase::create(None).await;
    db.revert_and_reapply(vec![BACKBONE_MIGRATIONS]).await;
}
