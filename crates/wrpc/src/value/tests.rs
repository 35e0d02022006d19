use bytes::{Buf as _, Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

fn encoded(value: &Value, ty: &Type) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(value, ty, &mut buf).expect("the value fits the type");
    buf.to_vec()
}

#[test]
fn known_encodings() {
    let cases: Vec<(Value, Type, Vec<u8>)> = vec![
        (Value::Bool(true), Type::Bool, vec![1]),
        (Value::S8(-1), Type::S8, vec![0xff]),
        (Value::U8(200), Type::U8, vec![200]),
        (Value::S16(-2), Type::S16, vec![0x7e]),
        (Value::U32(21), Type::U32, vec![0x15]),
        (Value::U32(300), Type::U32, vec![0xac, 0x02]),
        (Value::S32(-129), Type::S32, vec![0xff, 0x7e]),
        (Value::S64(64), Type::S64, vec![0xc0, 0x00]),
        (Value::F32(1.0), Type::F32, 1.0f32.to_le_bytes().to_vec()),
        (
            Value::F64(-2.5),
            Type::F64,
            (-2.5f64).to_le_bytes().to_vec(),
        ),
        (Value::Char('ő'), Type::Char, "ő".as_bytes().to_vec()),
        (
            Value::String("hi".into()),
            Type::String,
            vec![2, b'h', b'i'],
        ),
        (
            Value::Bytes(Bytes::from_static(b"ab")),
            Type::list(Type::U8),
            vec![2, b'a', b'b'],
        ),
        (
            Value::List(vec![Value::U16(1), Value::U16(128)]),
            Type::list(Type::U16),
            vec![2, 1, 0x80, 0x01],
        ),
        (Value::Option(None), Type::option(Type::U8), vec![0]),
        (
            Value::Option(Some(Box::new(Value::U8(7)))),
            Type::option(Type::U8),
            vec![1, 7],
        ),
        (
            Value::Result(Ok(None)),
            Type::result(None, Some(Type::String)),
            vec![0],
        ),
        (
            Value::Result(Err(Some(Box::new(Value::String("x".into()))))),
            Type::result(None, Some(Type::String)),
            vec![1, 1, b'x'],
        ),
        (
            Value::Variant {
                case: 1,
                payload: Some(Box::new(Value::U8(9))),
            },
            Type::variant([("a", None), ("b", Some(Type::U8))]),
            vec![1, 9],
        ),
        (
            Value::Enum(2),
            Type::Enum(vec!["a".into(), "b".into(), "c".into()]),
            vec![2],
        ),
        (
            Value::Flags((0..10).map(|i| i == 0 || i == 9).collect()),
            Type::Flags((0..10).map(|i| format!("f{i}")).collect()),
            vec![0x01, 0x02],
        ),
        (
            Value::Future(Async::Pending),
            Type::future(Some(Type::U8)),
            vec![0],
        ),
        (
            Value::Future(Async::Ready(Some(Box::new(Value::U8(5))))),
            Type::future(Some(Type::U8)),
            vec![1, 5],
        ),
        (
            Value::Stream(Async::Pending),
            Type::stream(Type::U8),
            vec![0],
        ),
        (
            Value::Stream(Async::Ready(Box::new(Value::Bytes(Bytes::from_static(
                b"z",
            ))))),
            Type::stream(Type::U8),
            vec![1, b'z'],
        ),
        (
            Value::Own(Bytes::from_static(&[9, 9])),
            Type::Own("r".into()),
            vec![2, 9, 9],
        ),
        (
            Value::Record(vec![Value::U8(1), Value::Bool(false)]),
            Type::record([("a", Type::U8), ("b", Type::Bool)]),
            vec![1, 0],
        ),
    ];
    for (value, ty, bytes) in cases {
        assert_eq!(encoded(&value, &ty), bytes, "{value:?} as {ty:?}");
        assert_eq!(decode(&ty, &mut &bytes[..]), Ok(value), "{ty:?}");
    }
}

#[test]
fn invalid_bytes_are_rejected() {
    let invalid = |ty: Type, bytes: &[u8]| {
        assert!(
            matches!(
                decode(&ty, &mut &bytes[..]),
                Err(DecodeError::Invalid { .. })
            ),
            "{ty:?} from {bytes:?}"
        );
    };
    invalid(Type::Bool, &[2]);
    invalid(Type::option(Type::U8), &[2, 0]);
    invalid(Type::result(None, None), &[2]);
    invalid(Type::Enum(vec!["a".into()]), &[1]);
    invalid(Type::variant([("a", None::<Type>)]), &[5]);
    invalid(Type::Flags(vec!["a".into(), "b".into()]), &[0x04]);
    invalid(Type::String, &[1, 0xff]);
    invalid(Type::Char, &[0xed, 0xa0, 0x80]);
    invalid(Type::U32, &[0xff, 0xff, 0xff, 0xff, 0x7f]);
    invalid(Type::future(None), &[3]);
}

#[test]
fn mismatched_values_do_not_encode() {
    let mut buf = BytesMut::new();
    assert!(matches!(
        encode(&Value::U8(1), &Type::S8, &mut buf),
        Err(EncodeError::Mismatch { .. })
    ));
    assert!(matches!(
        encode(&Value::Flags(vec![true]), &Type::Flags(vec![]), &mut buf),
        Err(EncodeError::Arity { .. })
    ));
    assert_eq!(
        encode(
            &Value::Stream(Async::Ready(Box::new(Value::List(vec![])))),
            &Type::stream(Type::U32),
            &mut buf
        ),
        Err(EncodeError::EmptyReadyStream)
    );
    assert!(matches!(
        encode(&Value::Enum(1), &Type::Enum(vec!["a".into()]), &mut buf),
        Err(EncodeError::Case { .. })
    ));
}

#[test]
fn pending_paths_follow_the_indexing_rules() {
    let pending_stream = || Value::Stream(Async::Pending);
    let params = Value::Tuple(vec![
        Value::U32(1),
        Value::Record(vec![Value::Bool(true), pending_stream()]),
        Value::Option(Some(Box::new(Value::Future(Async::Pending)))),
        Value::List(vec![
            Value::U8(0),
            Value::Variant {
                case: 0,
                payload: Some(Box::new(pending_stream())),
            },
        ]),
        Value::Stream(Async::Ready(Box::new(Value::List(vec![
            Value::U8(0),
            Value::U8(0),
            pending_stream(),
        ])))),
    ]);
    assert_eq!(
        params.pending_paths(),
        vec![vec![1, 1], vec![2], vec![3, 1], vec![4, 2]]
    );
}

#[test]
fn chained_buffers_decode_without_consuming_on_incomplete() {
    let bytes = encoded(&Value::String("hello".into()), &Type::String);
    let (a, b) = bytes.split_at(3);
    let mut chain = a.chain(&b[..2]);
    assert_eq!(
        decode(&Type::String, &mut chain),
        Err(DecodeError::Incomplete)
    );
    assert_eq!(chain.remaining(), 5);
    let mut chain = a.chain(b);
    assert_eq!(
        decode(&Type::String, &mut chain),
        Ok(Value::String("hello".into()))
    );
    assert_eq!(chain.remaining(), 0);
}

#[test]
fn nan_bits_survive() {
    let nan = f64::from_bits(0x7ff8_0000_dead_beef);
    let bytes = encoded(&Value::F64(nan), &Type::F64);
    let Ok(Value::F64(back)) = decode(&Type::F64, &mut &bytes[..]) else {
        panic!("not an f64");
    };
    assert_eq!(back.to_bits(), nan.to_bits());
}

fn names(prefix: &'static str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Any type, nested a few levels deep.
pub(crate) fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::Bool),
        Just(Type::S8),
        Just(Type::U8),
        Just(Type::S16),
        Just(Type::U16),
        Just(Type::S32),
        Just(Type::U32),
        Just(Type::S64),
        Just(Type::U64),
        Just(Type::F32),
        Just(Type::F64),
        Just(Type::Char),
        Just(Type::String),
        (1usize..6).prop_map(|n| Type::Enum(names("e", n))),
        (0usize..70).prop_map(|n| Type::Flags(names("f", n))),
        Just(Type::Own("res".into())),
        Just(Type::Borrow("res".into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|tys| Type::record(
                tys.into_iter()
                    .enumerate()
                    .map(|(i, ty)| (format!("r{i}"), ty))
            )),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Type::Tuple),
            prop::collection::vec(prop::option::of(inner.clone()), 1..4).prop_map(|cases| {
                Type::variant(
                    cases
                        .into_iter()
                        .enumerate()
                        .map(|(i, ty)| (format!("c{i}"), ty)),
                )
            }),
            inner.clone().prop_map(Type::option),
            (
                prop::option::of(inner.clone()),
                prop::option::of(inner.clone())
            )
                .prop_map(|(ok, err)| Type::result(ok, err)),
            prop::option::of(inner.clone()).prop_map(Type::future),
            inner.prop_map(Type::stream),
        ]
    })
}

/// Any value of `ty` (floats without NaN, so that values compare equal).
pub(crate) fn arb_value(ty: &Type) -> BoxedStrategy<Value> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::S8 => any::<i8>().prop_map(Value::S8).boxed(),
        Type::U8 => any::<u8>().prop_map(Value::U8).boxed(),
        Type::S16 => any::<i16>().prop_map(Value::S16).boxed(),
        Type::U16 => any::<u16>().prop_map(Value::U16).boxed(),
        Type::S32 => any::<i32>().prop_map(Value::S32).boxed(),
        Type::U32 => any::<u32>().prop_map(Value::U32).boxed(),
        Type::S64 => any::<i64>().prop_map(Value::S64).boxed(),
        Type::U64 => any::<u64>().prop_map(Value::U64).boxed(),
        Type::F32 => any::<f32>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Value::F32)
            .boxed(),
        Type::F64 => any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Value::F64)
            .boxed(),
        Type::Char => any::<char>().prop_map(Value::Char).boxed(),
        Type::String => any::<String>().prop_map(Value::String).boxed(),
        Type::List(element) => list_value(element, 0..5),
        Type::Record(fields) => fields
            .iter()
            .map(|f| arb_value(&f.ty))
            .collect::<Vec<_>>()
            .prop_map(Value::Record)
            .boxed(),
        Type::Tuple(types) => types
            .iter()
            .map(arb_value)
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
        Type::Variant(cases) => {
            let cases: Vec<_> = cases
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let case = i as u32;
                    match &c.ty {
                        Some(ty) => arb_value(ty)
                            .prop_map(move |v| Value::Variant {
                                case,
                                payload: Some(Box::new(v)),
                            })
                            .boxed(),
                        None => Just(Value::Variant {
                            case,
                            payload: None,
                        })
                        .boxed(),
                    }
                })
                .collect();
            proptest::strategy::Union::new(cases).boxed()
        }
        Type::Enum(names) => (0..names.len() as u32).prop_map(Value::Enum).boxed(),
        Type::Option(some) => prop::option::of(arb_value(some).prop_map(Box::new))
            .prop_map(Value::Option)
            .boxed(),
        Type::Result { ok, err } => {
            let ok = payload(ok.as_deref()).prop_map(Ok);
            let err = payload(err.as_deref()).prop_map(Err);
            prop_oneof![ok, err].prop_map(Value::Result).boxed()
        }
        Type::Flags(names) => prop::collection::vec(any::<bool>(), names.len())
            .prop_map(Value::Flags)
            .boxed(),
        Type::Future(ty) => prop_oneof![
            Just(Value::Future(Async::Pending)),
            payload(ty.as_deref()).prop_map(|v| Value::Future(Async::Ready(v))),
        ]
        .boxed(),
        Type::Stream(element) => prop_oneof![
            Just(Value::Stream(Async::Pending)),
            list_value(element, 1..5).prop_map(|list| Value::Stream(Async::Ready(Box::new(list)))),
        ]
        .boxed(),
        Type::Own(_) => any::<Vec<u8>>().prop_map(|b| Value::Own(b.into())).boxed(),
        Type::Borrow(_) => any::<Vec<u8>>()
            .prop_map(|b| Value::Borrow(b.into()))
            .boxed(),
    }
}

fn payload(ty: Option<&Type>) -> BoxedStrategy<Option<Box<Value>>> {
    match ty {
        Some(ty) => arb_value(ty).prop_map(|v| Some(Box::new(v))).boxed(),
        None => Just(None).boxed(),
    }
}

fn list_value(element: &Type, len: std::ops::Range<usize>) -> BoxedStrategy<Value> {
    if *element == Type::U8 {
        prop::collection::vec(any::<u8>(), len)
            .prop_map(|b| Value::Bytes(b.into()))
            .boxed()
    } else {
        prop::collection::vec(arb_value(element), len)
            .prop_map(Value::List)
            .boxed()
    }
}

fn arb_typed_value() -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(|ty| {
        let value = arb_value(&ty);
        (Just(ty), value)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_type_round_trips((ty, value) in arb_typed_value(), trailing in any::<u8>()) {
        let mut bytes = encoded(&value, &ty);
        let len = bytes.len();
        bytes.push(trailing);
        let mut buf = &bytes[..];
        prop_assert_eq!(decode(&ty, &mut buf), Ok(value));
        prop_assert_eq!(buf, &[trailing][..]);
        // Every strict prefix is incomplete and consumes nothing.
        for cut in 0..len {
            let mut prefix = &bytes[..cut];
            prop_assert_eq!(decode(&ty, &mut prefix), Err(DecodeError::Incomplete));
            prop_assert_eq!(prefix.len(), cut);
        }
    }

    #[test]
    fn tuples_round_trip(pairs in prop::collection::vec(arb_typed_value(), 0..4)) {
        let (types, values): (Vec<Type>, Vec<Value>) = pairs.into_iter().unzip();
        let mut buf = BytesMut::new();
        encode_tuple(&values, &types, &mut buf).unwrap();
        prop_assert_eq!(decode_tuple(&types, &mut buf), Ok(values));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn garbage_never_panics(ty in arb_type(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(&ty, &mut &bytes[..]);
    }
}

#[test]
fn futures_and_streams_are_found_wherever_they_are_nested() {
    assert!(!Type::U32.has_async());
    assert!(!Type::record([("a", Type::list(Type::String))]).has_async());
    assert!(Type::stream(Type::U8).has_async());
    assert!(Type::future(None).has_async());
    assert!(Type::option(Type::future(Some(Type::U8))).has_async());
    assert!(Type::result(None, Some(Type::stream(Type::U8))).has_async());
    assert!(Type::variant([("a", None), ("b", Some(Type::stream(Type::U8)))]).has_async());
    assert!(Type::Tuple(vec![Type::Bool, Type::stream(Type::U8)]).has_async());
}
