//! A supervised provider instance, the seam between a supervisor and what runs the
//! provider: a child process ([`ProviderProcess`]) or, for the host's builtin
//! providers, a task in the host ([`ProviderTask`]). The supervisor only waits for an
//! instance, stops it in stages and asks its pid.

use std::time::Duration;

use super::process::{EndedBy, ProcessExit, ProviderProcess};
use super::task::ProviderTask;

/// One running instance of a provider.
pub(crate) enum Instance {
    /// A child process of the host.
    Process(ProviderProcess),
    /// A task in the host (a builtin provider).
    Task(ProviderTask),
}

impl Instance {
    /// The process ID, for instances that are processes.
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Instance::Process(process) => Some(process.pid()),
            Instance::Task(_) => None,
        }
    }

    /// How long it has been (or was) running.
    pub(crate) fn ran_for(&self) -> Duration {
        match self {
            Instance::Process(process) => process.ran_for(),
            Instance::Task(task) => task.ran_for(),
        }
    }

    /// Waits for it to end. Cancel-safe; returns at once afterwards.
    pub(crate) async fn wait(&mut self) -> ProcessExit {
        match self {
            Instance::Process(process) => process.wait().await,
            Instance::Task(task) => task.wait().await,
        }
    }

    /// Staged stop: `request` (the shutdown request) with up to `grace` to end, then
    /// SIGTERM and up to `term_grace`, then SIGKILL.
    pub(crate) async fn stop(
        &mut self,
        request: impl Future<Output = ()>,
        grace: Duration,
        term_grace: Duration,
    ) -> (ProcessExit, EndedBy) {
        match self {
            Instance::Process(process) => process.stop(request, grace, term_grace).await,
            Instance::Task(task) => task.stop(request, grace, term_grace).await,
        }
    }
}
