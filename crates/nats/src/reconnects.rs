//! Telling a connection's users that it came back: after a reconnect, whatever the
//! server held for the connection (JetStream consumers, what a peer on another
//! connection received meanwhile) may be gone, and the users re-establish it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::Client;
use async_nats::connection::State;
use tokio::sync::watch;

/// How often the connection is looked at.
const CHECK: Duration = Duration::from_millis(50);

/// A watch of `client`'s reconnects: its value is the number of times the connection
/// was (re-)established, and it changes once the connection is up again after a loss.
///
/// The count comes from the client's statistics, so a reconnect is seen even when no
/// look caught the connection down (a busy machine). One task per call looks every
/// 50 ms; it ends when every receiver is dropped.
pub fn reconnects(client: &Client) -> watch::Receiver<u64> {
    let stats = client.statistics();
    let connects = move || stats.connects.load(Ordering::Relaxed);
    let (sender, receiver) = watch::channel(connects());
    let client = client.clone();
    tokio::spawn(async move {
        let mut check = tokio::time::interval(CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sender.closed() => return,
                _ = check.tick() => {
                    if client.connection_state() == State::Connected {
                        let now = connects();
                        sender.send_if_modified(|seen| std::mem::replace(seen, now) != now);
                    }
                }
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::TestServer;

    #[tokio::test]
    async fn a_server_restart_moves_the_watch_once_the_connection_is_back() {
        let mut server = TestServer::start(&[]).await;
        let url = format!("nats://127.0.0.1:{}", server.port);
        let client = async_nats::ConnectOptions::new()
            .reconnect_delay_callback(crate::reconnect_delay)
            .connect(&url)
            .await
            .unwrap();
        let mut watch = reconnects(&client);
        let before = *watch.borrow_and_update();

        server.restart().await;
        tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .expect("no reconnect seen within 10 s")
            .unwrap();
        assert!(*watch.borrow() > before);
        assert_eq!(client.connection_state(), State::Connected);
    }
}
