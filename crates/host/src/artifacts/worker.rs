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

/// Runs `work` on the archive thread and waits for its result. `None` if the thread is
/// gone (it panicked on an earlier job).
pub(crate) async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
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
    async fn jobs_run_in_order_on_one_named_thread() {
        let first = super::run(|| std::thread::current().name().map(str::to_string)).await;
        let second = super::run(|| std::thread::current().name().map(str::to_string)).await;
        assert_eq!(first, Some(Some("lattice-archives".to_string())));
        assert_eq!(first, second);
    }
}
