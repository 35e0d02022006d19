//! Core modules are wrapped as components with the WASI preview 1 reactor adapter.

use lattice_runtime::wasmtime::component::Val;
use lattice_runtime::{CacheOutcome, PrepareOptions, WasmKind};
use wit_component::StringEncoding;
use wit_parser::Resolve;

use crate::support::Host;

/// A preview 1 core module (as a `wasm32-wasip1` toolchain would emit it) with its
/// WIT world embedded, as wit-bindgen does.
fn preview1_module() -> Vec<u8> {
    let mut module = wat::parse_str(
        r#"
        (module
          (import "wasi_snapshot_preview1" "random_get"
            (func $random_get (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "add") (param i32 i32) (result i32)
            local.get 0
            local.get 1
            i32.add)
          (func (export "random-errno") (result i32)
            (call $random_get (i32.const 16) (i32.const 8))))
        "#,
    )
    .expect("module text");
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str(
            "wrapped.wit",
            "package test:wrapped;
             world wrapped {
               export add: func(a: u32, b: u32) -> u32;
               export random-errno: func() -> u32;
             }",
        )
        .expect("wit");
    let world = resolve.select_world(&[package], None).expect("world");
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("embed");
    module
}

#[tokio::test]
async fn a_preview1_core_module_is_wrapped_and_runs_with_wasi() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = lattice_runtime::Runtime::new(lattice_runtime::RuntimeConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..crate::support::small_config()
    })
    .unwrap();
    let loaded = runtime.load(preview1_module()).await.expect("wrapped");
    assert_eq!(loaded.kind, WasmKind::CoreModule);
    let signatures = runtime.signatures(&loaded.component);
    assert!(
        signatures.import_funcs().any(|item| item
            .instance
            .as_deref()
            .is_some_and(|i| i.starts_with("wasi:random/random@0.2"))),
        "the adapter imports WASI 0.2: {:?}",
        signatures
            .imports
            .iter()
            .map(|i| (&i.instance, &i.name))
            .collect::<Vec<_>>()
    );
    let linker = runtime.linker_with_wasi::<Host>().unwrap();
    let prepared = runtime
        .prepare(&linker, &loaded.component, PrepareOptions::default())
        .expect("links against WASI 0.2");
    let sum = prepared
        .call(Host::new(), None, "add", &[Val::U32(20), Val::U32(22)])
        .await
        .expect("add");
    assert_eq!(sum, [Val::U32(42)]);
    let errno = prepared
        .call(Host::new(), None, "random-errno", &[])
        .await
        .expect("random");
    assert_eq!(
        errno,
        [Val::U32(0)],
        "random_get succeeded through the adapter"
    );

    // The wrapped component is cached like any other.
    let again = runtime.load(preview1_module()).await.unwrap();
    assert_eq!(again.outcome, CacheOutcome::Hit);
}
