//! The host's mutable state (its labels), owned by one task. Cheap cloneable
//! [`StateHandle`]s send it commands and get answers on a oneshot.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};

use crate::error::HostError;

type Labels = BTreeMap<String, String>;

enum StateCommand {
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
pub(crate) struct StateHandle {
    tx: mpsc::Sender<StateCommand>,
}

impl StateHandle {
    /// Spawns the owner task with the initial labels.
    pub(crate) fn spawn(labels: Labels) -> Self {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(own_state(labels, rx));
        StateHandle { tx }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> StateCommand,
    ) -> Result<T, HostError> {
        crate::actor::ask(&self.tx, make).await
    }

    /// The current labels.
    pub(crate) async fn labels(&self) -> Result<Labels, HostError> {
        self.ask(StateCommand::Labels).await
    }

    /// Sets a label; returns the labels after the change.
    pub(crate) async fn put_label(&self, key: String, value: String) -> Result<Labels, HostError> {
        self.ask(|reply| StateCommand::PutLabel { key, value, reply })
            .await
    }

    /// Removes a label; returns the labels after the change, or `None` if it did not exist.
    pub(crate) async fn del_label(&self, key: String) -> Result<Option<Labels>, HostError> {
        self.ask(|reply| StateCommand::DelLabel { key, reply })
            .await
    }
}

async fn own_state(mut labels: Labels, mut rx: mpsc::Receiver<StateCommand>) {
    while let Some(command) = rx.recv().await {
        match command {
            StateCommand::Labels(reply) => {
                let _ = reply.send(labels.clone());
            }
            StateCommand::PutLabel { key, value, reply } => {
                labels.insert(key, value);
                let _ = reply.send(labels.clone());
            }
            StateCommand::DelLabel { key, reply } => {
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
        let state = StateHandle::spawn(Labels::from([("a".into(), "1".into())]));
        let after = state.put_label("b".into(), "2".into()).await.unwrap();
        assert_eq!(after.len(), 2);
        assert!(state.del_label("missing".into()).await.unwrap().is_none());
        let after = state.del_label("a".into()).await.unwrap().unwrap();
        assert_eq!(after, Labels::from([("b".into(), "2".into())]));
        assert_eq!(state.labels().await.unwrap(), after);
    }
}
