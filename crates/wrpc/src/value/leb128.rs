//! LEB128 as `leb128-tokio` 0.1 writes and accepts it: at most ⌈bits/7⌉ bytes, the last
//! one carrying only bits that fit (unsigned) or a proper sign extension (signed).

use bytes::{BufMut as _, BytesMut};

use super::decode::{Cursor, DecodeError};

/// Writes `v` as unsigned LEB128.
pub(crate) fn put_unsigned(mut v: u64, dst: &mut BytesMut) {
    while v >= 0x80 {
        dst.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    dst.put_u8(v as u8);
}

/// Writes `v` as signed LEB128 (two's complement, sign-extended; not zigzag).
pub(crate) fn put_signed(mut v: i64, dst: &mut BytesMut) {
    loop {
        let byte = v as u8 & 0x7f;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            dst.put_u8(byte);
            return;
        }
        dst.put_u8(byte | 0x80);
    }
}

/// Reads an unsigned LEB128 integer of `bits` bits (16, 32 or 64).
pub(crate) fn read_unsigned(
    r: &mut Cursor<'_>,
    bits: u32,
    ty: &'static str,
) -> Result<u64, DecodeError> {
    let max_len = bits.div_ceil(7);
    let mut value = 0u64;
    for i in 0..max_len {
        let byte = r.u8()?;
        let shift = 7 * i;
        if i + 1 == max_len {
            let room = bits - shift;
            if u32::from(byte) >> room != 0 {
                return Err(DecodeError::invalid(
                    ty,
                    format!("LEB128 overflows {bits} bits"),
                ));
            }
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::invalid(
        ty,
        format!("LEB128 overflows {bits} bits"),
    ))
}

/// Reads a signed LEB128 integer of `bits` bits (16, 32 or 64).
pub(crate) fn read_signed(
    r: &mut Cursor<'_>,
    bits: u32,
    ty: &'static str,
) -> Result<i64, DecodeError> {
    let max_len = bits.div_ceil(7);
    let mut value = 0i64;
    for i in 0..max_len {
        let byte = r.u8()?;
        let shift = 7 * i;
        if i + 1 == max_len {
            // The bits above the integer's width must repeat its sign bit, and no
            // continuation may follow.
            let room = bits - shift;
            let rest = (byte & 0x7f) >> (room - 1);
            if byte & 0x80 != 0 || (rest != 0 && rest != 0x7f >> (room - 1)) {
                return Err(DecodeError::invalid(
                    ty,
                    format!("LEB128 overflows {bits} bits"),
                ));
            }
        }
        value |= i64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            let end = shift + 7;
            if end < 64 && byte & 0x40 != 0 {
                value |= -1i64 << end;
            }
            return Ok(value);
        }
    }
    Err(DecodeError::invalid(
        ty,
        format!("LEB128 overflows {bits} bits"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsigned(v: u64) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_unsigned(v, &mut b);
        b.to_vec()
    }

    fn signed(v: i64) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_signed(v, &mut b);
        b.to_vec()
    }

    #[test]
    fn known_encodings() {
        assert_eq!(unsigned(0), [0x00]);
        assert_eq!(unsigned(127), [0x7f]);
        assert_eq!(unsigned(128), [0x80, 0x01]);
        assert_eq!(unsigned(624_485), [0xe5, 0x8e, 0x26]);
        assert_eq!(signed(-1), [0x7f]);
        assert_eq!(signed(63), [0x3f]);
        assert_eq!(signed(64), [0xc0, 0x00]);
        assert_eq!(signed(-64), [0x40]);
        assert_eq!(signed(-123_456), [0xc0, 0xbb, 0x78]);
        assert_eq!(signed(i64::MIN).len(), 10);
    }

    #[test]
    fn limits_are_enforced() {
        let read_u32 = |b: &[u8]| read_unsigned(&mut Cursor::new(b), 32, "u32");
        assert_eq!(
            read_u32(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            Ok(u64::from(u32::MAX))
        );
        assert!(matches!(
            read_u32(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            read_u32(&[0x80, 0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::Invalid { .. })
        ));
        assert_eq!(read_u32(&[0x80, 0x80]), Err(DecodeError::Incomplete));
        // Over-long but in range, as leb128-tokio accepts it.
        assert_eq!(read_u32(&[0x81, 0x80, 0x00]), Ok(1));
        let read_i16 = |b: &[u8]| read_signed(&mut Cursor::new(b), 16, "s16");
        assert_eq!(read_i16(&[0x80, 0x80, 0x7e]), Ok(i64::from(i16::MIN)));
        assert_eq!(read_i16(&[0xff, 0xff, 0x01]), Ok(i64::from(i16::MAX)));
        assert!(matches!(
            read_i16(&[0xff, 0xff, 0x03]),
            Err(DecodeError::Invalid { .. })
        ));
    }
}
