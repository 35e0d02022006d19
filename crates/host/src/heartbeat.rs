//! `host_heartbeat`: the host's inventory, published at start and then every interval.

use std::sync::Arc;

use lattice_proto::events::Event;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::HostContext;

/// Publishes heartbeats until `token` is cancelled.
///
/// Unlike the 1.x host (first heartbeat one interval after start), the first one goes
/// out at once, so tools that build their view of the lattice from heartbeats see a
/// new host immediately.
pub(crate) async fn run(ctx: Arc<HostContext>, token: CancellationToken) {
    let mut ticks = tokio::time::interval(ctx.config.heartbeat_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match ctx.inventory().await {
            Ok(inventory) => ctx.events.publish(Event::HostHeartbeat(inventory)).await,
            Err(_) => return,
        }
    }
}
