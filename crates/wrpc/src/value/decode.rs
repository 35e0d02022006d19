//! Incremental decoding: a value is read from a contiguous view of the buffer and the
//! buffer is advanced only once the whole value is there.

use std::io::IoSlice;

use bytes::{Buf, Bytes};

use super::leb128::{read_signed, read_unsigned};
use super::{Async, Case, Field, Type, Value};

/// Why a value could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ends before the value does: append more bytes and decode again.
    #[error("incomplete value: more bytes are needed")]
    Incomplete,
    /// The bytes are not a value of the type.
    #[error("invalid `{ty}` value: {reason}")]
    Invalid {
        /// The WIT type being decoded
        ty: &'static str,
        /// What is wrong
        reason: String,
    },
}

impl DecodeError {
    pub(crate) fn invalid(ty: &'static str, reason: impl Into<String>) -> Self {
        DecodeError::Invalid {
            ty,
            reason: reason.into(),
        }
    }

    /// True when more bytes may complete the value.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, DecodeError::Incomplete)
    }
}

/// Decodes one value of type `ty` from the front of `buf`.
///
/// On success `buf` is advanced past the value. On [`DecodeError::Incomplete`] nothing
/// is consumed: append more bytes and call again. Pending `future`s and `stream`s decode
/// as [`Async::Pending`]; their contents arrive on indexed channels.
///
/// ```
/// use lattice_wrpc::value::{decode, Type, Value, DecodeError};
/// let mut buf: &[u8] = &[0x02, b'h'];
/// assert_eq!(decode(&Type::String, &mut buf), Err(DecodeError::Incomplete));
/// let mut buf: &[u8] = &[0x02, b'h', b'i', 0x2a];
/// assert_eq!(decode(&Type::String, &mut buf), Ok(Value::String("hi".into())));
/// assert_eq!(buf, &[0x2a]);
/// ```
pub fn decode(ty: &Type, buf: &mut impl Buf) -> Result<Value, DecodeError> {
    with_contiguous(buf, |r| r.value(ty))
}

/// Decodes the members of a tuple (a function's parameters or results) from `buf`, with
/// the same contract as [`decode`].
pub fn decode_tuple(types: &[Type], buf: &mut impl Buf) -> Result<Vec<Value>, DecodeError> {
    with_contiguous(buf, |r| types.iter().map(|ty| r.value(ty)).collect())
}

fn with_contiguous<T>(
    buf: &mut impl Buf,
    f: impl FnOnce(&mut Cursor<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let remaining = buf.remaining();
    if buf.chunk().len() == remaining {
        let mut r = Cursor::new(buf.chunk());
        let value = f(&mut r)?;
        let used = r.pos;
        buf.advance(used);
        return Ok(value);
    }
    // A chained buffer: gather its chunks without consuming them.
    let mut slices = vec![IoSlice::new(&[]); 16];
    let joined = loop {
        let n = buf.chunks_vectored(&mut slices);
        let visible: usize = slices[..n].iter().map(|s| s.len()).sum();
        if visible == remaining || n < slices.len() {
            let mut joined = Vec::with_capacity(visible);
            for s in &slices[..n] {
                joined.extend_from_slice(s);
            }
            break joined;
        }
        slices.resize(slices.len() * 2, IoSlice::new(&[]));
    };
    if joined.len() < remaining {
        // The buffer hides some of its bytes from `chunks_vectored` (the default
        // implementation shows only the first chunk), so it cannot be peeked: decode
        // from a copy of everything. The bytes are consumed even when the value is
        // incomplete; `Bytes`, `BytesMut`, slices and their chains never get here.
        let copy = buf.copy_to_bytes(remaining);
        let mut r = Cursor::new(&copy);
        let value = f(&mut r)?;
        let used = r.pos;
        let mut rest = copy;
        rest.advance(used);
        return if rest.is_empty() {
            Ok(value)
        } else {
            Err(DecodeError::invalid(
                "buffer",
                "a non-peekable buffer must hold exactly one value",
            ))
        };
    }
    let mut r = Cursor::new(&joined);
    let value = f(&mut r)?;
    let used = r.pos;
    buf.advance(used);
    Ok(value)
}

/// A read position in a contiguous byte slice.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or(DecodeError::Incomplete)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Incomplete)?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Incomplete)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len(&mut self, ty: &'static str) -> Result<usize, DecodeError> {
        let n = read_unsigned(self, 32, ty)?;
        usize::try_from(n).map_err(|_| DecodeError::invalid(ty, "length does not fit in memory"))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn value(&mut self, ty: &Type) -> Result<Value, DecodeError> {
        Ok(match ty {
            Type::Bool => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(DecodeError::invalid("bool", format!("byte {b:#04x}"))),
            },
            Type::S8 => Value::S8(self.u8()? as i8),
            Type::U8 => Value::U8(self.u8()?),
            Type::S16 => Value::S16(read_signed(self, 16, "s16")? as i16),
            Type::U16 => Value::U16(read_unsigned(self, 16, "u16")? as u16),
            Type::S32 => Value::S32(read_signed(self, 32, "s32")? as i32),
            Type::U32 => Value::U32(read_unsigned(self, 32, "u32")? as u32),
            Type::S64 => Value::S64(read_signed(self, 64, "s64")?),
            Type::U64 => Value::U64(read_unsigned(self, 64, "u64")?),
            Type::F32 => Value::F32(f32::from_le_bytes(self.array()?)),
            Type::F64 => Value::F64(f64::from_le_bytes(self.array()?)),
            Type::Char => Value::Char(self.char()?),
            Type::String => {
                let n = self.len("string")?;
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|e| DecodeError::invalid("string", e.to_string()))?;
                Value::String(s.to_owned())
            }
            Type::List(element) => self.list(element)?,
            Type::Record(fields) => Value::Record(
                fields
                    .iter()
                    .map(|Field { ty, .. }| self.value(ty))
                    .collect::<Result<_, _>>()?,
            ),
            Type::Tuple(types) => Value::Tuple(
                types
                    .iter()
                    .map(|ty| self.value(ty))
                    .collect::<Result<_, _>>()?,
            ),
            Type::Variant(cases) => {
                let case = self.discriminant("variant", cases.len())?;
                let Case { ty, .. } = &cases[case as usize];
                let payload = match ty {
                    Some(ty) => Some(Box::new(self.value(ty)?)),
                    None => None,
                };
                Value::Variant { case, payload }
            }
            Type::Enum(names) => Value::Enum(self.discriminant("enum", names.len())?),
            Type::Option(some) => match self.u8()? {
                0 => Value::Option(None),
                1 => Value::Option(Some(Box::new(self.value(some)?))),
                b => {
                    return Err(DecodeError::invalid(
                        "option",
                        format!("status byte {b:#04x}"),
                    ));
                }
            },
            Type::Result { ok, err } => match self.u8()? {
                0 => Value::Result(Ok(self.payload(ok.as_deref())?)),
                1 => Value::Result(Err(self.payload(err.as_deref())?)),
                b => {
                    return Err(DecodeError::invalid(
                        "result",
                        format!("status byte {b:#04x}"),
                    ));
                }
            },
            Type::Flags(names) => self.flags(names.len())?,
            Type::Future(payload) => match self.u8()? {
                0 => Value::Future(Async::Pending),
                1 => Value::Future(Async::Ready(self.payload(payload.as_deref())?)),
                b => {
                    return Err(DecodeError::invalid(
                        "future",
                        format!("status byte {b:#04x}"),
                    ));
                }
            },
            Type::Stream(element) => match self.list(element)? {
                Value::List(items) if items.is_empty() => Value::Stream(Async::Pending),
                Value::Bytes(bytes) if bytes.is_empty() => Value::Stream(Async::Pending),
                list => Value::Stream(Async::Ready(Box::new(list))),
            },
            Type::Own(_) => Value::Own(self.bytes("own")?),
            Type::Borrow(_) => Value::Borrow(self.bytes("borrow")?),
        })
    }

    fn payload(&mut self, ty: Option<&Type>) -> Result<Option<Box<Value>>, DecodeError> {
        ty.map(|ty| self.value(ty).map(Box::new)).transpose()
    }

    fn bytes(&mut self, ty: &'static str) -> Result<Bytes, DecodeError> {
        let n = self.len(ty)?;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }

    fn list(&mut self, element: &Type) -> Result<Value, DecodeError> {
        if *element == Type::U8 {
            return Ok(Value::Bytes(self.bytes("list<u8>")?));
        }
        let n = self.len("list")?;
        // Every element takes at least one byte except in zero-sized types: never
        // reserve more than the buffer could hold.
        let mut items = Vec::with_capacity(n.min(self.remaining()));
        for _ in 0..n {
            items.push(self.value(element)?);
        }
        Ok(Value::List(items))
    }

    fn discriminant(&mut self, ty: &'static str, cases: usize) -> Result<u32, DecodeError> {
        let d = read_unsigned(self, 32, ty)? as u32;
        if d as usize >= cases {
            return Err(DecodeError::invalid(ty, format!("case {d} of {cases}")));
        }
        Ok(d)
    }

    fn flags(&mut self, n: usize) -> Result<Value, DecodeError> {
        let bytes = self.take(n.div_ceil(8))?;
        let mut flags = Vec::with_capacity(n);
        for i in 0..n {
            flags.push(bytes[i / 8] & (1 << (i % 8)) != 0);
        }
        let unknown = (n..bytes.len() * 8).any(|i| bytes[i / 8] & (1 << (i % 8)) != 0);
        if unknown {
            return Err(DecodeError::invalid(
                "flags",
                "bits beyond the declared flags are set",
            ));
        }
        Ok(Value::Flags(flags))
    }

    fn char(&mut self) -> Result<char, DecodeError> {
        let first = self.u8()?;
        let len = match first {
            0x00..=0x7f => return Ok(char::from(first)),
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => {
                return Err(DecodeError::invalid(
                    "char",
                    format!("UTF-8 lead byte {first:#04x}"),
                ));
            }
        };
        let mut utf8 = [first, 0, 0, 0];
        utf8[1..len].copy_from_slice(self.take(len - 1)?);
        let s = std::str::from_utf8(&utf8[..len])
            .map_err(|e| DecodeError::invalid("char", e.to_string()))?;
        Ok(s.chars().next().expect("one UTF-8 scalar"))
    }
}
