//! Small test components, written in the component text format (no wasm32 toolchain is
//! needed), shared by the host, CLI, oracle and claims tests.

use std::path::{Path, PathBuf};

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
