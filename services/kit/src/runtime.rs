//! A thread with a current-thread Tokio runtime of its own, for background I/O that must
//! not queue behind thousands of busy request or WebSocket tasks (Redis readers and
//! publishers, batched database writers).

use std::future::Future;

use anyhow::Context;

/// Runs `work` to completion on a new thread `name` with a current-thread runtime of its
/// own, which also runs whatever `work` spawns; returns a handle to that runtime.
pub fn run_on_thread(
    name: &str,
    work: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::runtime::Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .with_context(|| format!("building the {name} runtime"))?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || runtime.block_on(work))
        .with_context(|| format!("starting the {name} thread"))?;
    Ok(handle)
}

/// A runtime on a thread of its own until dropped. Dropping it ends the runtime's thread (tasks still on it are dropped).
pub struct Dedicated {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Dedicated {
    /// Starts the thread `name` and its runtime.
    pub fn start(name: &str) -> anyhow::Result<Dedicated> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = run_on_thread(name, async move {
            let _ = stopped.await;
        })?;
        Ok(Dedicated {
            handle,
            _stop: stop,
        })
    }

    /// Starts `work` on this runtime without waiting for it.
    pub fn spawn<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.handle.spawn(work)
    }

    /// Runs `work` on this runtime and waits for it (a panic in it resumes here).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> T {
        match self.handle.spawn(work).await {
            Ok(value) => value,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_on_its_own_thread() {
        let dedicated = Dedicated::start("test-io").unwrap();
        let name = dedicated
            .run(async { std::thread::current().name().map(str::to_string) })
            .await;
        assert_eq!(name.as_deref(), Some("test-io"));
        let spawned = dedicated.spawn(async { 6 * 7 });
        assert_eq!(spawned.await.unwrap(), 42);
    }
}
