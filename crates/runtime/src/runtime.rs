//! [`Runtime`]: the engine, its epoch ticker and compile cache, and the entry points
//! to load, link and prepare components.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi::WasiView;

use crate::cache::{CacheKey, CacheOutcome, CompileCache};
use crate::config::RuntimeConfig;
use crate::engine::{self, AllocatorChoice, EpochTicker};
use crate::error::{LoadError, PrepareError, RuntimeError};
use crate::introspect::ComponentSignatures;
use crate::load::{self, LoadedComponent};
use crate::prepared::{PrepareOptions, Prepared, StoreState};

/// One wasmtime engine with its limits, epoch ticker and compile cache. Cheap to
/// clone; the ticker stops when the last clone (and every [`Prepared`]) is gone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: RuntimeConfig,
    allocator: AllocatorChoice,
    cache: CompileCache,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .field("allocator", &self.inner.allocator)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Validates `config`, builds the engine (see [`Runtime::allocator`] for what it
    /// got), opens the cache directory and starts the epoch ticker.
    ///
    /// # Errors
    ///
    /// [`RuntimeError`]: an invalid config, a pool that cannot be reserved (unless
    /// the config allows the on-demand fallback), an unsafe cache directory.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        config.validate()?;
        let (engine, allocator) = engine::build(&config)?;
        let cache = CompileCache::open(config.cache_dir.as_deref(), &engine)?;
        let ticker = EpochTicker::start(engine.weak(), config.epoch_tick)?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                config,
                allocator,
                cache,
                _ticker: ticker,
            }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Which instance allocator the engine got.
    pub fn allocator(&self) -> &AllocatorChoice {
        &self.inner.allocator
    }

    /// This engine's subdirectory of the compile cache, if caching is on.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.dir()
    }

    /// Turns wasm bytes (a component, or a WASI preview 1 core module, which is
    /// wrapped with the reactor adapter) into a component: from the compile cache
    /// when it holds a verified entry for these bytes and this engine, else compiled
    /// (on a blocking thread) and stored. Concurrent loads of the same bytes compile once.
    ///
    /// # Errors
    ///
    /// [`LoadError`]: not wasm, invalid wasm, a core module that cannot be wrapped.
    /// Cache trouble is not an error: a bad entry is recompiled, a failed write logged.
    pub async fn load<B>(&self, bytes: B) -> Result<LoadedComponent, LoadError>
    where
        B: AsRef<[u8]> + Send + Sync + 'static,
    {
        let started = Instant::now();
        let kind = load::classify(bytes.as_ref())?;
        let bytes = Arc::new(bytes);
        let key = {
            let bytes = Arc::clone(&bytes);
            blocking(move || CacheKey::of(kind, (*bytes).as_ref())).await?
        };
        let guard = self.inner.cache.slot(&key);
        let mut slot = guard.slot().lock().await;
        let (component, outcome) = match slot.as_ref() {
            Some(component) => (component.clone(), CacheOutcome::Joined),
            None => {
                let inner = Arc::clone(&self.inner);
                let key = key.clone();
                let loaded = blocking(move || {
                    inner
                        .cache
                        .load_blocking(&inner.engine, &key, kind, (*bytes).as_ref())
                })
                .await??;
                *slot = Some(loaded.0.clone());
                loaded
            }
        };
        drop(slot);
        drop(guard);
        tracing::debug!(digest = key.digest(), ?outcome, elapsed = ?started.elapsed(), "component loaded");
        Ok(LoadedComponent {
            component,
            kind,
            outcome,
            digest: key.digest().to_owned(),
            elapsed: started.elapsed(),
        })
    }

    /// A linker with WASI 0.2 (any `0.2.x` import links to it); add the host's own
    /// interfaces to it, then [`Runtime::prepare`].
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Linker`] if wasmtime refuses the WASI definitions.
    pub fn linker_with_wasi<T: WasiView + 'static>(
        &self,
    ) -> Result<Linker<StoreState<T>>, RuntimeError> {
        let mut linker = Linker::new(&self.inner.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|err| RuntimeError::Linker(format!("{err:#}")))?;
        Ok(linker)
    }

    /// A linker with WASI 0.2 and `wasi:http` 0.2 (`types`, `outgoing-handler`; any
    /// `0.2.x` import links to them): for components served over HTTP
    /// ([`Prepared::handle_http`]).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Linker`] if wasmtime refuses the definitions.
    pub fn linker_with_wasi_http<T>(&self) -> Result<Linker<StoreState<T>>, RuntimeError>
    where
        T: WasiView + crate::http::WasiHttpView + 'static,
    {
        let mut linker = self.linker_with_wasi()?;
        crate::http::add_to_linker(&mut linker)
            .map_err(|err| RuntimeError::Linker(format!("{err:#}")))?;
        Ok(linker)
    }

    /// An empty linker, for hosts that provide everything themselves.
    pub fn linker<T: 'static>(&self) -> Linker<StoreState<T>> {
        Linker::new(&self.inner.engine)
    }

    /// Pre-links `component` against `linker`, ready to run with `options`.
    ///
    /// # Errors
    ///
    /// [`PrepareError`]: an import the linker lacks, a limit above the engine's.
    pub fn prepare<T: Send + 'static>(
        &self,
        linker: &Linker<StoreState<T>>,
        component: &Component,
        options: PrepareOptions,
    ) -> Result<Prepared<T>, PrepareError> {
        Prepared::new(self, linker, component, options)
    }

    /// The imports and exports of `component`, with their types.
    pub fn signatures(&self, component: &Component) -> ComponentSignatures {
        ComponentSignatures::of(&self.inner.engine, component)
    }
}

async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, LoadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| LoadError::Task(err.to_string()))
}
