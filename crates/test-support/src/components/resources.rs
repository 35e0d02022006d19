//! Test components with resources: one exports a resource, one imports it.

/// Exports `local:test/counters@0.1.0`, a resource `counter` whose rep is the address of
/// its value: `[constructor]counter(start: u32)`, `[method]counter.increment() -> u32`
/// (adds one, returns the new value), `[method]counter.fail()` (traps) and
/// `[static]counter.total(c: counter) -> u32` (the value, dropping the counter).
pub const COUNTERS: &str = r#"
(component
  (type $counter (resource (rep i32)))
  (core func $new (canon resource.new $counter))
  (core func $rep (canon resource.rep $counter))
  (core func $drop (canon resource.drop $counter))
  (core module $m
    (import "r" "new" (func $new (param i32) (result i32)))
    (import "r" "rep" (func $rep (param i32) (result i32)))
    (import "r" "drop" (func $drop (param i32)))
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 16))
    (func (export "new") (param $start i32) (result i32)
      (local $at i32)
      (local.set $at (global.get $next))
      (global.set $next (i32.add (global.get $next) (i32.const 4)))
      (i32.store (local.get $at) (local.get $start))
      (call $new (local.get $at)))
    (func (export "increment") (param $rep i32) (result i32)
      (i32.store (local.get $rep) (i32.add (i32.load (local.get $rep)) (i32.const 1)))
      (i32.load (local.get $rep)))
    (func (export "fail") (param $rep i32) unreachable)
    (func (export "total") (param $handle i32) (result i32)
      (local $v i32)
      (local.set $v (i32.load (call $rep (local.get $handle))))
      (call $drop (local.get $handle))
      (local.get $v)))
  (core instance $i (instantiate $m (with "r" (instance
    (export "new" (func $new)) (export "rep" (func $rep)) (export "drop" (func $drop))))))
  (func $ctor (param "start" u32) (result (own $counter)) (canon lift (core func $i "new")))
  (func $inc (param "self" (borrow $counter)) (result u32)
    (canon lift (core func $i "increment")))
  (func $fail (param "self" (borrow $counter)) (canon lift (core func $i "fail")))
  (func $total (param "c" (own $counter)) (result u32) (canon lift (core func $i "total")))
  (component $shape
    (import "r" (type $r (sub resource)))
    (import "ctor" (func $ctor (param "start" u32) (result (own $r))))
    (import "inc" (func $inc (param "self" (borrow $r)) (result u32)))
    (import "fail" (func $fail (param "self" (borrow $r))))
    (import "total" (func $total (param "c" (own $r)) (result u32)))
    (export $c "counter" (type $r))
    (export "[constructor]counter" (func $ctor) (func (param "start" u32) (result (own $c))))
    (export "[method]counter.increment" (func $inc)
      (func (param "self" (borrow $c)) (result u32)))
    (export "[method]counter.fail" (func $fail) (func (param "self" (borrow $c))))
    (export "[static]counter.total" (func $total) (func (param "c" (own $c)) (result u32))))
  (instance $counters (instantiate $shape
    (with "r" (type $counter)) (with "ctor" (func $ctor)) (with "inc" (func $inc))
    (with "fail" (func $fail)) (with "total" (func $total))))
  (export "local:test/counters@0.1.0" (instance $counters))
)
"#;

/// Imports `local:test/counters@0.1.0` (see [`COUNTERS`]) and exports
/// `local:test/tally@0.1.0`: `count(start, times) -> u32` makes a counter, increments it
/// `times` times and gives it to `total`; `once(start) -> u32` makes one, increments it
/// once, drops it and returns what `increment` said.
pub const TALLY: &str = r#"
(component
  (import "local:test/counters@0.1.0" (instance $counters
    (export "counter" (type $c (sub resource)))
    (export "[constructor]counter" (func (param "start" u32) (result (own $c))))
    (export "[method]counter.increment" (func (param "self" (borrow $c)) (result u32)))
    (export "[static]counter.total" (func (param "c" (own $c)) (result u32)))))
  (alias export $counters "counter" (type $counter))
  (core func $new (canon lower (func $counters "[constructor]counter")))
  (core func $inc (canon lower (func $counters "[method]counter.increment")))
  (core func $total (canon lower (func $counters "[static]counter.total")))
  (core func $drop (canon resource.drop $counter))
  (core module $m
    (import "c" "new" (func $new (param i32) (result i32)))
    (import "c" "inc" (func $inc (param i32) (result i32)))
    (import "c" "total" (func $total (param i32) (result i32)))
    (import "c" "drop" (func $drop (param i32)))
    (func (export "count") (param $start i32) (param $times i32) (result i32)
      (local $h i32)
      (local.set $h (call $new (local.get $start)))
      (block $done (loop $more
        (br_if $done (i32.eqz (local.get $times)))
        (drop (call $inc (local.get $h)))
        (local.set $times (i32.sub (local.get $times) (i32.const 1)))
        (br $more)))
      (call $total (local.get $h)))
    (func (export "once") (param $start i32) (result i32)
      (local $h i32) (local $v i32)
      (local.set $h (call $new (local.get $start)))
      (local.set $v (call $inc (local.get $h)))
      (call $drop (local.get $h))
      (local.get $v)))
  (core instance $i (instantiate $m (with "c" (instance
    (export "new" (func $new)) (export "inc" (func $inc))
    (export "total" (func $total)) (export "drop" (func $drop))))))
  (func $count (param "start" u32) (param "times" u32) (result u32)
    (canon lift (core func $i "count")))
  (func $once (param "start" u32) (result u32) (canon lift (core func $i "once")))
  (instance $tally (export "count" (func $count)) (export "once" (func $once)))
  (export "local:test/tally@0.1.0" (instance $tally))
)
"#;
