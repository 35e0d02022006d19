//! Shared pieces: the store data, a small engine config, the test components.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lattice_runtime::wasmtime::StoreContextMut;
use lattice_runtime::wasmtime::component::Linker;
use lattice_runtime::wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};
use lattice_runtime::{PrepareOptions, Runtime, RuntimeConfig, StoreState};

pub(crate) const MIB: u64 = 1 << 20;

/// The store data of the tests: WASI plus a probe for host calls.
pub(crate) struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
    pub(crate) probe: Arc<Probe>,
}

impl Host {
    pub(crate) fn new() -> Self {
        Self::with_probe(Arc::default())
    }

    pub(crate) fn with_probe(probe: Arc<Probe>) -> Self {
        Self {
            ctx: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            probe,
        }
    }
}

/// The store, and this with it, is dropped when the instance is torn down.
impl Drop for Host {
    fn drop(&mut self) {
        self.probe.torn_down_now();
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Counts host calls in flight and the most seen at once, and tells when the instance
/// has been torn down.
#[derive(Default)]
pub(crate) struct Probe {
    current: AtomicUsize,
    max: AtomicUsize,
    torn_down: AtomicBool,
    teardown: tokio::sync::Notify,
}

impl Probe {
    pub(crate) fn enter(&self) {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    pub(crate) fn exit(&self) {
        self.current.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    fn torn_down_now(&self) {
        self.torn_down.store(true, Ordering::SeqCst);
        self.teardown.notify_one();
    }

    /// Whether the instance has been torn down.
    pub(crate) fn torn_down(&self) -> bool {
        self.torn_down.load(Ordering::SeqCst)
    }

    /// Returns once the instance has been torn down.
    pub(crate) async fn teardown(&self) {
        while !self.torn_down() {
            self.teardown.notified().await;
        }
    }
}

/// A small pool (tests run side by side), 16 MiB memories, a fine epoch tick.
pub(crate) fn small_config() -> RuntimeConfig {
    RuntimeConfig {
        max_components: 8,
        max_linear_memory_bytes: 16 * MIB,
        max_execution_time: Duration::from_secs(20),
        epoch_tick: Duration::from_millis(10),
        ..RuntimeConfig::default()
    }
}

pub(crate) fn small_runtime() -> Runtime {
    Runtime::new(small_config()).expect("runtime")
}

/// The default options with a concurrency cap of `count`.
pub(crate) fn with_count(count: u32) -> PrepareOptions {
    PrepareOptions {
        count: NonZeroU32::new(count).expect("a count above 0"),
        ..PrepareOptions::default()
    }
}

pub(crate) fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("valid component text")
}

/// `add(a, b)` at the top level and in `test:math/ops@0.1.0`; `spin` loops forever.
pub(crate) const ARITH: &str = r#"
(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32)
      local.get 0
      local.get 1
      i32.add)
    (func (export "spin")
      (loop $forever (br $forever))))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (func $spin (canon lift (core func $i "spin")))
  (instance $ops (export "add" (func $add)))
  (export "test:math/ops@0.1.0" (instance $ops))
  (export "add" (func $add))
  (export "spin" (func $spin))
)
"#;

/// `hog` grows memory until refused, then traps; `pages` grows until refused and
/// returns the size it reached, in pages.
pub(crate) const MEMORY: &str = r#"
(component
  (core module $m
    (memory 1)
    (func (export "hog") (result i32)
      (loop $more
        (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1))
          (then unreachable))
        (br $more))
      (i32.const 0))
    (func (export "pages") (result i32)
      (block $done
        (loop $more
          (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
          (br $more)))
      (memory.size)))
  (core instance $i (instantiate $m))
  (func (export "hog") (result u32) (canon lift (core func $i "hog")))
  (func (export "pages") (result u32) (canon lift (core func $i "pages")))
)
"#;

/// WASI plus the host function `wait(ms)` of [`WAITER`], which sleeps (asynchronously)
/// inside the test's [`Probe`].
pub(crate) fn waiting_linker(runtime: &Runtime) -> Linker<StoreState<Host>> {
    let mut linker = runtime.linker_with_wasi::<Host>().expect("linker");
    linker
        .root()
        .func_wrap_async(
            "wait",
            |store: StoreContextMut<'_, StoreState<Host>>, (ms,): (u32,)| {
                let probe = Arc::clone(&store.data().data().probe);
                Box::new(async move {
                    probe.enter();
                    tokio::time::sleep(Duration::from_millis(ms.into())).await;
                    probe.exit();
                    Ok(())
                })
            },
        )
        .expect("host function");
    linker
}

/// `run(ms)` calls the host's `wait(ms)`.
pub(crate) const WAITER: &str = r#"
(component
  (import "wait" (func $wait (param "ms" u32)))
  (core func $wait_lowered (canon lower (func $wait)))
  (core module $m
    (import "host" "wait" (func $wait (param i32)))
    (func (export "run") (param i32)
      (call $wait (local.get 0))))
  (core instance $i
    (instantiate $m (with "host" (instance (export "wait" (func $wait_lowered))))))
  (func (export "run") (param "ms" u32) (canon lift (core func $i "run")))
)
"#;

/// `roll()` returns `wasi:random/random@{version}#get-random-u64`.
pub(crate) fn random_component(version: &str) -> String {
    format!(
        r#"
(component
  (import "wasi:random/random@{version}" (instance $random
    (export "get-random-u64" (func (result u64)))))
  (core func $get (canon lower (func $random "get-random-u64")))
  (core module $m
    (import "wasi" "get" (func $get (result i64)))
    (func (export "roll") (result i64) (call $get)))
  (core instance $i (instantiate $m (with "wasi" (instance (export "get" (func $get))))))
  (func (export "roll") (result u64) (canon lift (core func $i "roll")))
)
"#
    )
}
