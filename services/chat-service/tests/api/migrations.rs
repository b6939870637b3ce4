//! Every migration reverts and reapplies.

use marquee_common::db::BACKBONE_MIGRATIONS;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_migration_reverts_and_reapplies() {
    let app = spawn_app().await;
    app.database
        .revert_and_reapply(vec![BACKBONE_MIGRATIONS, chat_service::MIGRATIONS])
        .await;
}
