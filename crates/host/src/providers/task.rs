//! A provider that runs inside the host as a task (the builtin providers). It speaks
//! the provider protocol over NATS like any other provider, so links, config, health
//! and the shutdown request reach it the same way; only its stop stages differ: the
//! shutdown request, then a cancellation (its SIGTERM), then an abort (its SIGKILL).

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::process::{EndedBy, ProcessExit, TaskEnd};

/// A running in-process provider.
pub(crate) struct ProviderTask {
    handle: JoinHandle<bool>,
    cancel: CancellationToken,
    started: Instant,
    ended: Option<(TaskEnd, Instant)>,
}

impl ProviderTask {
    /// Spawns `run`, which gets a token cancelled at the second stage of a stop and
    /// returns whether it ended cleanly.
    pub(crate) fn spawn<F>(run: impl FnOnce(CancellationToken) -> F) -> Self
    where
        F: Future<Output = bool> + Send + 'static,
    {
        let cancel = CancellationToken::new();
        ProviderTask {
            handle: tokio::spawn(run(cancel.clone())),
            cancel,
            started: Instant::now(),
            ended: None,
        }
    }

    pub(crate) fn ran_for(&self) -> Duration {
        match self.ended {
            Some((_, at)) => at - self.started,
            None => self.started.elapsed(),
        }
    }

    /// Waits for the task to end. Cancel-safe; returns at once afterwards.
    pub(crate) async fn wait(&mut self) -> ProcessExit {
        if let Some((end, _)) = self.ended {
            return ProcessExit::Task(end);
        }
        let end = match (&mut self.handle).await {
            Ok(true) => TaskEnd::Returned,
            Ok(false) => TaskEnd::Failed,
            Err(e) if e.is_panic() => TaskEnd::Panicked,
            Err(_) => TaskEnd::Aborted,
        };
        self.ended = Some((end, Instant::now()));
        ProcessExit::Task(end)
    }

    /// Staged stop: `request` with up to `grace` to end, then cancellation and up to
    /// `term_grace`, then abort.
    pub(crate) async fn stop(
        &mut self,
        request: impl Future<Output = ()>,
        grace: Duration,
        term_grace: Duration,
    ) -> (ProcessExit, EndedBy) {
        if self.ended.is_some() {
            return (self.wait().await, EndedBy::ShutdownRequest);
        }
        let asked = async {
            request.await;
            // An answered request still leaves the task a moment to return.
            std::future::pending::<()>().await;
        };
        tokio::select! {
            exit = self.wait() => return (exit, EndedBy::ShutdownRequest),
            _ = tokio::time::sleep(grace) => {}
            _ = asked => {}
        }
        self.cancel.cancel();
        if let Ok(exit) = tokio::time::timeout(term_grace, self.wait()).await {
            return (exit, EndedBy::Sigterm);
        }
        self.handle.abort();
        (self.wait().await, EndedBy::Sigkill)
    }
}

impl Drop for ProviderTask {
    fn drop(&mut self) {
        // No orphans: a task outlives neither its supervisor nor the host.
        self.handle.abort();
    }
}
