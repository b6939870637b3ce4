//! How connections to PostgreSQL and Redis notice a server that vanished without closing
//! them (a failover, a partition, a crashed host): in seconds, through the kernel, instead of
//! after its 15 minutes of retransmissions or never, for an idle connection.

use std::time::Duration;

/// How long sent data may stay unacknowledged before the kernel drops the connection
/// (`TCP_USER_TIMEOUT`, Linux).
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle time before the first keepalive probe.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
/// Time between keepalive probes; three unanswered probes drop the connection.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Unanswered probes before the connection is dropped.
pub const KEEPALIVE_RETRIES: u32 = 3;
