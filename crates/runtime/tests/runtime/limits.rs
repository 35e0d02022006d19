//! The execution deadline and the linear-memory limits.

use std::time::{Duration, Instant};

use lattice_runtime::wasmtime::component::Val;
use lattice_runtime::{
    ComponentLimits, InvokeError, PrepareError, PrepareOptions, Runtime, RuntimeConfig,
};

use crate::support::{
    ARITH, Host, MEMORY, MIB, WAITER, small_config, small_runtime, waiting_linker, wasm,
};

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_engine_deadline() {
    let runtime = Runtime::new(RuntimeConfig {
        max_execution_time: Duration::from_millis(300),
        epoch_tick: Duration::from_millis(50),
        ..small_config()
    })
    .expect("runtime");
    let loaded = runtime.load(wasm(ARITH)).await.expect("load");
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");
    let prepared = runtime
        .prepare(&linker, &loaded.component, PrepareOptions::default())
        .expect("prepare");

    let started = Instant::now();
    // The default (current-thread) tokio runtime: the ticker is a thread of its own.
    let err = prepared
        .call(Host::new(), None, "spin", &[])
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, InvokeError::DeadlineExceeded { limit } if limit == Duration::from_millis(300)),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the invocation ran longer than its limit of 300ms and was stopped"
    );
    assert!(
        took >= Duration::from_millis(300),
        "stopped early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "stopped late: {took:?}");

    // The instance slot is back and the component still answers.
    let results = prepared
        .call(Host::new(), None, "add", &[Val::U32(1), Val::U32(2)])
        .await
        .expect("add after a stopped invocation");
    assert_eq!(results, [Val::U32(3)]);
}

#[tokio::test]
async fn a_component_limit_shortens_the_deadline() {
    let runtime = small_runtime();
    let loaded = runtime.load(wasm(ARITH)).await.expect("load");
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");
    let options = PrepareOptions {
        limits: ComponentLimits {
            max_execution_time: Some(Duration::from_millis(100)),
            ..ComponentLimits::default()
        },
        ..PrepareOptions::default()
    };
    let prepared = runtime
        .prepare(&linker, &loaded.component, options)
        .expect("prepare");
    let started = Instant::now();
    let err = prepared
        .call(Host::new(), None, "spin", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, InvokeError::DeadlineExceeded { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_memory_hog_is_stopped_by_the_engine_limit_and_a_lower_component_limit() {
    let runtime = small_runtime(); // 16 MiB per memory
    let loaded = runtime.load(wasm(MEMORY)).await.expect("load");
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");

    let engine_limited = runtime
        .prepare(&linker, &loaded.component, PrepareOptions::default())
        .expect("prepare");
    let pages = engine_limited
        .call(Host::new(), None, "pages", &[])
        .await
        .expect("pages");
    assert_eq!(pages, [Val::U32(256)], "16 MiB = 256 pages of 64 KiB");
    let err = engine_limited
        .call(Host::new(), None, "hog", &[])
        .await
        .unwrap_err();
    match &err {
        InvokeError::MemoryLimit {
            limit_bytes,
            requested_bytes,
            detail,
        } => {
            assert_eq!(*limit_bytes, 16 * MIB);
            assert_eq!(*requested_bytes, 16 * MIB + 65_536);
            assert!(detail.contains("unreachable"), "{detail}");
        }
        other => panic!("expected a memory limit, got {other}"),
    }

    let component_limited = runtime
        .prepare(
            &linker,
            &loaded.component,
            PrepareOptions {
                limits: ComponentLimits {
                    max_memory_bytes: Some(2 * MIB),
                    ..ComponentLimits::default()
                },
                ..PrepareOptions::default()
            },
        )
        .expect("prepare");
    let pages = component_limited
        .call(Host::new(), None, "pages", &[])
        .await
        .expect("pages");
    assert_eq!(pages, [Val::U32(32)], "2 MiB = 32 pages");
    let err = component_limited
        .call(Host::new(), None, "hog", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, InvokeError::MemoryLimit { limit_bytes, .. } if limit_bytes == 2 * MIB),
        "{err}"
    );
    assert!(
        err.to_string().contains("above its limit of 2097152 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn a_component_limit_above_the_engine_is_refused() {
    let runtime = small_runtime();
    let loaded = runtime.load(wasm(MEMORY)).await.expect("load");
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");
    let err = runtime
        .prepare(
            &linker,
            &loaded.component,
            PrepareOptions {
                limits: ComponentLimits {
                    max_memory_bytes: Some(32 * MIB),
                    ..ComponentLimits::default()
                },
                ..PrepareOptions::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            PrepareError::LimitAboveEngine {
                what: "max_memory_bytes",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_initial_memory_above_the_limit_fails_instantiation_as_a_memory_limit() {
    let runtime = small_runtime();
    let big = r#"
    (component
      (core module $m (memory 64) (func (export "f")))
      (core instance $i (instantiate $m))
      (func (export "f") (canon lift (core func $i "f"))))"#;
    let loaded = runtime.load(wasm(big)).await.expect("load");
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");
    let prepared = runtime
        .prepare(
            &linker,
            &loaded.component,
            PrepareOptions {
                limits: ComponentLimits {
                    max_memory_bytes: Some(MIB),
                    ..ComponentLimits::default()
                },
                ..PrepareOptions::default()
            },
        )
        .expect("prepare");
    let err = prepared
        .call(Host::new(), None, "f", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, InvokeError::MemoryLimit { requested_bytes, .. } if requested_bytes == 4 * MIB),
        "{err}"
    );
}

#[tokio::test]
async fn a_full_pool_is_reported_as_such() {
    let runtime = Runtime::new(RuntimeConfig {
        max_components: 1,
        ..small_config()
    })
    .expect("runtime");
    let loaded = runtime.load(wasm(ARITH)).await.expect("load");
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");
    let options = PrepareOptions {
        count: std::num::NonZeroU32::new(2).unwrap(),
        ..PrepareOptions::default()
    };
    let prepared = runtime
        .prepare(&linker, &loaded.component, options)
        .expect("prepare");
    let mut first = prepared
        .instantiate(Host::new())
        .await
        .expect("the one slot");
    let err = prepared.instantiate(Host::new()).await.unwrap_err();
    assert!(matches!(err, InvokeError::PoolExhausted(_)), "{err}");
    let results = first
        .call(None, "add", &[Val::U32(1), Val::U32(1)])
        .await
        .expect("the first instance still runs");
    assert_eq!(results, [Val::U32(2)]);
    drop(first);
    prepared
        .instantiate(Host::new())
        .await
        .expect("the slot is free again");
}

#[tokio::test]
async fn a_guest_blocked_in_a_host_call_is_stopped_at_the_deadline_too() {
    let runtime = small_runtime();
    let loaded = runtime.load(wasm(WAITER)).await.expect("load");
    let options = PrepareOptions {
        limits: ComponentLimits {
            max_execution_time: Some(Duration::from_millis(200)),
            ..ComponentLimits::default()
        },
        ..PrepareOptions::default()
    };
    let prepared = runtime
        .prepare(&waiting_linker(&runtime), &loaded.component, options)
        .expect("prepare");
    let started = Instant::now();
    let err = prepared
        .call(Host::new(), None, "run", &[Val::U32(60_000)])
        .await
        .unwrap_err();
    assert!(matches!(err, InvokeError::DeadlineExceeded { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(prepared.available(), 1, "the slot is given back");
}
