//! One thread for archive work (unpacking, hashing cached binaries). Run on tokio's
//! blocking pool, each archive could land on a new thread, and every new thread gets
//! its own allocator arena that keeps the decoder's and hasher's freed buffers
//! resident: a host that starts providers from ten distinct archives grew by tens of
//! kilobytes more per provider than one started from a single archive. On one thread
//! the buffers of each archive reuse those of the last. Archive work is serialised by
//! the unpack lock already, so one thread costs no parallelism.

use std::sync::OnceLock;
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// Runs `work` on the archive thread and waits for its result. `None` if `work`
/// panicked (the thread goes on with the next job) or the thread could not be started.
pub(crate) async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // A panic drops `done`: the caller gets `None`, and the thread stays.
        if let Ok(value) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
            let _ = done.send(value);
        }
    });
    sender().lock().ok()?.send(job).ok()?;
    result.await.ok()
}

fn sender() -> &'static std::sync::Mutex<mpsc::Sender<Job>> {
    static SENDER: OnceLock<std::sync::Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("lattice-archives".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the archive thread");
        }
        std::sync::Mutex::new(tx)
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_job_that_panics_leaves_the_thread_for_the_next() {
        assert_eq!(
            super::run(|| -> u32 { panic!("a bad archive") }).await,
            None
        );
        assert_eq!(super::run(|| 7).await, Some(7));
    }

    #[tokio::test]
    async fn jobs_run_in_order_on_one_named_thread() {
        let first = super::run(|| std::thread::current().name().map(str::to_string)).await;
        let second = super::run(|| std::thread::current().name().map(str::to_string)).await;
        assert_eq!(first, Some(Some("lattice-archives".to_string())));
        assert_eq!(first, second);
    }
}
