//! Small test components, written in the component text format (no wasm32 toolchain is
//! needed), shared by the host, CLI, oracle and claims tests.

use std::path::{Path, PathBuf};

mod blobstore;
mod resources;
mod watcher;

pub use blobstore::BLOBSTORE;
pub use resources::{COUNTERS, TALLY};
pub use watcher::WATCHER;

/// The text of a core module `$memory` with one page of memory and a bump allocator (which
/// grows the memory when an allocation passes its end), instantiated, with `$mem` and
/// `$realloc` aliased: what components that pass strings or lists across their boundary
/// need (`concat!` it into a component's text).
#[macro_export]
macro_rules! bump_memory {
    () => {
        r#"
  (core module $memory
    (memory (export "mem") 1)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      ;; The heap's top, rounded up to the alignment asked for.
      (local.set $p (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      ;; Past the memory's end: grown by the pages missing.
      (if (i32.gt_u (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
        (then
          (if (i32.eq (i32.const -1) (memory.grow (i32.shr_u
                (i32.sub (i32.add (global.get $heap) (i32.const 0xffff))
                  (i32.shl (memory.size) (i32.const 16)))
                (i32.const 16))))
            (then unreachable))))
      (local.get $p)))
  (core instance $mi (instantiate $memory))
  (alias core export $mi "mem" (core memory $mem))
  (alias core export $mi "realloc" (core func $realloc))
"#
    };
}

/// The start of an import of `wasi:keyvalue/store@0.2.0-draft` as `$store`: its `error`
/// (`$err`) and `bucket` (`$b`); the functions and the closing parentheses follow.
#[macro_export]
macro_rules! keyvalue_store_import {
    () => {
        r#"  (import "wasi:keyvalue/store@0.2.0-draft" (instance $store
    (type $e (variant (case "no-such-store") (case "access-denied") (case "other" string)))
    (export "error" (type $err (eq $e)))
    (export "bucket" (type $b (sub resource)))
"#
    };
}

/// Exports `local:test/math@0.1.0` `add(a: u32, b: u32) -> u32` and a top-level `spin`
/// that never ends.
pub const MATH: &str = r#"
(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32)
      local.get 0 local.get 1 i32.add)
    (func (export "spin") (loop $forever (br $forever))))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (func $spin (canon lift (core func $i "spin")))
  (instance $math (export "add" (func $add)))
  (export "local:test/math@0.1.0" (instance $math))
  (export "spin" (func $spin))
)
"#;

/// Imports `local:test/math@0.1.0` `add` and exports `local:test/calc@0.1.0`
/// `double(x: u32) -> u32` = `add(x, x)`.
pub const CALC: &str = r#"
(component
  (import "local:test/math@0.1.0" (instance $math
    (export "add" (func (param "a" u32) (param "b" u32) (result u32)))))
  (core func $add (canon lower (func $math "add")))
  (core module $m
    (import "math" "add" (func $add (param i32 i32) (result i32)))
    (func (export "double") (param i32) (result i32)
      local.get 0 local.get 0 call $add))
  (core instance $i (instantiate $m (with "math" (instance (export "add" (func $add))))))
  (func $double (param "x" u32) (result u32) (canon lift (core func $i "double")))
  (instance $calc (export "double" (func $double)))
  (export "local:test/calc@0.1.0" (instance $calc))
)
"#;

/// Imports `wasmcloud:bus/lattice@{version}` and `local:test/math@0.1.0` `add`, and
/// exports `local:test/router@0.1.0` `add-via(link: string, a: u32, b: u32)`: it sets the
/// link name of `local:test/math` to `link` and calls `add(a, b)` (shared by [`ROUTER`]
/// and [`ROUTER_V1`]; `{…}` parts differ between the two versions).
macro_rules! router {
    ($version:literal, $set_type:literal, $set_core:literal, $call_set:literal, $result:literal, $body:literal) => {
        concat!(
            r#"
(component
  (import "wasmcloud:bus/lattice@"#, $version, r#"" (instance $bus
    (export "call-target-interface" (type $cti (sub resource)))
    (export "[constructor]call-target-interface"
      (func (param "namespace" string) (param "package" string) (param "interface" string)
        (result (own $cti))))
    (export "set-link-name" (func (param "name" string) (param "interfaces" (list (own $cti)))"#,
            $set_type,
            r#"))))
  (import "local:test/math@0.1.0" (instance $math
    (export "add" (func (param "a" u32) (param "b" u32) (result u32)))))
"#,
            $crate::bump_memory!(),
            r#"  (core func $new_target
    (canon lower (func $bus "[constructor]call-target-interface") (memory $mem)))
  (core func $set_link_name
    (canon lower (func $bus "set-link-name") (memory $mem) (realloc $realloc)))
  (core func $add (canon lower (func $math "add")))
  (core module $main
    (import "env" "mem" (memory 1))
    (import "bus" "new" (func $new (param i32 i32 i32 i32 i32 i32) (result i32)))
    (import "bus" "set" (func $set "#,
            $set_core,
            r#"))
    (import "math" "add" (func $add (param i32 i32) (result i32)))
    (data (i32.const 16) "localtestmath")
    (func (export "add-via") (param $name i32) (param $len i32) (param $a i32) (param $b i32)
      (result i32)
      ;; One call-target-interface, local:test/math, its handle at 128.
      (i32.store (i32.const 128)
        (call $new (i32.const 16) (i32.const 5) (i32.const 21) (i32.const 4)
          (i32.const 25) (i32.const 4)))
      "#,
            $call_set,
            $body,
            r#"))
  (core instance $i (instantiate $main
    (with "env" (instance (export "mem" (memory $mem))))
    (with "bus" (instance (export "new" (func $new_target)) (export "set" (func $set_link_name))))
    (with "math" (instance (export "add" (func $add))))))
  (func $add_via (param "link" string) (param "a" u32) (param "b" u32) (result "#,
            $result,
            r#")
    (canon lift (core func $i "add-via") (memory $mem) (realloc $realloc)))
  (instance $router (export "add-via" (func $add_via)))
  (export "local:test/router@0.1.0" (instance $router))
)
"#
        )
    };
}

/// [`router!`] on `wasmcloud:bus/lattice@2.0.1`: `add-via` returns
/// `result<u32, string>`, the error being `set-link-name`'s.
pub const ROUTER: &str = router!(
    "2.0.1",
    " (result (result (error string)))",
    "(param i32 i32 i32 i32 i32)",
    r#"(call $set (local.get $name) (local.get $len) (i32.const 128) (i32.const 1) (i32.const 64))
      (if (i32.load8_u (i32.const 64))
        (then
          (i32.store8 (i32.const 96) (i32.const 1))
          (i32.store (i32.const 100) (i32.load (i32.const 68)))
          (i32.store (i32.const 104) (i32.load (i32.const 72)))
          (return (i32.const 96))))
      "#,
    "(result u32 (error string))",
    r#"(i32.store8 (i32.const 96) (i32.const 0))
      (i32.store (i32.const 100) (call $add (local.get $a) (local.get $b)))
      (i32.const 96)"#
);

/// [`router!`] on `wasmcloud:bus/lattice@1.0.0`, whose `set-link-name` returns nothing:
/// `add-via` returns the sum (a name with no link fails at the call).
pub const ROUTER_V1: &str = router!(
    "1.0.0",
    "",
    "(param i32 i32 i32 i32)",
    r#"(call $set (local.get $name) (local.get $len) (i32.const 128) (i32.const 1))
      "#,
    "u32",
    r#"(call $add (local.get $a) (local.get $b))"#
);

/// Imports `wasi:keyvalue/store@0.2.0-draft` (`open`, `bucket.get`, `bucket.set`),
/// `wasi:keyvalue/atomics@0.2.0-draft` (`increment`) and `wasi:keyvalue/batch@0.2.0-draft`
/// (`get-many`, `set-many`), and exports `local:test/kv@0.1.0`: `get(bucket, key)`,
/// `put(bucket, key, value)`, `count(bucket, key)` (increment by one), `get-many(bucket,
/// keys)` and `put-many(bucket, entries)`, each opening the bucket and returning the
/// operation's own result (with `wasi:keyvalue`'s `error`).
pub const KEYVALUE: &str = concat!(
    r#"
(component
"#,
    keyvalue_store_import!(),
    r#"    (export "open" (func (param "identifier" string) (result (result (own $b) (error $err)))))
    (export "[method]bucket.get" (func (param "self" (borrow $b)) (param "key" string)
      (result (result (option (list u8)) (error $err)))))
    (export "[method]bucket.set" (func (param "self" (borrow $b)) (param "key" string)
      (param "value" (list u8)) (result (result (error $err)))))))
  (alias export $store "error" (type $error))
  (alias export $store "bucket" (type $bucket))
  (import "wasi:keyvalue/atomics@0.2.0-draft" (instance $atomics
    (export "bucket" (type $ab (eq $bucket)))
    (export "error" (type $ae (eq $error)))
    (export "increment" (func (param "bucket" (borrow $ab)) (param "key" string)
      (param "delta" u64) (result (result u64 (error $ae)))))))
  (import "wasi:keyvalue/batch@0.2.0-draft" (instance $batch
    (export "bucket" (type $bb (eq $bucket)))
    (export "error" (type $be (eq $error)))
    (export "get-many" (func (param "bucket" (borrow $bb)) (param "keys" (list string))
      (result (result (list (option (tuple string (list u8)))) (error $be)))))
    (export "set-many" (func (param "bucket" (borrow $bb))
      (param "key-values" (list (tuple string (list u8)))) (result (result (error $be)))))))
"#,
    bump_memory!(),
    r#"
  (core func $open (canon lower (func $store "open") (memory $mem) (realloc $realloc)))
  (core func $get (canon lower (func $store "[method]bucket.get") (memory $mem) (realloc $realloc)))
  (core func $set (canon lower (func $store "[method]bucket.set") (memory $mem) (realloc $realloc)))
  (core func $inc (canon lower (func $atomics "increment") (memory $mem) (realloc $realloc)))
  (core func $get_many (canon lower (func $batch "get-many") (memory $mem) (realloc $realloc)))
  (core func $set_many (canon lower (func $batch "set-many") (memory $mem) (realloc $realloc)))
  (core module $main
    (import "env" "mem" (memory 1))
    (import "kv" "open" (func $open (param i32 i32 i32)))
    (import "kv" "get" (func $get (param i32 i32 i32 i32)))
    (import "kv" "set" (func $set (param i32 i32 i32 i32 i32 i32)))
    (import "kv" "increment" (func $inc (param i32 i32 i32 i64 i32)))
    (import "kv" "get-many" (func $get_many (param i32 i32 i32 i32)))
    (import "kv" "set-many" (func $set_many (param i32 i32 i32 i32)))
    ;; Opens the bucket named at $name: its handle, or -1 once open's error is written as
    ;; the error of the result at 320 (whose payload is at 320 + $at).
    (func $bucket (param $name i32) (param $len i32) (param $at i32) (result i32)
      (call $open (local.get $name) (local.get $len) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then
          (i32.store8 (i32.const 320) (i32.const 1))
          (i32.store8 (i32.add (i32.const 320) (local.get $at)) (i32.load8_u (i32.const 260)))
          (i32.store (i32.add (i32.const 324) (local.get $at)) (i32.load (i32.const 264)))
          (i32.store (i32.add (i32.const 328) (local.get $at)) (i32.load (i32.const 268)))
          (return (i32.const -1))))
      (i32.load (i32.const 260)))
    (func (export "get") (param i32 i32 i32 i32) (result i32)
      (local $h i32)
      (local.set $h (call $bucket (local.get 0) (local.get 1) (i32.const 4)))
      (if (i32.ge_s (local.get $h) (i32.const 0))
        (then (call $get (local.get $h) (local.get 2) (local.get 3) (i32.const 320))))
      (i32.const 320))
    (func (export "put") (param i32 i32 i32 i32 i32 i32) (result i32)
      (local $h i32)
      (local.set $h (call $bucket (local.get 0) (local.get 1) (i32.const 4)))
      (if (i32.ge_s (local.get $h) (i32.const 0))
        (then (call $set (local.get $h) (local.get 2) (local.get 3) (local.get 4) (local.get 5)
          (i32.const 320))))
      (i32.const 320))
    (func (export "count") (param i32 i32 i32 i32) (result i32)
      (local $h i32)
      (local.set $h (call $bucket (local.get 0) (local.get 1) (i32.const 8)))
      (if (i32.ge_s (local.get $h) (i32.const 0))
        (then (call $inc (local.get $h) (local.get 2) (local.get 3) (i64.const 1) (i32.const 320))))
      (i32.const 320))
    (func (export "get-many") (param i32 i32 i32 i32) (result i32)
      (local $h i32)
      (local.set $h (call $bucket (local.get 0) (local.get 1) (i32.const 4)))
      (if (i32.ge_s (local.get $h) (i32.const 0))
        (then (call $get_many (local.get $h) (local.get 2) (local.get 3) (i32.const 320))))
      (i32.const 320))
    (func (export "put-many") (param i32 i32 i32 i32) (result i32)
      (local $h i32)
      (local.set $h (call $bucket (local.get 0) (local.get 1) (i32.const 4)))
      (if (i32.ge_s (local.get $h) (i32.const 0))
        (then (call $set_many (local.get $h) (local.get 2) (local.get 3) (i32.const 320))))
      (i32.const 320)))
  (core instance $i (instantiate $main
    (with "env" (instance (export "mem" (memory $mem))))
    (with "kv" (instance (export "open" (func $open)) (export "get" (func $get))
      (export "set" (func $set)) (export "increment" (func $inc))
      (export "get-many" (func $get_many)) (export "set-many" (func $set_many))))))
  (func $get_ (param "bucket" string) (param "key" string)
    (result (result (option (list u8)) (error $error)))
    (canon lift (core func $i "get") (memory $mem) (realloc $realloc)))
  (func $put_ (param "bucket" string) (param "key" string) (param "value" (list u8))
    (result (result (error $error)))
    (canon lift (core func $i "put") (memory $mem) (realloc $realloc)))
  (func $count_ (param "bucket" string) (param "key" string) (result (result u64 (error $error)))
    (canon lift (core func $i "count") (memory $mem) (realloc $realloc)))
  (func $get_many_ (param "bucket" string) (param "keys" (list string))
    (result (result (list (option (tuple string (list u8)))) (error $error)))
    (canon lift (core func $i "get-many") (memory $mem) (realloc $realloc)))
  (func $put_many_ (param "bucket" string) (param "entries" (list (tuple string (list u8))))
    (result (result (error $error)))
    (canon lift (core func $i "put-many") (memory $mem) (realloc $realloc)))
  (instance $kv (export "get" (func $get_)) (export "put" (func $put_))
    (export "count" (func $count_)) (export "get-many" (func $get_many_))
    (export "put-many" (func $put_many_)))
  (export "local:test/kv@0.1.0" (instance $kv))
)
"#
);

/// Exports `wasi:http/incoming-handler@0.2.0` whose `handle` traps (the handler of a
/// component that fails on every request).
pub const HTTP_TRAP: &str = r#"
(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $out))
  (core module $m
    (func (export "handle") (param i32 i32) unreachable))
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $request)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler))
)
"#;

/// Exports `wasmcloud:messaging/handler@0.2.0` `handle-message` and imports
/// `wasmcloud:messaging/consumer@0.2.0` `publish`: each message's body is published again,
/// to its `reply-to` when it has one (request-reply), else to `echo.out`.
pub const MESSAGING_ECHO: &str = concat!(
    r#"
(component
  (type $bm (record (field "subject" string) (field "body" (list u8)) (field "reply-to" (option string))))
  (import "wasmcloud:messaging/types@0.2.0" (instance $types
    (export "broker-message" (type (eq $bm)))))
  (alias export $types "broker-message" (type $broker-message))
  (import "wasmcloud:messaging/consumer@0.2.0" (instance $consumer
    (export "broker-message" (type $m (eq $broker-message)))
    (export "publish" (func (param "msg" $m) (result (result (error string)))))))
"#,
    bump_memory!(),
    r#"  (core func $publish (canon lower (func $consumer "publish") (memory $mem) (realloc $realloc)))
  (core module $main
    (import "env" "mem" (memory 1))
    (import "env" "publish" (func $publish (param i32 i32 i32 i32 i32 i32 i32 i32)))
    (data (i32.const 16) "echo.out")
    (func (export "handle") (param $sp i32) (param $sl i32) (param $bp i32) (param $bl i32)
      (param $rd i32) (param $rp i32) (param $rl i32) (result i32)
      (if (local.get $rd)
        (then (call $publish (local.get $rp) (local.get $rl) (local.get $bp) (local.get $bl)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 32)))
        (else (call $publish (i32.const 16) (i32.const 8) (local.get $bp) (local.get $bl)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 32))))
      (i32.const 32)))
  (core instance $i (instantiate $main
    (with "env" (instance (export "mem" (memory $mem)) (export "publish" (func $publish))))))
  (func $handle (param "msg" $broker-message) (result (result (error string)))
    (canon lift (core func $i "handle") (memory $mem) (realloc $realloc)))
  (instance $handler (export "handle-message" (func $handle)))
  (export "wasmcloud:messaging/handler@0.2.0" (instance $handler))
)
"#
);

/// A test component built by `scripts/fixtures.sh` (componentize-js or -py; see
/// `fixtures/README.md`): `target/fixtures/{name}.wasm`, built first when it is missing
/// (the script installs its tools on first use and caches what it builds).
///
/// # Errors
///
/// If the script fails; its output says why.
pub fn fixture(name: &str) -> anyhow::Result<PathBuf> {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("target/fixtures").join(format!("{name}.wasm"));
    let _one_build = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.is_file() {
        eprintln!("{} is missing: running scripts/fixtures.sh", path.display());
        let status = std::process::Command::new(root.join("scripts/fixtures.sh"))
            .current_dir(&root)
            .status()?;
        anyhow::ensure!(status.success(), "scripts/fixtures.sh failed: {status}");
        anyhow::ensure!(
            path.is_file(),
            "scripts/fixtures.sh did not build {}",
            path.display()
        );
    }
    Ok(path.canonicalize()?)
}

/// A compile cache that the tests of every run share (`target/test-compile-cache`): a
/// large fixture is compiled once per machine, not once per test host.
pub fn shared_compile_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-compile-cache")
}

/// The binary of a component written in the text format.
pub fn component(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("valid component text")
}

/// Writes the binary of `text` to `dir/name` and returns its path.
pub fn write_component(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, component(text)).expect("the component is written");
    path
}

/// Calls `instance.func(params…)` of `target` over wRPC with `headers`: its one result,
/// or the call's error (no such target yet, a failure the callee reports) as text.
pub async fn call_one(
    wrpc: &lattice_wrpc::WrpcClient,
    headers: &lattice_wrpc::InvocationHeaders,
    target: &str,
    (instance, func): (&str, &str),
    params: &[lattice_wrpc::value::Value],
    types: &[lattice_wrpc::value::Type],
    result: lattice_wrpc::value::Type,
) -> Result<lattice_wrpc::value::Value, String> {
    use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
    let mut body = bytes::BytesMut::new();
    lattice_wrpc::value::encode_tuple(params, types, &mut body).map_err(|e| e.to_string())?;
    let subject = InvocationSubject::new(SubjectPrefix::target("default", target), instance, func);
    let mut invocation = wrpc
        .invoke(&subject, headers, body.freeze())
        .await
        .map_err(|e| e.to_string())?;
    let mut results = invocation
        .read_results(&[result])
        .await
        .map_err(|e| e.to_string())?;
    results.pop().ok_or_else(|| "no result".to_string())
}

/// Calls `instance.func(args…)` of `target` (all `u32`, one `u32` result) over wRPC with
/// `headers`; an error (no such target yet, a trap) as text.
pub async fn call_u32s(
    wrpc: &lattice_wrpc::WrpcClient,
    headers: &lattice_wrpc::InvocationHeaders,
    target: &str,
    instance: &str,
    func: &str,
    args: &[u32],
) -> Result<u32, String> {
    use lattice_wrpc::value::{Type, Value};
    let types: Vec<Type> = args.iter().map(|_| Type::U32).collect();
    let values: Vec<Value> = args.iter().map(|a| Value::U32(*a)).collect();
    let one = (instance, func);
    match call_one(wrpc, headers, target, one, &values, &types, Type::U32).await? {
        Value::U32(n) => Ok(n),
        other => Err(format!("unexpected result {other:?}")),
    }
}

/// Calls `calc`'s `double(21)` with `headers` until it answers (the link to `math` reaches
/// the host a moment after `link.put` is acknowledged), within [`crate::WAIT`]; the answer.
pub async fn double_21_via_calc(
    wrpc: &lattice_wrpc::WrpcClient,
    headers: &lattice_wrpc::InvocationHeaders,
) -> Result<u32, String> {
    let deadline = tokio::time::Instant::now() + crate::WAIT;
    loop {
        let doubled = call_u32s(
            wrpc,
            headers,
            "calc",
            "local:test/calc@0.1.0",
            "double",
            &[21],
        )
        .await;
        match doubled {
            Ok(n) => return Ok(n),
            Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_routers_are_valid_components() {
        super::component(super::ROUTER);
        super::component(super::ROUTER_V1);
    }
}
