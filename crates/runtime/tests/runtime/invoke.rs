//! Calling exports dynamically, signatures, linking and the concurrency cap.

use std::sync::Arc;

use lattice_runtime::wasmtime::component::{Val, types::Type};
use lattice_runtime::{InvokeError, LoadError, PrepareError, PrepareOptions, WasmKind};

use crate::support::{
    ARITH, Host, Probe, WAITER, random_component, small_runtime, waiting_linker, wasm, with_count,
};

#[tokio::test]
async fn add_is_called_dynamically_at_the_top_level_and_in_an_instance() {
    let runtime = small_runtime();
    let loaded = runtime.load(wasm(ARITH)).await.expect("load");
    assert_eq!(loaded.kind, WasmKind::Component);
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");
    let prepared = runtime
        .prepare(&linker, &loaded.component, PrepareOptions::default())
        .expect("prepare");

    let params = [Val::U32(40), Val::U32(2)];
    let results = prepared
        .call(Host::new(), None, "add", &params)
        .await
        .expect("add");
    assert_eq!(results, [Val::U32(42)]);
    let results = prepared
        .call(
            Host::new(),
            Some("test:math/ops@0.1.0"),
            "add",
            &[Val::U32(7), Val::U32(8)],
        )
        .await
        .expect("ops#add");
    assert_eq!(results, [Val::U32(15)]);

    let err = prepared
        .call(Host::new(), None, "sub", &params)
        .await
        .unwrap_err();
    assert!(matches!(err, InvokeError::NoSuchExport { .. }), "{err}");
    assert_eq!(err.to_string(), "the component exports no function sub");
    let err = prepared
        .call(Host::new(), None, "add", &[Val::U32(1)])
        .await
        .unwrap_err();
    assert!(matches!(err, InvokeError::Call(_)), "{err}");
    assert!(
        err.to_string().contains("expected 2 argument(s), got 1"),
        "{err}"
    );
}

#[tokio::test]
async fn signatures_give_the_real_parameter_and_result_types() {
    let runtime = small_runtime();
    let loaded = runtime.load(wasm(ARITH)).await.expect("load");
    let signatures = runtime.signatures(&loaded.component);
    let add = signatures
        .export_func(Some("test:math/ops@0.1.0"), "add")
        .expect("ops#add listed");
    let params = add.params().expect("a function");
    assert_eq!(params.len(), 2);
    assert_eq!(params[0].0, "a");
    assert!(matches!(params[0].1, Type::U32));
    assert!(matches!(
        add.results().expect("a function")[..],
        [Type::U32]
    ));
    let mut names: Vec<_> = signatures
        .export_funcs()
        .map(|item| format!("{}#{}", item.instance.as_deref().unwrap_or(""), item.name))
        .collect();
    names.sort();
    assert_eq!(names, ["#add", "#spin", "test:math/ops@0.1.0#add"]);
    assert!(signatures.imports.is_empty());

    let loaded = runtime
        .load(wasm(&random_component("0.2.0")))
        .await
        .expect("load");
    let signatures = runtime.signatures(&loaded.component);
    let import = signatures.import_funcs().next().expect("one import");
    assert_eq!(import.instance.as_deref(), Some("wasi:random/random@0.2.0"));
    assert_eq!(import.name, "get-random-u64");
    assert!(matches!(import.results().unwrap()[..], [Type::U64]));
}

#[tokio::test]
async fn any_wasi_0_2_x_import_links() {
    let runtime = small_runtime();
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");
    for version in ["0.2.0", "0.2.3", "0.2.6", "0.2.99"] {
        let loaded = runtime
            .load(wasm(&random_component(version)))
            .await
            .expect("load");
        let prepared = runtime
            .prepare(&linker, &loaded.component, PrepareOptions::default())
            .unwrap_or_else(|err| panic!("wasi:random@{version} links: {err}"));
        let results = prepared
            .call(Host::new(), None, "roll", &[])
            .await
            .expect("roll");
        assert!(
            matches!(results[..], [Val::U64(_)]),
            "{version}: {results:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_import_is_named_when_preparing() {
    let runtime = small_runtime();
    let loaded = runtime
        .load(wasm(&random_component("0.2.0")))
        .await
        .expect("load");
    let err = runtime
        .prepare(
            &runtime.linker::<Host>(),
            &loaded.component,
            PrepareOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, PrepareError::Link(_)), "{err}");
    assert!(
        err.to_string().contains("wasi:random/random@0.2.0"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_bytes_give_typed_errors() {
    let runtime = small_runtime();
    let err = runtime
        .load(b"MZ\x90\0 not wasm".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::NotWasm { len: 13, .. }), "{err}");
    assert!(
        err.to_string().contains("not a WebAssembly binary"),
        "{err}"
    );

    let mut truncated = wasm(ARITH);
    truncated.truncate(truncated.len() / 2);
    let err = runtime.load(truncated).await.unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Compile {
                kind: WasmKind::Component,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("invalid component: "), "{err}");

    let err = runtime
        .load(b"\0asm\x01\0\0\0\xff\xff".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::Wrap(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_caps_how_many_invocations_run_at_once() {
    let runtime = small_runtime();
    let loaded = runtime.load(wasm(WAITER)).await.expect("load");
    let linker = waiting_linker(&runtime);
    let prepared = runtime
        .prepare(&linker, &loaded.component, with_count(2))
        .expect("prepare");
    let probe = Arc::new(Probe::default());
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let prepared = prepared.clone();
            let host = Host::with_probe(Arc::clone(&probe));
            tokio::spawn(async move { prepared.call(host, None, "run", &[Val::U32(50)]).await })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("run");
    }
    assert_eq!(probe.max(), 2, "never more than `count` at once");
    assert_eq!(prepared.available(), 2);
}

/// An instance with 1 MiB of linear memory or more that was the only one of its
/// component running is torn down (its pool slot's memory reset) on a task of its own,
/// after the task that ended it has let what it woke run, and holds its slot until then.
/// A smaller one, or one that ends while another runs, is torn down where it is dropped.
/// The test's runtime has one thread: nothing else runs until the test awaits.
#[tokio::test]
async fn a_lone_big_instance_is_torn_down_after_what_its_end_woke() {
    let runtime = small_runtime();
    let linker = runtime.linker_with_wasi::<Host>().expect("linker");
    for (pages, big) in [(1, false), (16, true)] {
        let text = format!(
            r#"(component
              (core module $m (memory {pages}) (data (i32.const 0) "lattice") (func (export "f")))
              (core instance $i (instantiate $m))
              (func (export "f") (canon lift (core func $i "f"))))"#
        );
        let loaded = runtime.load(wasm(&text)).await.expect("load");
        let prepared = runtime
            .prepare(&linker, &loaded.component, with_count(2))
            .expect("prepare");
        let (first, second) = (Arc::new(Probe::default()), Arc::new(Probe::default()));
        let mut one = prepared
            .instantiate(Host::with_probe(Arc::clone(&first)))
            .await
            .expect("instantiate");
        let mut other = prepared
            .instantiate(Host::with_probe(Arc::clone(&second)))
            .await
            .expect("instantiate");
        one.call(None, "f", &[]).await.expect("f");
        other.call(None, "f", &[]).await.expect("f");

        drop(other);
        assert!(second.torn_down(), "{pages} page(s), another running");
        assert_eq!(prepared.available(), 1);

        drop(one);
        assert_eq!(first.torn_down(), !big, "{pages} page(s), alone");
        assert_eq!(
            prepared.available(),
            if big { 1 } else { 2 },
            "held until then"
        );
        first.teardown().await;
        // The slot comes back with the teardown: the next instance gets it.
        let next = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            prepared.instantiate(Host::new()),
        )
        .await
        .expect("the slot came back")
        .expect("instantiate");
        drop(next);
    }
}
