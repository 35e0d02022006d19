//! Component-model values as wRPC puts them on the wire, without wasmtime.
//!
//! [`Type`] describes a WIT type, [`Value`] holds a value of it, [`encode`] writes the
//! synchronous part of a value and [`decode`] reads it back incrementally: it returns
//! [`DecodeError::Incomplete`] (consuming nothing) until the buffer holds a whole value.
//!
//! The encoding is the component-model value definition encoding as `wrpc-transport`
//! 0.28 (`wasm-tokio` 0.6 codecs) and `wrpc-runtime-wasmtime` write it:
//!
//! | type | bytes |
//! |---|---|
//! | `bool` | one byte, `0` or `1` |
//! | `s8`, `u8` | one byte (two's complement for `s8`) |
//! | `s16`…`s64` | signed LEB128 (not zigzag), at most ⌈bits/7⌉ bytes |
//! | `u16`…`u64` | unsigned LEB128, at most ⌈bits/7⌉ bytes |
//! | `f32`, `f64` | IEEE 754, little-endian |
//! | `char` | its UTF-8 bytes, no length |
//! | `string` | LEB128 `u32` byte length, UTF-8 bytes |
//! | `list<T>` | LEB128 `u32` count, the elements |
//! | `record`, `tuple` | the fields in order, nothing else |
//! | `variant`, `enum` | LEB128 `u32` case index, then the payload if any |
//! | `option<T>` | `0` (none) or `1` and the value |
//! | `result<T, E>` | `0` and the ok value or `1` and the error value (absent payloads: nothing) |
//! | `flags` | ⌈n/8⌉ bytes, little-endian, flag `i` is bit `i` |
//! | `own<R>`, `borrow<R>` | an opaque handle as `list<u8>` |
//! | `future<T>` | `0` (pending) or `1` and the value |
//! | `stream<T>` | a `list<T>`: a non-empty list is the whole stream; `0` means pending |
//!
//! A pending `future` or `stream` is sent on its own *indexed* channel (see
//! [`Value::pending_paths`]): a future as one encoded `T`, a stream as `list<T>` chunks
//! ending with an empty chunk. Paths follow the value's structure: record fields, tuple
//! members and list elements add their position; `option`, `result` and `variant`
//! payloads keep their parent's path (as `wrpc-transport` and `wrpc-runtime-wasmtime` do);
//! elements of a pending stream add their position in the stream.

mod decode;
mod encode;
mod leb128;

use bytes::Bytes;

pub use decode::{DecodeError, decode, decode_tuple};
pub use encode::{EncodeError, encode, encode_tuple};

/// A WIT type, as far as the wire needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
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
    /// `list<T>` (a `list<u8>` decodes as [`Value::Bytes`])
    List(Box<Type>),
    /// `record { … }`
    Record(Vec<Field>),
    /// `tuple<…>`
    Tuple(Vec<Type>),
    /// `variant { … }`
    Variant(Vec<Case>),
    /// `enum { … }`: the case names
    Enum(Vec<String>),
    /// `option<T>`
    Option(Box<Type>),
    /// `result<ok, err>`, either payload may be absent
    Result {
        /// The `ok` payload type
        ok: Option<Box<Type>>,
        /// The `err` payload type
        err: Option<Box<Type>>,
    },
    /// `flags { … }`: the flag names
    Flags(Vec<String>),
    /// `future<T>` (`future` without a payload: `None`)
    Future(Option<Box<Type>>),
    /// `stream<T>`
    Stream(Box<Type>),
    /// `own<R>`: the resource name
    Own(String),
    /// `borrow<R>`: the resource name
    Borrow(String),
}

impl Type {
    /// `list<T>`
    pub fn list(element: Type) -> Self {
        Type::List(Box::new(element))
    }

    /// `option<T>`
    pub fn option(some: Type) -> Self {
        Type::Option(Box::new(some))
    }

    /// `result<ok, err>`
    pub fn result(ok: Option<Type>, err: Option<Type>) -> Self {
        Type::Result {
            ok: ok.map(Box::new),
            err: err.map(Box::new),
        }
    }

    /// `stream<T>`
    pub fn stream(element: Type) -> Self {
        Type::Stream(Box::new(element))
    }

    /// `future<T>`
    pub fn future(payload: Option<Type>) -> Self {
        Type::Future(payload.map(Box::new))
    }

    /// Whether this is, or holds, a `future` or a `stream` (whose contents may come on
    /// channels of their own after the call).
    pub fn has_async(&self) -> bool {
        match self {
            Type::Future(_) | Type::Stream(_) => true,
            Type::List(inner) | Type::Option(inner) => inner.has_async(),
            Type::Record(fields) => fields.iter().any(|f| f.ty.has_async()),
            Type::Tuple(types) => types.iter().any(Type::has_async),
            Type::Variant(cases) => cases
                .iter()
                .filter_map(|c| c.ty.as_ref())
                .any(Type::has_async),
            Type::Result { ok, err } => [ok, err].into_iter().flatten().any(|t| t.has_async()),
            _ => false,
        }
    }

    /// `record { name: ty, … }`
    pub fn record<N: Into<String>>(fields: impl IntoIterator<Item = (N, Type)>) -> Self {
        Type::Record(
            fields
                .into_iter()
                .map(|(name, ty)| Field {
                    name: name.into(),
                    ty,
                })
                .collect(),
        )
    }

    /// `variant { name(ty), … }`
    pub fn variant<N: Into<String>>(cases: impl IntoIterator<Item = (N, Option<Type>)>) -> Self {
        Type::Variant(
            cases
                .into_iter()
                .map(|(name, ty)| Case {
                    name: name.into(),
                    ty,
                })
                .collect(),
        )
    }
}

/// A record field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field name
    pub name: String,
    /// The field type
    pub ty: Type,
}

/// A variant case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The case name
    pub name: String,
    /// The payload type, if the case has one
    pub ty: Option<Type>,
}

/// The state of a `future` or `stream` in the synchronous encoding.
#[derive(Clone, Debug, PartialEq)]
pub enum Async<T> {
    /// Sent later on the value's indexed channel.
    Pending,
    /// Sent inline.
    Ready(T),
}

/// A value of a [`Type`]. Records, tuples and flags are positional; names live in the
/// type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `bool`
    Bool(bool),
    /// `s8`
    S8(i8),
    /// `u8`
    U8(u8),
    /// `s16`
    S16(i16),
    /// `u16`
    U16(u16),
    /// `s32`
    S32(i32),
    /// `u32`
    U32(u32),
    /// `s64`
    S64(i64),
    /// `u64`
    U64(u64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
    /// `char`
    Char(char),
    /// `string`
    String(String),
    /// `list<T>` for any `T`
    List(Vec<Value>),
    /// `list<u8>`: what the decoder produces for it (the encoder takes either form)
    Bytes(Bytes),
    /// `record`: the field values in declaration order
    Record(Vec<Value>),
    /// `tuple`
    Tuple(Vec<Value>),
    /// `variant`: the case index and its payload
    Variant {
        /// Index of the case in the type
        case: u32,
        /// The payload, present exactly when the case has a type
        payload: Option<Box<Value>>,
    },
    /// `enum`: the case index
    Enum(u32),
    /// `option<T>`
    Option(Option<Box<Value>>),
    /// `result<T, E>`: absent payloads are `None`
    Result(Result<Option<Box<Value>>, Option<Box<Value>>>),
    /// `flags`: one `bool` per flag of the type, in declaration order
    Flags(Vec<bool>),
    /// `future<T>`: when ready, its payload (`None` for a payload-less future)
    Future(Async<Option<Box<Value>>>),
    /// `stream<T>`: when ready, the whole stream as a non-empty `list<T>` value
    Stream(Async<Box<Value>>),
    /// `own<R>`: an opaque handle
    Own(Bytes),
    /// `borrow<R>`: an opaque handle
    Borrow(Bytes),
}

impl Value {
    /// The paths of the pending `future`s and `stream`s in this value, in order: the
    /// indexed channels their contents arrive on. A top-level tuple of parameters or
    /// results (see [`encode_tuple`]) starts at the parameter's or result's position.
    pub fn pending_paths(&self) -> Vec<Vec<u32>> {
        let mut paths = Vec::new();
        self.collect_pending(&mut Vec::new(), &mut paths);
        paths
    }

    fn collect_pending(&self, path: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        match self {
            Value::List(items) | Value::Record(items) | Value::Tuple(items) => {
                for (i, item) in (0u32..).zip(items) {
                    path.push(i);
                    item.collect_pending(path, out);
                    path.pop();
                }
            }
            Value::Variant {
                payload: Some(v), ..
            }
            | Value::Option(Some(v))
            | Value::Result(Ok(Some(v)) | Err(Some(v)))
            | Value::Future(Async::Ready(Some(v)))
            | Value::Stream(Async::Ready(v)) => v.collect_pending(path, out),
            Value::Future(Async::Pending) | Value::Stream(Async::Pending) => {
                out.push(path.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
