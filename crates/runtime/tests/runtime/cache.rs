//! The compile cache: hits, verification, concurrency, directory safety.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use lattice_runtime::wasmtime::component::Val;
use lattice_runtime::{
    CacheDirProblem, CacheOutcome, PrepareOptions, Runtime, RuntimeConfig, RuntimeError,
};

use crate::support::{ARITH, Host, MEMORY, small_config, wasm};

fn cached_runtime(dir: &Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..small_config()
    })
    .expect("runtime")
}

/// The one entry's artifact and sidecar.
fn entry(runtime: &Runtime) -> (PathBuf, PathBuf) {
    let dir = runtime.cache_dir().expect("cache on");
    let mut artifacts: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let artifact = artifacts.pop().unwrap();
    let sidecar = PathBuf::from(format!("{}.blake3", artifact.display()));
    (artifact, sidecar)
}

async fn add(
    runtime: &Runtime,
    component: &lattice_runtime::wasmtime::component::Component,
) -> Val {
    let linker = runtime.linker_with_wasi::<Host>().unwrap();
    let prepared = runtime
        .prepare(&linker, component, PrepareOptions::default())
        .unwrap();
    let results = prepared
        .call(Host::new(), None, "add", &[Val::U32(2), Val::U32(3)])
        .await
        .unwrap();
    results.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_second_load_hits_the_cache_in_this_and_a_later_process() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let runtime = cached_runtime(&cache);
    assert_eq!(
        fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let first = runtime.load(wasm(ARITH)).await.expect("first load");
    assert_eq!(first.outcome, CacheOutcome::Miss { stored: true });
    let (artifact, sidecar) = entry(&runtime);
    assert!(
        artifact
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&first.digest)
    );
    assert!(sidecar.exists());
    assert_eq!(
        fs::metadata(&artifact).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let second = runtime.load(wasm(ARITH)).await.expect("second load");
    assert_eq!(second.outcome, CacheOutcome::Hit);
    assert_eq!(add(&runtime, &second.component).await, Val::U32(5));

    // A new engine with the same settings (a restarted host) uses the same entry.
    drop(runtime);
    let restarted = cached_runtime(&cache);
    let third = restarted.load(wasm(ARITH)).await.expect("third load");
    assert_eq!(third.outcome, CacheOutcome::Hit);
    assert_eq!(add(&restarted, &third.component).await, Val::U32(5));

    // Other bytes, other entry.
    let other = restarted.load(wasm(MEMORY)).await.expect("other load");
    assert_eq!(other.outcome, CacheOutcome::Miss { stored: true });
}

#[tokio::test]
async fn a_corrupted_entry_is_detected_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = cached_runtime(dir.path());
    runtime.load(wasm(ARITH)).await.expect("first load");
    let (artifact, sidecar) = entry(&runtime);

    // One flipped bit in the middle of the native code.
    let mut bytes = fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&artifact, &bytes).unwrap();
    let loaded = runtime
        .load(wasm(ARITH))
        .await
        .expect("load after corruption");
    match &loaded.outcome {
        CacheOutcome::Rejected {
            reason,
            stored: true,
        } => {
            assert!(reason.contains("BLAKE3 digest"), "{reason}")
        }
        other => panic!("expected a rejected entry, got {other:?}"),
    }
    assert_eq!(add(&runtime, &loaded.component).await, Val::U32(5));
    assert_eq!(
        runtime.load(wasm(ARITH)).await.unwrap().outcome,
        CacheOutcome::Hit
    );

    // A truncated artifact, then a garbled sidecar, then a missing sidecar.
    let len = fs::metadata(&artifact).unwrap().len();
    fs::File::options()
        .write(true)
        .open(&artifact)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let outcome = runtime.load(wasm(ARITH)).await.unwrap().outcome;
    assert!(
        matches!(&outcome, CacheOutcome::Rejected { reason, .. } if reason.contains("bytes, its sidecar says")),
        "{outcome:?}"
    );
    fs::write(&sidecar, "lattice-cwasm-v2 blake3=zz len=1\n").unwrap();
    let outcome = runtime.load(wasm(ARITH)).await.unwrap().outcome;
    assert!(
        matches!(&outcome, CacheOutcome::Rejected { reason, .. } if reason.contains("malformed sidecar")),
        "{outcome:?}"
    );
    fs::remove_file(&sidecar).unwrap();
    let outcome = runtime.load(wasm(ARITH)).await.unwrap().outcome;
    assert!(
        matches!(outcome, CacheOutcome::Rejected { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        runtime.load(wasm(ARITH)).await.unwrap().outcome,
        CacheOutcome::Hit
    );

    // A well-formed entry that is not a wasmtime artifact: the sidecar matches,
    // detection refuses it before anything is mapped.
    let junk = b"\x7fELF and then nothing a loader would accept";
    fs::write(&artifact, junk).unwrap();
    let hash = blake3::hash(junk).to_hex();
    fs::write(
        &sidecar,
        format!("lattice-cwasm-v2 blake3={hash} len={}\n", junk.len()),
    )
    .unwrap();
    let outcome = runtime.load(wasm(ARITH)).await.unwrap().outcome;
    assert!(
        matches!(&outcome, CacheOutcome::Rejected { reason, .. } if reason.contains("not a wasmtime artifact") || reason.contains("not a precompiled component")),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_loads_of_the_same_bytes_compile_once() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = cached_runtime(dir.path());
    let bytes = wasm(ARITH);
    let loads: Vec<_> = (0..8)
        .map(|_| {
            let runtime = runtime.clone();
            let bytes = bytes.clone();
            tokio::spawn(async move { runtime.load(bytes).await.unwrap().outcome })
        })
        .collect();
    let mut outcomes = Vec::new();
    for load in loads {
        outcomes.push(load.await.unwrap());
    }
    let compiled = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, CacheOutcome::Miss { .. }))
        .count();
    assert_eq!(compiled, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|outcome| matches!(
            outcome,
            CacheOutcome::Miss { .. } | CacheOutcome::Joined | CacheOutcome::Hit
        )),
        "{outcomes:?}"
    );
}

#[test]
fn a_world_writable_or_foreign_cache_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    fs::create_dir(&cache).unwrap();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
    let err = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.clone()),
        ..small_config()
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::UnsafeCacheDir {
                problem: CacheDirProblem::Writable { mode: 0o777 },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("mode 0777"), "{err}");

    // /tmp itself (sticky, world-writable) is refused too; `/` is root's.
    let err = Runtime::new(RuntimeConfig {
        cache_dir: Some(std::env::temp_dir()),
        ..small_config()
    })
    .unwrap_err();
    assert!(matches!(err, RuntimeError::UnsafeCacheDir { .. }), "{err}");
}

#[tokio::test]
async fn without_a_cache_dir_every_load_compiles() {
    let runtime = Runtime::new(small_config()).unwrap();
    assert!(runtime.cache_dir().is_none());
    let loaded = runtime.load(wasm(ARITH)).await.unwrap();
    assert_eq!(loaded.outcome, CacheOutcome::Disabled);
}

/// Compile vs cache-hit times of a real component:
/// `LATTICE_RUNTIME_BIG_WASM=/path/x.wasm cargo test -p lattice-runtime --profile bench-provider -- --ignored --nocapture big`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs LATTICE_RUNTIME_BIG_WASM; run it with an optimised profile"]
async fn big_component_compile_vs_cache_hit() {
    let path = std::env::var("LATTICE_RUNTIME_BIG_WASM").expect("LATTICE_RUNTIME_BIG_WASM");
    let bytes = fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = cached_runtime(dir.path());
    let compiled = runtime.load(bytes.clone()).await.expect("load");
    assert_eq!(compiled.outcome, CacheOutcome::Miss { stored: true });
    let (artifact, _) = entry(&runtime);
    let hit = runtime.load(bytes.clone()).await.expect("hit");
    assert_eq!(hit.outcome, CacheOutcome::Hit);
    drop(runtime);
    let restarted = cached_runtime(dir.path());
    let restarted_hit = restarted
        .load(bytes.clone())
        .await
        .expect("hit after restart");
    assert_eq!(restarted_hit.outcome, CacheOutcome::Hit);
    let linker = restarted.linker_with_wasi::<Host>().unwrap();
    let links = restarted
        .prepare(&linker, &restarted_hit.component, PrepareOptions::default())
        .map(|_| "links".to_owned())
        .unwrap_or_else(|err| err.to_string());
    let exports: Vec<_> = restarted
        .signatures(&restarted_hit.component)
        .export_funcs()
        .map(|item| format!("{}#{}", item.instance.as_deref().unwrap_or(""), item.name))
        .collect();
    eprintln!(
        "{path}: {} bytes ({:?}); compile + store {:?}; cache hit {:?}; hit in a new engine {:?}; \
         artifact {} bytes; with WASI only: {links}; exports {exports:?}",
        bytes.len(),
        compiled.kind,
        compiled.elapsed,
        hit.elapsed,
        restarted_hit.elapsed,
        fs::metadata(&artifact).unwrap().len(),
    );
}
