//! Small test components, written in the component text format (no wasm32 toolchain is
//! needed), shared by the host, CLI, oracle and claims tests.

use std::path::{Path, PathBuf};

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
  (import "wasi:keyvalue/store@0.2.0-draft" (instance $store
    (type $e (variant (case "no-such-store") (case "access-denied") (case "other" string)))
    (export "error" (type $err (eq $e)))
    (export "bucket" (type $b (sub resource)))
    (export "open" (func (param "identifier" string) (result (result (own $b) (error $err)))))
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

/// Imports `wasi:io/error@0.2.0`, `wasi:io/streams@0.2.0` (`input-stream.blocking-read`,
/// `output-stream.blocking-write-and-flush`) and `wasi:blobstore/{types, container,
/// blobstore}@0.2.0-draft`, and exports `local:test/blobs@0.1.0`, whose functions return
/// the first error met (a blobstore error as is) and drop every handle they get:
///
/// - `put(container, name, data)`: `create-container`, a new `outgoing-value`, its
///   `output-stream` (`outgoing-value-write-body`, else the error `write-body failed`),
///   `container.write-data(name, value)`, then `data` written in chunks of 4096 bytes
///   (`blocking-write-and-flush`, a stream error being `stream error`), the stream dropped
///   and `outgoing-value.finish`.
/// - `get(container, name)`: `get-container`, `get-data(name, 0, u64::MAX)` and
///   `incoming-value-consume-sync`: the object's bytes.
/// - `get-streamed(container, name)`: the same with `incoming-value-consume-async`, the
///   `input-stream` read (`blocking-read(65536)`) until it is `closed` (its
///   `last-operation-failed` being the error `stream failed`).
/// - `list(container)`: the names of one `read-stream-object-names(1000)` of
///   `list-objects`.
/// - `size(container, name)`: `object-info`'s `size`.
/// - `has(container, name)`: `has-object`.
/// - `remove(container, name)`: `delete-object`.
/// - `exists(container)`: `container-exists`.
/// - `copy(src-container, src-name, dest-container, dest-name)`: `copy-object`.
pub const BLOBSTORE: &str = concat!(
    r#"
(component
  (import "wasi:io/error@0.2.0" (instance $io_error
    (export "error" (type (sub resource)))))
  (alias export $io_error "error" (type $error))
  (import "wasi:io/streams@0.2.0" (instance $streams
    (export "error" (type $e (eq $error)))
    (type $se (variant (case "last-operation-failed" (own $e)) (case "closed")))
    (export "stream-error" (type $stream_error (eq $se)))
    (export "input-stream" (type $is (sub resource)))
    (export "output-stream" (type $os (sub resource)))
    (export "[method]input-stream.blocking-read" (func (param "self" (borrow $is))
      (param "len" u64) (result (result (list u8) (error $stream_error)))))
    (export "[method]output-stream.blocking-write-and-flush" (func (param "self" (borrow $os))
      (param "contents" (list u8)) (result (result (error $stream_error)))))))
  (alias export $streams "input-stream" (type $input_stream))
  (alias export $streams "output-stream" (type $output_stream))
  (import "wasi:blobstore/types@0.2.0-draft" (instance $types
    (export "input-stream" (type $is (eq $input_stream)))
    (export "output-stream" (type $os (eq $output_stream)))
    (type $s string)
    (export "error" (type $err (eq $s)))
    (type $om (record (field "name" string) (field "container" string)
      (field "created-at" u64) (field "size" u64)))
    (export "object-metadata" (type (eq $om)))
    (type $oi (record (field "container" string) (field "object" string)))
    (export "object-id" (type (eq $oi)))
    (export "outgoing-value" (type $ov (sub resource)))
    (export "incoming-value" (type $iv (sub resource)))
    (export "[static]outgoing-value.new-outgoing-value" (func (result (own $ov))))
    (export "[method]outgoing-value.outgoing-value-write-body"
      (func (param "self" (borrow $ov)) (result (result (own $os)))))
    (export "[static]outgoing-value.finish"
      (func (param "this" (own $ov)) (result (result (error $err)))))
    (export "[static]incoming-value.incoming-value-consume-sync"
      (func (param "this" (own $iv)) (result (result (list u8) (error $err)))))
    (export "[static]incoming-value.incoming-value-consume-async"
      (func (param "this" (own $iv)) (result (result (own $is) (error $err)))))))
  (alias export $types "error" (type $blob_error))
  (alias export $types "object-metadata" (type $object_metadata))
  (alias export $types "object-id" (type $object_id))
  (alias export $types "outgoing-value" (type $outgoing_value))
  (alias export $types "incoming-value" (type $incoming_value))
  (import "wasi:blobstore/container@0.2.0-draft" (instance $containers
    (export "error" (type $err (eq $blob_error)))
    (export "incoming-value" (type $iv (eq $incoming_value)))
    (export "object-metadata" (type $om (eq $object_metadata)))
    (export "outgoing-value" (type $ov (eq $outgoing_value)))
    (export "container" (type $c (sub resource)))
    (export "stream-object-names" (type $son (sub resource)))
    (export "[method]container.get-data" (func (param "self" (borrow $c)) (param "name" string)
      (param "start" u64) (param "end" u64) (result (result (own $iv) (error $err)))))
    (export "[method]container.write-data" (func (param "self" (borrow $c)) (param "name" string)
      (param "data" (borrow $ov)) (result (result (error $err)))))
    (export "[method]container.list-objects" (func (param "self" (borrow $c))
      (result (result (own $son) (error $err)))))
    (export "[method]container.delete-object" (func (param "self" (borrow $c))
      (param "name" string) (result (result (error $err)))))
    (export "[method]container.has-object" (func (param "self" (borrow $c))
      (param "name" string) (result (result bool (error $err)))))
    (export "[method]container.object-info" (func (param "self" (borrow $c))
      (param "name" string) (result (result $om (error $err)))))
    (export "[method]stream-object-names.read-stream-object-names"
      (func (param "self" (borrow $son)) (param "len" u64)
        (result (result (tuple (list string) bool) (error $err)))))))
  (alias export $containers "container" (type $container))
  (alias export $containers "stream-object-names" (type $stream_object_names))
  (import "wasi:blobstore/blobstore@0.2.0-draft" (instance $blobstore
    (export "container" (type $c (eq $container)))
    (export "error" (type $err (eq $blob_error)))
    (export "object-id" (type $oid (eq $object_id)))
    (export "create-container" (func (param "name" string)
      (result (result (own $c) (error $err)))))
    (export "get-container" (func (param "name" string) (result (result (own $c) (error $err)))))
    (export "container-exists" (func (param "name" string) (result (result bool (error $err)))))
    (export "copy-object" (func (param "src" $oid) (param "dest" $oid)
      (result (result (error $err)))))))
"#,
    bump_memory!(),
    r#"
  (core func $read (canon lower (func $streams "[method]input-stream.blocking-read")
    (memory $mem) (realloc $realloc)))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $mem)))
  (core func $new_value (canon lower (func $types "[static]outgoing-value.new-outgoing-value")))
  (core func $write_body
    (canon lower (func $types "[method]outgoing-value.outgoing-value-write-body") (memory $mem)))
  (core func $finish (canon lower (func $types "[static]outgoing-value.finish")
    (memory $mem) (realloc $realloc)))
  (core func $consume_sync
    (canon lower (func $types "[static]incoming-value.incoming-value-consume-sync")
      (memory $mem) (realloc $realloc)))
  (core func $consume_async
    (canon lower (func $types "[static]incoming-value.incoming-value-consume-async")
      (memory $mem) (realloc $realloc)))
  (core func $get_data (canon lower (func $containers "[method]container.get-data")
    (memory $mem) (realloc $realloc)))
  (core func $write_data (canon lower (func $containers "[method]container.write-data")
    (memory $mem) (realloc $realloc)))
  (core func $list_objects (canon lower (func $containers "[method]container.list-objects")
    (memory $mem) (realloc $realloc)))
  (core func $delete_object (canon lower (func $containers "[method]container.delete-object")
    (memory $mem) (realloc $realloc)))
  (core func $has_object (canon lower (func $containers "[method]container.has-object")
    (memory $mem) (realloc $realloc)))
  (core func $object_info (canon lower (func $containers "[method]container.object-info")
    (memory $mem) (realloc $realloc)))
  (core func $read_names
    (canon lower (func $containers "[method]stream-object-names.read-stream-object-names")
      (memory $mem) (realloc $realloc)))
  (core func $create_container (canon lower (func $blobstore "create-container")
    (memory $mem) (realloc $realloc)))
  (core func $get_container (canon lower (func $blobstore "get-container")
    (memory $mem) (realloc $realloc)))
  (core func $container_exists (canon lower (func $blobstore "container-exists")
    (memory $mem) (realloc $realloc)))
  (core func $copy_object (canon lower (func $blobstore "copy-object")
    (memory $mem) (realloc $realloc)))
  (core func $drop_error (canon resource.drop $error))
  (core func $drop_input (canon resource.drop $input_stream))
  (core func $drop_output (canon resource.drop $output_stream))
  (core func $drop_value (canon resource.drop $outgoing_value))
  (core func $drop_container (canon resource.drop $container))
  (core func $drop_names (canon resource.drop $stream_object_names))
  ;; Lowered results go to 256 (8-aligned: object-info's is 40 bytes), the exports' to 512;
  ;; the error texts of the component's own are at 16, 32 and 48.
  (core module $main
    (import "env" "mem" (memory 1))
    (import "env" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
    (import "io" "read" (func $read (param i32 i64 i32)))
    (import "io" "write" (func $write (param i32 i32 i32 i32)))
    (import "bs" "new-value" (func $new_value (result i32)))
    (import "bs" "write-body" (func $write_body (param i32 i32)))
    (import "bs" "finish" (func $finish (param i32 i32)))
    (import "bs" "consume-sync" (func $consume_sync (param i32 i32)))
    (import "bs" "consume-async" (func $consume_async (param i32 i32)))
    (import "bs" "get-data" (func $get_data (param i32 i32 i32 i64 i64 i32)))
    (import "bs" "write-data" (func $write_data (param i32 i32 i32 i32 i32)))
    (import "bs" "list-objects" (func $list_objects (param i32 i32)))
    (import "bs" "delete-object" (func $delete_object (param i32 i32 i32 i32)))
    (import "bs" "has-object" (func $has_object (param i32 i32 i32 i32)))
    (import "bs" "object-info" (func $object_info (param i32 i32 i32 i32)))
    (import "bs" "read-names" (func $read_names (param i32 i64 i32)))
    (import "bs" "create-container" (func $create_container (param i32 i32 i32)))
    (import "bs" "get-container" (func $get_container (param i32 i32 i32)))
    (import "bs" "container-exists" (func $container_exists (param i32 i32 i32)))
    (import "bs" "copy-object" (func $copy_object (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
    (import "drop" "error" (func $drop_error (param i32)))
    (import "drop" "input" (func $drop_input (param i32)))
    (import "drop" "output" (func $drop_output (param i32)))
    (import "drop" "value" (func $drop_value (param i32)))
    (import "drop" "container" (func $drop_container (param i32)))
    (import "drop" "names" (func $drop_names (param i32)))
    (data (i32.const 16) "stream error")
    (data (i32.const 32) "stream failed")
    (data (i32.const 48) "write-body failed")
    ;; Writes the error $p, $l (a string) to the result at 512, its payload at 516 + $at.
    (func $fail (param $p i32) (param $l i32) (param $at i32)
      (i32.store8 (i32.const 512) (i32.const 1))
      (i32.store (i32.add (i32.const 516) (local.get $at)) (local.get $p))
      (i32.store (i32.add (i32.const 520) (local.get $at)) (local.get $l)))
    ;; The container named at $name (created when $create, else got): its handle, or -1
    ;; once the error is written to the result at 512 (`$fail` with $at).
    (func $open (param $name i32) (param $len i32) (param $create i32) (param $at i32)
      (result i32)
      (if (local.get $create)
        (then (call $create_container (local.get $name) (local.get $len) (i32.const 256)))
        (else (call $get_container (local.get $name) (local.get $len) (i32.const 256))))
      (if (i32.load8_u (i32.const 256))
        (then
          (call $fail (i32.load (i32.const 260)) (i32.load (i32.const 264)) (local.get $at))
          (return (i32.const -1))))
      (i32.load (i32.const 260)))
    (func (export "put") (param $cp i32) (param $cl i32) (param $np i32) (param $nl i32)
      (param $dp i32) (param $dl i32) (result i32)
      (local $c i32) (local $v i32) (local $s i32) (local $off i32) (local $n i32)
      (local.set $c (call $open (local.get $cp) (local.get $cl) (i32.const 1) (i32.const 0)))
      (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const 512))))
      (local.set $v (call $new_value))
      (call $write_body (local.get $v) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then
          (call $drop_value (local.get $v))
          (call $drop_container (local.get $c))
          (call $fail (i32.const 48) (i32.const 17) (i32.const 0))
          (return (i32.const 512))))
      (local.set $s (i32.load (i32.const 260)))
      (call $write_data (local.get $c) (local.get $np) (local.get $nl) (local.get $v)
        (i32.const 512))
      (if (i32.load8_u (i32.const 512))
        (then
          (call $drop_output (local.get $s))
          (call $drop_value (local.get $v))
          (call $drop_container (local.get $c))
          (return (i32.const 512))))
      ;; The data, 4096 bytes at most a call.
      (block $written
        (loop $chunks
          (br_if $written (i32.ge_u (local.get $off) (local.get $dl)))
          (local.set $n (i32.sub (local.get $dl) (local.get $off)))
          (if (i32.gt_u (local.get $n) (i32.const 4096)) (then (local.set $n (i32.const 4096))))
          (call $write (local.get $s) (i32.add (local.get $dp) (local.get $off)) (local.get $n)
            (i32.const 256))
          (if (i32.load8_u (i32.const 256))
            (then
              ;; last-operation-failed: its error dropped.
              (if (i32.eqz (i32.load8_u (i32.const 260)))
                (then (call $drop_error (i32.load (i32.const 264)))))
              (call $drop_output (local.get $s))
              (call $drop_value (local.get $v))
              (call $drop_container (local.get $c))
              (call $fail (i32.const 16) (i32.const 12) (i32.const 0))
              (return (i32.const 512))))
          (local.set $off (i32.add (local.get $off) (local.get $n)))
          (br $chunks)))
      (call $drop_output (local.get $s))
      (call $finish (local.get $v) (i32.const 512))
      (call $drop_container (local.get $c))
      (i32.const 512))
    (func (export "get") (param i32 i32 i32 i32) (result i32)
      (local $c i32)
      (local.set $c (call $open (local.get 0) (local.get 1) (i32.const 0) (i32.const 0)))
      (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const 512))))
      ;; get-data's result and consume-sync's are laid out as get's.
      (call $get_data (local.get $c) (local.get 2) (local.get 3) (i64.const 0) (i64.const -1)
        (i32.const 512))
      (if (i32.eqz (i32.load8_u (i32.const 512)))
        (then (call $consume_sync (i32.load (i32.const 516)) (i32.const 512))))
      (call $drop_container (local.get $c))
      (i32.const 512))
    (func (export "get-streamed") (param i32 i32 i32 i32) (result i32)
      (local $c i32) (local $s i32) (local $start i32) (local $total i32) (local $n i32)
      (local.set $c (call $open (local.get 0) (local.get 1) (i32.const 0) (i32.const 0)))
      (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const 512))))
      (call $get_data (local.get $c) (local.get 2) (local.get 3) (i64.const 0) (i64.const -1)
        (i32.const 512))
      (if (i32.eqz (i32.load8_u (i32.const 512)))
        (then (call $consume_async (i32.load (i32.const 516)) (i32.const 512))))
      (if (i32.load8_u (i32.const 512))
        (then
          (call $drop_container (local.get $c))
          (return (i32.const 512))))
      (local.set $s (i32.load (i32.const 516)))
      ;; The heap's top: the chunks read are allocated after it, and each is moved down to
      ;; the end of the ones before (where it mostly is already).
      (local.set $start (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0)))
      (block $ended
        (loop $reads
          (call $read (local.get $s) (i64.const 65536) (i32.const 256))
          (br_if $ended (i32.load8_u (i32.const 256)))
          (local.set $n (i32.load (i32.const 264)))
          (if (local.get $n)
            (then
              (memory.copy (i32.add (local.get $start) (local.get $total))
                (i32.load (i32.const 260)) (local.get $n))
              (local.set $total (i32.add (local.get $total) (local.get $n)))))
          (br $reads)))
      (if (i32.load8_u (i32.const 260))
        (then
          ;; closed: the end of the object.
          (i32.store8 (i32.const 512) (i32.const 0))
          (i32.store (i32.const 516) (local.get $start))
          (i32.store (i32.const 520) (local.get $total)))
        (else
          (call $drop_error (i32.load (i32.const 264)))
          (call $fail (i32.const 32) (i32.const 13) (i32.const 0))))
      (call $drop_input (local.get $s))
      (call $drop_container (local.get $c))
      (i32.const 512))
    (func (export "list") (param i32 i32) (result i32)
      (local $c i32) (local $names i32)
      (local.set $c (call $open (local.get 0) (local.get 1) (i32.const 0) (i32.const 0)))
      (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const 512))))
      (call $list_objects (local.get $c) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then
          (call $fail (i32.load (i32.const 260)) (i32.load (i32.const 264)) (i32.const 0))
          (call $drop_container (local.get $c))
          (return (i32.const 512))))
      (local.set $names (i32.load (i32.const 260)))
      ;; Its first 12 bytes laid out as list's result (the bool after them left out).
      (call $read_names (local.get $names) (i64.const 1000) (i32.const 512))
      (call $drop_names (local.get $names))
      (call $drop_container (local.get $c))
      (i32.const 512))
    (func (export "size") (param i32 i32 i32 i32) (result i32)
      (local $c i32)
      (local.set $c (call $open (local.get 0) (local.get 1) (i32.const 0) (i32.const 4)))
      (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const 512))))
      ;; result<object-metadata, error>: the record at 264, its size at 288.
      (call $object_info (local.get $c) (local.get 2) (local.get 3) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then (call $fail (i32.load (i32.const 264)) (i32.load (i32.const 268)) (i32.const 4)))
        (else
          (i32.store8 (i32.const 512) (i32.const 0))
          (i64.store (i32.const 520) (i64.load (i32.const 288)))))
      (call $drop_container (local.get $c))
      (i32.const 512))
    (func (export "has") (param i32 i32 i32 i32) (result i32)
      (local $c i32)
      (local.set $c (call $open (local.get 0) (local.get 1) (i32.const 0) (i32.const 0)))
      (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const 512))))
      (call $has_object (local.get $c) (local.get 2) (local.get 3) (i32.const 512))
      (call $drop_container (local.get $c))
      (i32.const 512))
    (func (export "remove") (param i32 i32 i32 i32) (result i32)
      (local $c i32)
      (local.set $c (call $open (local.get 0) (local.get 1) (i32.const 0) (i32.const 0)))
      (if (i32.lt_s (local.get $c) (i32.const 0)) (then (return (i32.const 512))))
      (call $delete_object (local.get $c) (local.get 2) (local.get 3) (i32.const 512))
      (call $drop_container (local.get $c))
      (i32.const 512))
    (func (export "exists") (param i32 i32) (result i32)
      (call $container_exists (local.get 0) (local.get 1) (i32.const 512))
      (i32.const 512))
    (func (export "copy") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (call $copy_object (local.get 0) (local.get 1) (local.get 2) (local.get 3)
        (local.get 4) (local.get 5) (local.get 6) (local.get 7) (i32.const 512))
      (i32.const 512)))
  (core instance $i (instantiate $main
    (with "env" (instance (export "mem" (memory $mem)) (export "realloc" (func $realloc))))
    (with "io" (instance (export "read" (func $read)) (export "write" (func $write))))
    (with "bs" (instance
      (export "new-value" (func $new_value)) (export "write-body" (func $write_body))
      (export "finish" (func $finish)) (export "consume-sync" (func $consume_sync))
      (export "consume-async" (func $consume_async)) (export "get-data" (func $get_data))
      (export "write-data" (func $write_data)) (export "list-objects" (func $list_objects))
      (export "delete-object" (func $delete_object)) (export "has-object" (func $has_object))
      (export "object-info" (func $object_info)) (export "read-names" (func $read_names))
      (export "create-container" (func $create_container))
      (export "get-container" (func $get_container))
      (export "container-exists" (func $container_exists))
      (export "copy-object" (func $copy_object))))
    (with "drop" (instance
      (export "error" (func $drop_error)) (export "input" (func $drop_input))
      (export "output" (func $drop_output)) (export "value" (func $drop_value))
      (export "container" (func $drop_container)) (export "names" (func $drop_names))))))
  (func $put (param "container" string) (param "name" string) (param "data" (list u8))
    (result (result (error string)))
    (canon lift (core func $i "put") (memory $mem) (realloc $realloc)))
  (func $get (param "container" string) (param "name" string)
    (result (result (list u8) (error string)))
    (canon lift (core func $i "get") (memory $mem) (realloc $realloc)))
  (func $get_streamed (param "container" string) (param "name" string)
    (result (result (list u8) (error string)))
    (canon lift (core func $i "get-streamed") (memory $mem) (realloc $realloc)))
  (func $list (param "container" string) (result (result (list string) (error string)))
    (canon lift (core func $i "list") (memory $mem) (realloc $realloc)))
  (func $size (param "container" string) (param "name" string)
    (result (result u64 (error string)))
    (canon lift (core func $i "size") (memory $mem) (realloc $realloc)))
  (func $has (param "container" string) (param "name" string)
    (result (result bool (error string)))
    (canon lift (core func $i "has") (memory $mem) (realloc $realloc)))
  (func $remove (param "container" string) (param "name" string)
    (result (result (error string)))
    (canon lift (core func $i "remove") (memory $mem) (realloc $realloc)))
  (func $exists (param "container" string) (result (result bool (error string)))
    (canon lift (core func $i "exists") (memory $mem) (realloc $realloc)))
  (func $copy (param "src-container" string) (param "src-name" string)
    (param "dest-container" string) (param "dest-name" string) (result (result (error string)))
    (canon lift (core func $i "copy") (memory $mem) (realloc $realloc)))
  (instance $blobs (export "put" (func $put)) (export "get" (func $get))
    (export "get-streamed" (func $get_streamed)) (export "list" (func $list))
    (export "size" (func $size)) (export "has" (func $has)) (export "remove" (func $remove))
    (export "exists" (func $exists)) (export "copy" (func $copy)))
  (export "local:test/blobs@0.1.0" (instance $blobs))
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
