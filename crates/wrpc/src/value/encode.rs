//! Encoding of the synchronous part of a value.

use bytes::{BufMut as _, BytesMut};

use super::leb128::{put_signed, put_unsigned};
use super::{Async, Field, Type, Value};

/// Why a value could not be encoded as a type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The value is not of the type.
    #[error("a {value} value cannot be encoded as `{ty}`")]
    Mismatch {
        /// The kind of value given
        value: &'static str,
        /// The type asked for
        ty: &'static str,
    },
    /// A record, tuple or flags value has the wrong number of members.
    #[error("`{ty}` has {expected} members, the value has {actual}")]
    Arity {
        /// The type
        ty: &'static str,
        /// Members in the type
        expected: usize,
        /// Members in the value
        actual: usize,
    },
    /// A variant or enum case index, or a result or variant payload, does not fit the type.
    #[error("invalid `{ty}` case: {reason}")]
    Case {
        /// The type
        ty: &'static str,
        /// What is wrong
        reason: String,
    },
    /// A length does not fit in the wire's `u32`.
    #[error("a length of {0} does not fit in u32")]
    TooLong(usize),
    /// A ready stream must hold at least one element: the empty inline list means
    /// "pending". Send an empty stream as [`Async::Pending`] and close it at once on its
    /// indexed channel.
    #[error("an empty stream cannot be sent inline; send it as pending and close it")]
    EmptyReadyStream,
}

/// Encodes the synchronous part of `value` as `ty`, appending to `dst`. Pending
/// `future`s and `stream`s are written as pending; send their contents on the channels
/// [`Value::pending_paths`] names.
///
/// ```
/// use bytes::BytesMut;
/// use lattice_wrpc::value::{encode, Type, Value};
/// let mut buf = BytesMut::new();
/// encode(&Value::S32(-2), &Type::S32, &mut buf).unwrap();
/// encode(&Value::String("hi".into()), &Type::String, &mut buf).unwrap();
/// assert_eq!(&buf[..], &[0x7e, 0x02, b'h', b'i']);
/// ```
pub fn encode(value: &Value, ty: &Type, dst: &mut BytesMut) -> Result<(), EncodeError> {
    match (value, ty) {
        (Value::Bool(v), Type::Bool) => dst.put_u8(u8::from(*v)),
        (Value::S8(v), Type::S8) => dst.put_i8(*v),
        (Value::U8(v), Type::U8) => dst.put_u8(*v),
        (Value::S16(v), Type::S16) => put_signed(i64::from(*v), dst),
        (Value::U16(v), Type::U16) => put_unsigned(u64::from(*v), dst),
        (Value::S32(v), Type::S32) => put_signed(i64::from(*v), dst),
        (Value::U32(v), Type::U32) => put_unsigned(u64::from(*v), dst),
        (Value::S64(v), Type::S64) => put_signed(*v, dst),
        (Value::U64(v), Type::U64) => put_unsigned(*v, dst),
        (Value::F32(v), Type::F32) => dst.put_f32_le(*v),
        (Value::F64(v), Type::F64) => dst.put_f64_le(*v),
        (Value::Char(v), Type::Char) => dst.put_slice(v.encode_utf8(&mut [0; 4]).as_bytes()),
        (Value::String(s), Type::String) => put_bytes(s.as_bytes(), dst)?,
        (Value::Bytes(b), Type::List(element)) if **element == Type::U8 => put_bytes(b, dst)?,
        (Value::List(items), Type::List(element)) => {
            put_len(items.len(), dst)?;
            for item in items {
                encode(item, element, dst)?;
            }
        }
        (Value::Record(values), Type::Record(fields)) => {
            check_arity("record", fields.len(), values.len())?;
            for (v, Field { ty, .. }) in values.iter().zip(fields) {
                encode(v, ty, dst)?;
            }
        }
        (Value::Tuple(values), Type::Tuple(types)) => encode_tuple(values, types, dst)?,
        (Value::Variant { case, payload }, Type::Variant(cases)) => {
            let ty = cases
                .get(*case as usize)
                .ok_or_else(|| case_error("variant", format!("case {case} of {}", cases.len())))?;
            put_unsigned(u64::from(*case), dst);
            encode_payload("variant", payload.as_deref(), ty.ty.as_ref(), dst)?;
        }
        (Value::Enum(case), Type::Enum(names)) => {
            if *case as usize >= names.len() {
                return Err(case_error(
                    "enum",
                    format!("case {case} of {}", names.len()),
                ));
            }
            put_unsigned(u64::from(*case), dst);
        }
        (Value::Option(v), Type::Option(some)) => match v {
            None => dst.put_u8(0),
            Some(v) => {
                dst.put_u8(1);
                encode(v, some, dst)?;
            }
        },
        (Value::Result(v), Type::Result { ok, err }) => match v {
            Ok(v) => {
                dst.put_u8(0);
                encode_payload("result", v.as_deref(), ok.as_deref(), dst)?;
            }
            Err(v) => {
                dst.put_u8(1);
                encode_payload("result", v.as_deref(), err.as_deref(), dst)?;
            }
        },
        (Value::Flags(set), Type::Flags(names)) => {
            check_arity("flags", names.len(), set.len())?;
            let mut bytes = vec![0u8; names.len().div_ceil(8)];
            for (i, _) in set.iter().enumerate().filter(|(_, on)| **on) {
                bytes[i / 8] |= 1 << (i % 8);
            }
            dst.put_slice(&bytes);
        }
        (Value::Future(state), Type::Future(payload)) => match state {
            Async::Pending => dst.put_u8(0),
            Async::Ready(v) => {
                dst.put_u8(1);
                encode_payload("future", v.as_deref(), payload.as_deref(), dst)?;
            }
        },
        (Value::Stream(state), Type::Stream(element)) => match state {
            Async::Pending => dst.put_u8(0),
            Async::Ready(list) => {
                let empty = match &**list {
                    Value::List(items) => items.is_empty(),
                    Value::Bytes(b) => b.is_empty(),
                    _ => false,
                };
                if empty {
                    return Err(EncodeError::EmptyReadyStream);
                }
                encode(list, &Type::List(element.clone()), dst)?;
            }
        },
        (Value::Own(handle), Type::Own(_)) | (Value::Borrow(handle), Type::Borrow(_)) => {
            put_bytes(handle, dst)?;
        }
        (value, ty) => {
            return Err(EncodeError::Mismatch {
                value: value_kind(value),
                ty: type_kind(ty),
            });
        }
    }
    Ok(())
}

/// Encodes the members of a tuple (a function's parameters or results): their
/// encodings one after another.
pub fn encode_tuple(
    values: &[Value],
    types: &[Type],
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    check_arity("tuple", types.len(), values.len())?;
    for (v, ty) in values.iter().zip(types) {
        encode(v, ty, dst)?;
    }
    Ok(())
}

fn encode_payload(
    ty_name: &'static str,
    value: Option<&Value>,
    ty: Option<&Type>,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    match (value, ty) {
        (Some(v), Some(ty)) => encode(v, ty, dst),
        (None, None) => Ok(()),
        (Some(_), None) => Err(case_error(ty_name, "a payload for a case without one")),
        (None, Some(_)) => Err(case_error(ty_name, "no payload for a case with one")),
    }
}

fn put_len(n: usize, dst: &mut BytesMut) -> Result<(), EncodeError> {
    let n = u32::try_from(n).map_err(|_| EncodeError::TooLong(n))?;
    put_unsigned(u64::from(n), dst);
    Ok(())
}

fn put_bytes(bytes: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
    put_len(bytes.len(), dst)?;
    dst.put_slice(bytes);
    Ok(())
}

fn check_arity(ty: &'static str, expected: usize, actual: usize) -> Result<(), EncodeError> {
    if expected == actual {
        Ok(())
    } else {
        Err(EncodeError::Arity {
            ty,
            expected,
            actual,
        })
    }
}

fn case_error(ty: &'static str, reason: impl Into<String>) -> EncodeError {
    EncodeError::Case {
        ty,
        reason: reason.into(),
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::S8(_) => "s8",
        Value::U8(_) => "u8",
        Value::S16(_) => "s16",
        Value::U16(_) => "u16",
        Value::S32(_) => "s32",
        Value::U32(_) => "u32",
        Value::S64(_) => "s64",
        Value::U64(_) => "u64",
        Value::F32(_) => "f32",
        Value::F64(_) => "f64",
        Value::Char(_) => "char",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Bytes(_) => "bytes",
        Value::Record(_) => "record",
        Value::Tuple(_) => "tuple",
        Value::Variant { .. } => "variant",
        Value::Enum(_) => "enum",
        Value::Option(_) => "option",
        Value::Result(_) => "result",
        Value::Flags(_) => "flags",
        Value::Future(_) => "future",
        Value::Stream(_) => "stream",
        Value::Own(_) => "own",
        Value::Borrow(_) => "borrow",
    }
}

fn type_kind(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::F32 => "f32",
        Type::F64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::List(_) => "list",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result { .. } => "result",
        Type::Flags(_) => "flags",
        Type::Future(_) => "future",
        Type::Stream(_) => "stream",
        Type::Own(_) => "own",
        Type::Borrow(_) => "borrow",
    }
}
