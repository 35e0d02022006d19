//! lattice-wrpc's value encoding against the official encoders of wasmCloud 1.9.2's wRPC
//! (`wrpc-transport` 0.28.4, `wit-bindgen-wrpc` 0.10 types): values encoded by one decode
//! with the other, byte for byte, for every value type (a property test) and for
//! futures and streams.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use futures::{Stream, StreamExt as _};
use lattice_wrpc::value::{self, Async, Type, Value};
use proptest::prelude::*;
use wit_bindgen_wrpc::bytes::{Bytes, BytesMut};
use wit_bindgen_wrpc::tokio_util::codec::{Decoder as _, Encoder as _};

use crate::wrpc_oracle::{
    ByteStream, Color, Perms, Point, Reader, Shape, WAIT, Writer, color_type, color_value,
    perms_type, perms_value, point_type, point_value, shape_type, shape_value,
};

// ---- value encoding against the official encoders -------------------------------------

fn official_bytes<T>(v: T) -> Bytes
where
    T: wrpc_transport::Encode<Writer>,
    <T::Encoder as wit_bindgen_wrpc::tokio_util::codec::Encoder<T>>::Error: Debug,
{
    let mut enc = T::Encoder::default();
    let mut buf = BytesMut::new();
    enc.encode(v, &mut buf)
        .expect("the official encoder takes it");
    buf.freeze()
}

fn official_value<T>(bytes: &[u8]) -> T
where
    T: wrpc_transport::Decode<Reader>,
    <T::Decoder as wit_bindgen_wrpc::tokio_util::codec::Decoder>::Error: Debug,
{
    let mut dec = T::Decoder::default();
    let mut buf = BytesMut::from(bytes);
    let v = dec
        .decode(&mut buf)
        .expect("the official decoder takes it")
        .expect("a whole value");
    assert!(buf.is_empty(), "the official decoder left {buf:?}");
    v
}

/// Both encoders write the same bytes, and each side decodes the other's.
fn agree<T>(v: T, ty: &Type, expected: &Value)
where
    T: wrpc_transport::Encode<Writer> + wrpc_transport::Decode<Reader> + Clone + PartialEq + Debug,
    <T::Encoder as wit_bindgen_wrpc::tokio_util::codec::Encoder<T>>::Error: Debug,
    <T::Decoder as wit_bindgen_wrpc::tokio_util::codec::Decoder>::Error: Debug,
{
    let theirs = official_bytes(v.clone());
    let mut ours = BytesMut::new();
    value::encode(expected, ty, &mut ours).expect("our encoder takes it");
    assert_eq!(&theirs[..], &ours[..], "{v:?} as {ty:?}");
    assert_eq!(value::decode(ty, &mut theirs.clone()), Ok(expected.clone()));
    assert_eq!(official_value::<T>(&ours), v);
}

fn no_nan32() -> impl Strategy<Value = f32> {
    any::<f32>().prop_filter("NaN", |f| !f.is_nan())
}

fn no_nan64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN", |f| !f.is_nan())
}

fn arb_point() -> impl Strategy<Value = Point> {
    (any::<i32>(), any::<i32>(), proptest::option::of(".{0,8}")).prop_map(|(x, y, label)| Point {
        x,
        y,
        label,
    })
}

fn arb_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        any::<u32>().prop_map(Shape::Circle),
        proptest::collection::vec(arb_point(), 0..4).prop_map(Shape::Polygon),
        Just(Shape::Empty),
    ]
}

fn arb_color() -> impl Strategy<Value = Color> {
    prop_oneof![Just(Color::Red), Just(Color::Green), Just(Color::Blue)]
}

fn opt(v: Option<Value>) -> Value {
    Value::Option(v.map(Box::new))
}

#[derive(Debug)]
struct Handle;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn primitives_agree(
        b in any::<bool>(), s8 in any::<i8>(), u8_ in any::<u8>(), s16 in any::<i16>(), u16_ in any::<u16>(),
        s32 in any::<i32>(), u32_ in any::<u32>(), s64 in any::<i64>(), u64_ in any::<u64>(),
        f32_ in no_nan32(), f64_ in no_nan64(), c in any::<char>(),
    ) {
        agree(b, &Type::Bool, &Value::Bool(b));
        agree(s8, &Type::S8, &Value::S8(s8));
        agree(u8_, &Type::U8, &Value::U8(u8_));
        agree(s16, &Type::S16, &Value::S16(s16));
        agree(u16_, &Type::U16, &Value::U16(u16_));
        agree(s32, &Type::S32, &Value::S32(s32));
        agree(u32_, &Type::U32, &Value::U32(u32_));
        agree(s64, &Type::S64, &Value::S64(s64));
        agree(u64_, &Type::U64, &Value::U64(u64_));
        agree(f32_, &Type::F32, &Value::F32(f32_));
        agree(f64_, &Type::F64, &Value::F64(f64_));
        agree(c, &Type::Char, &Value::Char(c));
    }

    #[test]
    fn strings_lists_and_bytes_agree(
        s in any::<String>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        words in proptest::collection::vec(any::<u32>(), 0..20),
        names in proptest::collection::vec(".{0,5}", 0..5),
    ) {
        agree(s.clone(), &Type::String, &Value::String(s));
        agree(bytes.clone(), &Type::list(Type::U8), &Value::Bytes(Bytes::from(bytes.clone())));
        agree(Bytes::from(bytes.clone()), &Type::list(Type::U8), &Value::Bytes(Bytes::from(bytes)));
        agree(words.clone(), &Type::list(Type::U32), &Value::List(words.into_iter().map(Value::U32).collect()));
        agree(
            names.clone(),
            &Type::list(Type::String),
            &Value::List(names.into_iter().map(Value::String).collect()),
        );
    }

    #[test]
    fn options_results_and_tuples_agree(
        o in proptest::option::of(any::<i64>()),
        r in proptest::result::maybe_ok(any::<u16>(), ".{0,6}"),
        unit in proptest::result::maybe_ok(Just(()), ".{0,6}"),
        t in (any::<u8>(), ".{0,6}", any::<i64>()),
        nested in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<i32>(), 0..3)), 0..4),
    ) {
        agree(o, &Type::option(Type::S64), &opt(o.map(Value::S64)));
        agree(
            r.clone(),
            &Type::result(Some(Type::U16), Some(Type::String)),
            &Value::Result(match r { Ok(v) => Ok(Some(Box::new(Value::U16(v)))), Err(e) => Err(Some(Box::new(Value::String(e)))) }),
        );
        agree(
            unit.clone(),
            &Type::result(None, Some(Type::String)),
            &Value::Result(match unit { Ok(()) => Ok(None), Err(e) => Err(Some(Box::new(Value::String(e)))) }),
        );
        agree(
            t.clone(),
            &Type::Tuple(vec![Type::U8, Type::String, Type::S64]),
            &Value::Tuple(vec![Value::U8(t.0), Value::String(t.1), Value::S64(t.2)]),
        );
        agree(
            nested.clone(),
            &Type::list(Type::option(Type::list(Type::S32))),
            &Value::List(nested.into_iter().map(|o| opt(o.map(|v| Value::List(v.into_iter().map(Value::S32).collect())))).collect()),
        );
    }

    #[test]
    fn records_variants_enums_and_flags_agree(
        point in arb_point(),
        shapes in proptest::collection::vec(arb_shape(), 0..4),
        color in arb_color(),
        bits in 0u8..8,
    ) {
        agree(point.clone(), &point_type(), &point_value(&point));
        agree(shapes.clone(), &Type::list(shape_type()), &Value::List(shapes.iter().map(shape_value).collect()));
        agree(color, &color_type(), &color_value(color));
        let perms = Perms::from_bits(bits).expect("three flags");
        agree(perms, &perms_type(), &perms_value(perms));
    }

    #[test]
    fn resources_agree(handle in proptest::collection::vec(any::<u8>(), 0..40)) {
        let own = wrpc_transport::ResourceOwn::<Handle>::new(handle.clone());
        agree(own, &Type::Own("handle".into()), &Value::Own(Bytes::from(handle.clone())));
        let borrow = wrpc_transport::ResourceBorrow::<Handle>::new(handle.clone());
        agree(borrow, &Type::Borrow("handle".into()), &Value::Borrow(Bytes::from(handle)));
    }
}

#[tokio::test]
async fn futures_and_streams_agree() {
    // The official encoders always send futures and streams as pending.
    let fut: Pin<Box<dyn Future<Output = u32> + Send>> = Box::pin(async { 7 });
    let bytes = official_bytes(fut);
    assert_eq!(&bytes[..], &[0]);
    let ty = Type::future(Some(Type::U32));
    assert_eq!(
        value::decode(&ty, &mut bytes.clone()),
        Ok(Value::Future(Async::Pending))
    );
    let stream: ByteStream = Box::pin(futures::stream::empty());
    let bytes = official_bytes(stream);
    assert_eq!(&bytes[..], &[0]);
    let ty = Type::stream(Type::U8);
    assert_eq!(
        value::decode(&ty, &mut bytes.clone()),
        Ok(Value::Stream(Async::Pending))
    );

    // Ready values we send inline decode as ready with the official decoders.
    let mut buf = BytesMut::new();
    value::encode(
        &Value::Future(Async::Ready(Some(Box::new(Value::U32(300))))),
        &Type::future(Some(Type::U32)),
        &mut buf,
    )
    .unwrap();
    let fut: Pin<Box<dyn Future<Output = u32> + Send>> = official_value(&buf);
    assert_eq!(tokio::time::timeout(WAIT, fut).await, Ok(300));

    let mut buf = BytesMut::new();
    value::encode(
        &Value::Stream(Async::Ready(Box::new(Value::Bytes(Bytes::from_static(
            b"abc",
        ))))),
        &Type::stream(Type::U8),
        &mut buf,
    )
    .unwrap();
    let stream: ByteStream = official_value(&buf);
    assert_eq!(
        stream.collect::<Vec<_>>().await,
        [Bytes::from_static(b"abc")]
    );

    let mut buf = BytesMut::new();
    value::encode(
        &Value::Stream(Async::Ready(Box::new(Value::List(vec![
            Value::S32(-1),
            Value::S32(1),
        ])))),
        &Type::stream(Type::S32),
        &mut buf,
    )
    .unwrap();
    let stream: Pin<Box<dyn Stream<Item = Vec<i32>> + Send>> = official_value(&buf);
    assert_eq!(stream.collect::<Vec<_>>().await, [vec![-1, 1]]);
}
