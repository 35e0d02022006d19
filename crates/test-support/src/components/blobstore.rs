//! The `wasi:blobstore` test component.

use crate::bump_memory;

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
