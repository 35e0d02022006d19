//! A `wasi:keyvalue/watcher` test component.

use crate::{bump_memory, keyvalue_store_import};

/// Imports `wasi:keyvalue/store@0.2.0-draft` (`bucket`, `[method]bucket.set`) and exports
/// `wasi:keyvalue/watcher@0.2.0-draft`: `on-set(bucket, key, value)` writes `value` under
/// `key` in that bucket, `on-delete(bucket, key)` writes `deleted` there; each drops the
/// bucket it was given.
pub const WATCHER: &str = concat!(
    r#"
(component
"#,
    keyvalue_store_import!(),
    r#"    (export "[method]bucket.set" (func (param "self" (borrow $b)) (param "key" string)
      (param "value" (list u8)) (result (result (error $err)))))))
  (alias export $store "bucket" (type $bucket))
"#,
    bump_memory!(),
    r#"
  (core func $set (canon lower (func $store "[method]bucket.set") (memory $mem) (realloc $realloc)))
  (core func $drop (canon resource.drop $bucket))
  (core module $main
    (import "env" "mem" (memory 1))
    (import "kv" "set" (func $set (param i32 i32 i32 i32 i32 i32)))
    (import "kv" "drop" (func $drop (param i32)))
    (data (i32.const 32) "deleted")
    (func (export "on-set") (param $b i32) (param $kp i32) (param $kl i32) (param $vp i32)
      (param $vl i32)
      (call $set (local.get $b) (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl)
        (i32.const 64))
      (call $drop (local.get $b)))
    (func (export "on-delete") (param $b i32) (param $kp i32) (param $kl i32)
      (call $set (local.get $b) (local.get $kp) (local.get $kl) (i32.const 32) (i32.const 7)
        (i32.const 64))
      (call $drop (local.get $b))))
  (core instance $i (instantiate $main
    (with "env" (instance (export "mem" (memory $mem))))
    (with "kv" (instance (export "set" (func $set)) (export "drop" (func $drop))))))
  (func $on_set (param "bucket" (own $bucket)) (param "key" string) (param "value" (list u8))
    (canon lift (core func $i "on-set") (memory $mem) (realloc $realloc)))
  (func $on_delete (param "bucket" (own $bucket)) (param "key" string)
    (canon lift (core func $i "on-delete") (memory $mem) (realloc $realloc)))
  (instance $watcher (export "on-set" (func $on_set)) (export "on-delete" (func $on_delete)))
  (export "wasi:keyvalue/watcher@0.2.0-draft" (instance $watcher))
)
"#
);
