-- The relay is woken in process after a commit that enqueued events (and by an explicit
-- NOTIFY from other replicas), no longer by a trigger: PostgreSQL serialises the commits of
-- all notifying transactions cluster-wide, so the trigger made every event-writing commit of
-- every service wait for the others. See crates/common/src/kafka/outbox.rs.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
