//! Building the engine from the official limits.

use std::time::Instant;

use lattice_runtime::{AllocatorChoice, PoolFallback, Runtime, RuntimeConfig, RuntimeError};

#[test]
fn the_official_defaults_reserve_a_pool_or_say_which_limits_did_not_fit() {
    let started = Instant::now();
    match Runtime::new(RuntimeConfig::default()) {
        Ok(runtime) => {
            let AllocatorChoice::Pooling(limits) = runtime.allocator() else {
                panic!("no fallback was allowed: {:?}", runtime.allocator());
            };
            assert_eq!(limits.component_instances, 10_000);
            assert_eq!(limits.core_instances_per_component, 30);
            assert_eq!(limits.memory_bytes, 256 << 20);
            assert_eq!(limits.component_instance_bytes, 50 << 20);
            eprintln!("default pool reserved in {:?}", started.elapsed());
        }
        Err(err @ RuntimeError::PoolReservation { .. }) => {
            let text = err.to_string();
            assert!(
                text.contains("10000 component instances (max_components)"),
                "{text}"
            );
            eprintln!("default pool refused: {text}");
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn an_impossible_pool_is_refused_by_name_or_falls_back_only_when_allowed() {
    // 4 million slots of at least 4 GiB of address space each: more than any
    // 64-bit address space holds.
    let impossible = RuntimeConfig {
        max_components: 4_000_000,
        ..RuntimeConfig::default()
    };
    let err = Runtime::new(impossible.clone()).unwrap_err();
    assert!(matches!(err, RuntimeError::PoolReservation { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("4000000 component instances (max_components)"),
        "{text}"
    );
    assert!(text.contains("PoolFallback::OnDemand"), "{text}");

    let runtime = Runtime::new(RuntimeConfig {
        pool_fallback: PoolFallback::OnDemand,
        ..impossible
    })
    .expect("falls back");
    match runtime.allocator() {
        AllocatorChoice::OnDemand { wanted, reason } => {
            assert_eq!(wanted.component_instances, 4_000_000);
            assert!(!reason.is_empty());
        }
        other => panic!("expected on-demand, got {other:?}"),
    }
}
