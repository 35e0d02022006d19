//! The one request/reply helper behind every owner task's handle: send a command
//! carrying a oneshot, await the answer.

use tokio::sync::{mpsc, oneshot};

use crate::error::HostError;

/// Sends the command `make` builds around a reply channel and awaits the reply.
/// Fails with [`HostError::ShuttingDown`] once the owner task is gone.
pub(crate) async fn ask<C, T>(
    tx: &mpsc::Sender<C>,
    make: impl FnOnce(oneshot::Sender<T>) -> C,
) -> Result<T, HostError> {
    let (reply, answer) = oneshot::channel();
    tx.send(make(reply))
        .await
        .map_err(|_| HostError::ShuttingDown)?;
    answer.await.map_err(|_| HostError::ShuttingDown)
}
