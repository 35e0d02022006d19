//! A component pre-linked for running: every invocation gets a fresh store (with
//! the component's memory limit and epoch deadline) and a fresh instance from one
//! [`InstancePre`]; `count` is a semaphore on how many run at once.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use wasmtime::component::{Component, ComponentExportIndex, Instance, InstancePre, Linker, Val};
use wasmtime::{PoolConcurrencyLimitError, Store, Trap};
use wasmtime_wasi::{WasiCtxView, WasiView};

use crate::config::ComponentLimits;
use crate::error::{InvokeError, PrepareError};
use crate::introspect::ComponentSignatures;
use crate::limits::ComponentLimiter;
use crate::runtime::Runtime;

/// The data of every store: the caller's `T` and the component's limiter.
///
/// Host interfaces added to the [`Linker`] reach `T` through [`StoreState::data_mut`];
/// WASI reaches it through `T`'s [`WasiView`].
pub struct StoreState<T> {
    data: T,
    limiter: ComponentLimiter,
}

impl<T> StoreState<T> {
    /// The caller's data.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The caller's data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

impl<T: WasiView> WasiView for StoreState<T> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.data.ctx()
    }
}

/// How to prepare a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOptions {
    /// Invocations that may run at once (the ctl `count`); more wait for a slot.
    pub count: NonZeroU32,
    /// The component's own limits, each at most the engine's.
    pub limits: ComponentLimits,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        Self {
            count: NonZeroU32::MIN,
            limits: ComponentLimits::default(),
        }
    }
}

/// A component linked and ready to run, at most `count` invocations at a time.
/// Cheap to clone (the clones share the concurrency cap).
pub struct Prepared<T: 'static> {
    inner: Arc<PreparedInner<T>>,
}

impl<T> Clone for Prepared<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for Prepared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("count", &self.inner.count)
            .field("available", &self.inner.permits.available_permits())
            .field("memory_bytes", &self.inner.memory_bytes)
            .field("execution_time", &self.inner.execution_time)
            .finish_non_exhaustive()
    }
}

struct PreparedInner<T: 'static> {
    runtime: Runtime,
    pre: InstancePre<StoreState<T>>,
    memory_bytes: u64,
    execution_time: Duration,
    permits: Arc<Semaphore>,
    count: NonZeroU32,
    signatures: ComponentSignatures,
    /// Where its `wasi:http/incoming-handler` export is, if it has one.
    http: Option<wasmtime_wasi_http::p2::bindings::ProxyIndices>,
}

impl<T: Send + 'static> Prepared<T> {
    pub(crate) fn new(
        runtime: &Runtime,
        linker: &Linker<StoreState<T>>,
        component: &Component,
        options: PrepareOptions,
    ) -> Result<Self, PrepareError> {
        let config = runtime.config();
        let memory_bytes = at_most(
            "max_memory_bytes",
            options.limits.max_memory_bytes,
            config.max_linear_memory_bytes,
            |bytes| format!("{bytes} bytes"),
        )?;
        let execution_time = at_most(
            "max_execution_time",
            options.limits.max_execution_time,
            config.max_execution_time,
            |time| format!("{time:?}"),
        )?;
        let pre = linker
            .instantiate_pre(component)
            .map_err(|err| PrepareError::Link(format!("{err:#}")))?;
        Ok(Self {
            inner: Arc::new(PreparedInner {
                runtime: runtime.clone(),
                signatures: ComponentSignatures::of(runtime.engine(), component),
                http: crate::http::indices(&pre),
                pre,
                memory_bytes,
                execution_time,
                permits: Arc::new(Semaphore::new(slots(options.count))),
                count: options.count,
            }),
        })
    }

    /// The concurrency cap.
    pub fn count(&self) -> NonZeroU32 {
        self.inner.count
    }

    /// Invocation slots free right now.
    pub fn available(&self) -> usize {
        self.inner.permits.available_permits()
    }

    /// The limits that apply (the component's, or the engine's where it set none).
    pub fn limits(&self) -> ComponentLimits {
        ComponentLimits {
            max_memory_bytes: Some(self.inner.memory_bytes),
            max_execution_time: Some(self.inner.execution_time),
        }
    }

    /// The component's imports and exports.
    pub fn signatures(&self) -> &ComponentSignatures {
        &self.inner.signatures
    }

    pub(crate) fn http_indices(&self) -> Option<&wasmtime_wasi_http::p2::bindings::ProxyIndices> {
        self.inner.http.as_ref()
    }

    /// The pre-linked instance, for typed bindings (e.g. a `wasi:http` proxy's `…Pre`).
    /// Stores for it should come from [`Prepared::instantiate`], which applies the limits.
    pub fn instance_pre(&self) -> &InstancePre<StoreState<T>> {
        &self.inner.pre
    }

    /// Calls the exported function `func` of `instance` (`None`: a top-level export)
    /// in a fresh instance with `data` as its store data. Waits for a free slot first.
    ///
    /// # Errors
    ///
    /// [`InvokeError`], e.g. [`InvokeError::DeadlineExceeded`] or
    /// [`InvokeError::MemoryLimit`] when a limit stopped it.
    pub async fn call(
        &self,
        data: T,
        instance: Option<&str>,
        func: &str,
        params: &[Val],
    ) -> Result<Vec<Val>, InvokeError> {
        let index = self.export_index(instance, func)?;
        let mut invocation = self.instantiate(data).await?;
        invocation.call_index(index, params).await
    }

    /// Waits for a free slot, then instantiates the component in a fresh store with
    /// the limits and the execution deadline, which covers everything run in it.
    ///
    /// # Errors
    ///
    /// [`InvokeError`] if instantiation fails (a start function trapped, the pool is
    /// full, the initial memory is above the limit).
    pub async fn instantiate(&self, data: T) -> Result<Invocation<T>, InvokeError> {
        let permit = self.slot().await?;
        self.instantiate_with(data, Some(permit)).await
    }

    /// Instantiates the component for calls over a longer time (the instance that keeps
    /// the resources a component exports). It holds no slot of the concurrency cap:
    /// take one with [`Prepared::slot`] for each call, and give each call its own
    /// deadline with [`Invocation::renew_deadline`].
    ///
    /// # Errors
    ///
    /// As [`Prepared::instantiate`].
    pub async fn instantiate_resident(&self, data: T) -> Result<Invocation<T>, InvokeError> {
        self.instantiate_with(data, None).await
    }

    /// Waits for a free slot of the concurrency cap.
    ///
    /// # Errors
    ///
    /// [`InvokeError::Instantiate`] once the component was stopped.
    pub async fn slot(&self) -> Result<OwnedSemaphorePermit, InvokeError> {
        Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| InvokeError::Instantiate("the component was stopped".into()))
    }

    /// Whether a slot of the concurrency cap is free now (a hint: another caller may
    /// take it first, and [`Prepared::instantiate`] then waits).
    pub fn has_free_slot(&self) -> bool {
        self.inner.permits.available_permits() > 0
    }

    async fn instantiate_with(
        &self,
        data: T,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Invocation<T>, InvokeError> {
        let runtime = &self.inner.runtime;
        let config = runtime.config();
        let limiter = ComponentLimiter::new(
            self.inner.memory_bytes,
            config.max_core_instances_per_component,
        );
        let mut store = Store::new(runtime.engine(), StoreState { data, limiter });
        store.limiter(|state| &mut state.limiter);
        // At every epoch tick the guest yields to the executor (a spinning guest never
        // holds a tokio worker for longer than a tick, so the host keeps serving), and
        // it is stopped once its ticks are spent. Tokio's own yield: wasmtime's plain
        // one wakes the task at once, which tokio runs again first on the same worker.
        let ticks = config.deadline_ticks(self.inner.execution_time);
        let remaining = Arc::new(AtomicU64::new(ticks));
        let left = Arc::clone(&remaining);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            // One store runs on one task at a time: a load and a store do not race.
            let now = left.load(Ordering::Relaxed).saturating_sub(1);
            left.store(now, Ordering::Relaxed);
            Ok(match now {
                0 => wasmtime::UpdateDeadline::Interrupt,
                _ => wasmtime::UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())),
            })
        });
        // Backstop for a guest blocked in a host call, where epochs cannot reach it.
        let backstop = self.inner.execution_time + 2 * config.epoch_tick;
        let deadline = Instant::now() + backstop;
        let instantiated =
            tokio::time::timeout_at(deadline, self.inner.pre.instantiate_async(&mut store)).await;
        let instance = match instantiated {
            Ok(Ok(instance)) => instance,
            Ok(Err(err)) => {
                return Err(classify(
                    err,
                    &store,
                    Phase::Instantiate,
                    self.inner.execution_time,
                ));
            }
            Err(_) => {
                return Err(InvokeError::DeadlineExceeded {
                    limit: self.inner.execution_time,
                });
            }
        };
        Ok(Invocation {
            store: Some(store),
            instance,
            component: self.inner.pre.component().clone(),
            deadline,
            budget: Budget {
                remaining,
                ticks,
                backstop,
            },
            execution_time: self.inner.execution_time,
            permit,
            slots: slots(self.inner.count),
        })
    }

    fn export_index(
        &self,
        instance: Option<&str>,
        func: &str,
    ) -> Result<ComponentExportIndex, InvokeError> {
        export_index(self.inner.pre.component(), instance, func)
    }
}

fn export_index(
    component: &Component,
    instance: Option<&str>,
    func: &str,
) -> Result<ComponentExportIndex, InvokeError> {
    let missing = || InvokeError::NoSuchExport {
        instance: instance.map(str::to_owned),
        func: func.to_owned(),
    };
    let parent = match instance {
        Some(name) => Some(component.get_export_index(None, name).ok_or_else(missing)?),
        None => None,
    };
    component
        .get_export_index(parent.as_ref(), func)
        .ok_or_else(missing)
}

fn at_most<V: PartialOrd + Copy>(
    what: &'static str,
    requested: Option<V>,
    engine: V,
    show: impl Fn(V) -> String,
) -> Result<V, PrepareError> {
    match requested {
        None => Ok(engine),
        Some(requested) if requested <= engine => Ok(requested),
        Some(requested) => Err(PrepareError::LimitAboveEngine {
            what,
            requested: show(requested),
            engine: show(engine),
        }),
    }
}

/// One running instance, holding its slot of the concurrency cap until it is torn down:
/// when dropped, or soon after for a big one that ran alone (see its `Drop`).
pub struct Invocation<T: Send + 'static> {
    /// Always `Some` but in `drop`, which hands it on.
    store: Option<Store<StoreState<T>>>,
    instance: Instance,
    component: Component,
    deadline: Instant,
    budget: Budget,
    execution_time: Duration,
    permit: Option<OwnedSemaphorePermit>,
    /// The slots of the concurrency cap (`count`).
    slots: usize,
}

/// What one call may spend: epoch ticks (shared with the store's deadline callback)
/// and a wall-clock backstop.
struct Budget {
    remaining: Arc<AtomicU64>,
    ticks: u64,
    backstop: Duration,
}

impl<T: Send> std::fmt::Debug for Invocation<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("execution_time", &self.execution_time)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Invocation<T> {
    /// The store (for typed calls and to read the data back).
    pub fn store(&mut self) -> &mut Store<StoreState<T>> {
        live(&mut self.store)
    }

    /// The instance.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// Gives the next call the whole execution deadline again (a resident instance's
    /// calls each get their own; see [`Prepared::instantiate_resident`]).
    pub fn renew_deadline(&mut self) {
        self.budget
            .remaining
            .store(self.budget.ticks, Ordering::Relaxed);
        self.store().set_epoch_deadline(1);
        self.deadline = Instant::now() + self.budget.backstop;
    }

    /// Calls the exported function `func` of `instance` (`None`: top level).
    ///
    /// # Errors
    ///
    /// [`InvokeError`]; after an error the instance must not be used again.
    pub async fn call(
        &mut self,
        instance: Option<&str>,
        func: &str,
        params: &[Val],
    ) -> Result<Vec<Val>, InvokeError> {
        let index = export_index(&self.component, instance, func)?;
        self.call_index(index, params).await
    }

    /// Runs `call` (typed bindings' calls) under the invocation's deadline, with its
    /// failures named as [`Invocation::call`] names them.
    pub(crate) async fn run<R>(
        &mut self,
        call: impl for<'a> FnOnce(
            &'a mut Store<StoreState<T>>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = wasmtime::Result<R>> + Send + 'a>,
        >,
    ) -> Result<R, InvokeError> {
        let called = tokio::time::timeout_at(self.deadline, call(live(&mut self.store))).await;
        match called {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(classify(
                err,
                live(&mut self.store),
                Phase::Call,
                self.execution_time,
            )),
            Err(_) => Err(InvokeError::DeadlineExceeded {
                limit: self.execution_time,
            }),
        }
    }

    async fn call_index(
        &mut self,
        index: ComponentExportIndex,
        params: &[Val],
    ) -> Result<Vec<Val>, InvokeError> {
        let func = self
            .instance
            .get_func(live(&mut self.store), index)
            .ok_or_else(|| InvokeError::Call("the export is not a function".into()))?;
        let mut results = vec![Val::Bool(false); func.ty(self.store()).results().len()];
        let called = tokio::time::timeout_at(
            self.deadline,
            func.call_async(live(&mut self.store), params, &mut results),
        )
        .await;
        match called {
            Ok(Ok(())) => Ok(results),
            Ok(Err(err)) => Err(classify(
                err,
                live(&mut self.store),
                Phase::Call,
                self.execution_time,
            )),
            Err(_) => Err(InvokeError::DeadlineExceeded {
                limit: self.execution_time,
            }),
        }
    }
}

/// The slots of a concurrency cap of `count`.
fn slots(count: NonZeroU32) -> usize {
    usize::try_from(count.get())
        .unwrap_or(Semaphore::MAX_PERMITS)
        .min(Semaphore::MAX_PERMITS)
}

fn live<S>(store: &mut Option<S>) -> &mut S {
    store
        .as_mut()
        .expect("an invocation's store lives until the invocation is dropped")
}

/// From how many bytes of linear memory an ended instance that was the only one of its
/// component running is torn down later, on a task of its own, rather than where it was
/// dropped. Tearing down resets the pool slot's memory to the component's initial image
/// (a copy of up to the kept-resident size): about half a millisecond for a
/// componentize-js or componentize-py component. Done in place, it held back what the
/// dropping task had just woken: the HTTP connection that writes the response, the NATS
/// connection that sends the results (tokio runs the last task woken on a worker next,
/// on that worker, and no other worker may take it), so a lone request's answer waited
/// for the reset. While other invocations of the component run, the reset stays in
/// place: deferred under load it measured slower (a slot held longer, the next instance
/// on a colder one). Small instances reset in microseconds and are torn down in place.
pub(crate) const DEFER_TEARDOWN_FROM: u64 = 1 << 20;

impl<T: Send + 'static> Drop for Invocation<T> {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        // The slot is given back once the memory is reset, as in a teardown in place.
        let permit = self.permit.take();
        let big = store.data().limiter.used_memory_bytes() >= DEFER_TEARDOWN_FROM;
        let alone = || {
            permit
                .as_ref()
                .is_some_and(|p| p.semaphore().available_permits() + 1 >= self.slots)
        };
        // Only a deferred teardown needs the runtime: no lookup for the others.
        let runtime = (big && alone())
            .then(tokio::runtime::Handle::try_current)
            .and_then(Result::ok);
        let teardown = move || {
            drop(store);
            drop(permit);
        };
        match runtime {
            Some(runtime) => {
                // The task yields once first, so that what this one woke runs before
                // the reset. A runtime shutting down drops the task unrun: the same
                // teardown.
                runtime.spawn(async move {
                    tokio::task::yield_now().await;
                    teardown();
                });
            }
            None => teardown(),
        }
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Instantiate,
    Call,
}

/// Names what stopped an invocation: the limiter's record first (a refused growth
/// is what makes a guest trap), then the trap code.
fn classify<T>(
    err: wasmtime::Error,
    store: &Store<StoreState<T>>,
    phase: Phase,
    execution_time: Duration,
) -> InvokeError {
    let detail = format!("{err:#}");
    let limiter = &store.data().limiter;
    if let Some(denial) = limiter.denial() {
        return InvokeError::MemoryLimit {
            limit_bytes: limiter.max_memory_bytes(),
            requested_bytes: denial.requested_bytes,
            detail,
        };
    }
    if err.is::<PoolConcurrencyLimitError>() {
        return InvokeError::PoolExhausted(detail);
    }
    match (err.downcast_ref::<Trap>(), phase) {
        (Some(Trap::Interrupt), _) => InvokeError::DeadlineExceeded {
            limit: execution_time,
        },
        (Some(trap), _) => InvokeError::Trap {
            trap: *trap,
            detail,
        },
        (None, Phase::Instantiate) => InvokeError::Instantiate(detail),
        (None, Phase::Call) => InvokeError::Call(detail),
    }
}
