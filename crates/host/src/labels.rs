//! The host's labels, owned by one task. Cheap cloneable
//! [`LabelsHandle`]s send it commands and get answers on a oneshot.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};

use crate::error::HostError;

type Labels = BTreeMap<String, String>;

enum LabelsCommand {
    Labels(oneshot::Sender<Labels>),
    PutLabel {
        key: String,
        value: String,
        reply: oneshot::Sender<Labels>,
    },
    DelLabel {
        key: String,
        reply: oneshot::Sender<Option<Labels>>,
    },
}

/// A handle to the state owner; the owner ends when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct LabelsHandle {
    tx: mpsc::Sender<LabelsCommand>,
}

impl LabelsHandle {
    /// Spawns the owner task with the initial labels.
    pub(crate) fn spawn(labels: Labels) -> Self {
        let (tx, rx) = mpsc::channel(64);
        // Lives as long as a handle does (the host reads its labels for `host_stopped`).
        tokio::spawn(tracing::Instrument::instrument(
            own_labels(labels, rx),
            tracing::info_span!("labels"),
        ));
        LabelsHandle { tx }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> LabelsCommand,
    ) -> Result<T, HostError> {
        crate::actor::ask(&self.tx, make).await
    }

    /// The current labels.
    pub(crate) async fn labels(&self) -> Result<Labels, HostError> {
        self.ask(LabelsCommand::Labels).await
    }

    /// Sets a label; returns the labels after the change.
    pub(crate) async fn put_label(&self, key: String, value: String) -> Result<Labels, HostError> {
        self.ask(|reply| LabelsCommand::PutLabel { key, value, reply })
            .await
    }

    /// Removes a label; returns the labels after the change, or `None` if it did not exist.
    pub(crate) async fn del_label(&self, key: String) -> Result<Option<Labels>, HostError> {
        self.ask(|reply| LabelsCommand::DelLabel { key, reply })
            .await
    }
}

async fn own_labels(mut labels: Labels, mut rx: mpsc::Receiver<LabelsCommand>) {
    while let Some(command) = rx.recv().await {
        match command {
            LabelsCommand::Labels(reply) => {
                let _ = reply.send(labels.clone());
            }
            LabelsCommand::PutLabel { key, value, reply } => {
                labels.insert(key, value);
                let _ = reply.send(labels.clone());
            }
            LabelsCommand::DelLabel { key, reply } => {
                let existed = labels.remove(&key).is_some();
                let _ = reply.send(existed.then(|| labels.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn labels_change_in_order() {
        let state = LabelsHandle::spawn(Labels::from([("a".into(), "1".into())]));
        let after = state.put_label("b".into(), "2".into()).await.unwrap();
        assert_eq!(after.len(), 2);
        assert!(state.del_label("missing".into()).await.unwrap().is_none());
        let after = state.del_label("a".into()).await.unwrap().unwrap();
        assert_eq!(after, Labels::from([("b".into(), "2".into())]));
        assert_eq!(state.labels().await.unwrap(), after);
    }
}
