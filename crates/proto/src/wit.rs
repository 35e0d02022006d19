//! Component function signatures as a host describes them (lattice extension
//! `component.describe.{host_id}`), so a client can type arguments from the real
//! signature of a running component.

use serde::{Deserialize, Serialize};

/// A component-model value type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WitType {
    /// `bool`
    Bool,
    /// `s8`
    S8,
    /// `u8`
    U8,
    /// `s16`
    S16,
    /// `u16`
    U16,
    /// `s32`
    S32,
    /// `u32`
    U32,
    /// `s64`
    S64,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `char`
    Char,
    /// `string`
    String,
    /// `list<element>`
    List {
        /// Element type.
        element: Box<WitType>,
    },
    /// `record { … }`
    Record {
        /// Fields in order.
        fields: Vec<WitField>,
    },
    /// `tuple<…>`
    Tuple {
        /// Element types.
        types: Vec<WitType>,
    },
    /// `variant { … }`
    Variant {
        /// Cases in order.
        cases: Vec<WitCase>,
    },
    /// `enum { … }`
    Enum {
        /// Case names in order.
        cases: Vec<String>,
    },
    /// `option<some>`
    Option {
        /// The payload type.
        some: Box<WitType>,
    },
    /// `result<ok, err>`
    Result {
        /// The ok payload, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ok: Option<Box<WitType>>,
        /// The err payload, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        err: Option<Box<WitType>>,
    },
    /// `flags { … }`
    Flags {
        /// Flag names in order.
        flags: Vec<String>,
    },
    /// `own<R>`: a resource handle (opaque bytes, shown as hex by clients).
    Own,
    /// `borrow<R>`: a resource handle (opaque bytes, shown as hex by clients).
    Borrow,
    /// A type that cannot be called from a client (futures, streams).
    Unsupported {
        /// What it is.
        name: String,
    },
}

/// A record field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitField {
    /// Field name.
    pub name: String,
    /// Field type.
    #[serde(rename = "type")]
    pub ty: WitType,
}

/// A variant case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitCase {
    /// Case name.
    pub name: String,
    /// Payload type, if any.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<WitType>,
}

/// One exported function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedFunction {
    /// The instance (interface) it is in, `None` for a top-level function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Function name.
    pub name: String,
    /// Parameters in order.
    pub params: Vec<WitField>,
    /// Result types in order.
    pub results: Vec<WitType>,
}

/// Body of `component.describe.{host_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeComponentRequest {
    /// The component.
    pub component_id: String,
}

/// Reply data of `component.describe.{host_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentExports {
    /// The component.
    pub component_id: String,
    /// The named configs it runs with (a rescale keeps them by sending them again).
    #[serde(default)]
    pub config: Vec<String>,
    /// Its exported functions.
    pub exports: Vec<ExportedFunction>,
}
