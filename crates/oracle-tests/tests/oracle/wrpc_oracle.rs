//! lattice-wrpc against the official wRPC crates wasmCloud 1.9.2 ships
//! (`wrpc-transport-nats` 0.29.0 and `wrpc-transport` 0.28.4 on async-nats 0.39, with
//! `wit-bindgen-wrpc` 0.10 types): each side invokes what the other serves, and values
//! encoded by one decode with the other, byte for byte.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats_039 as nats039;
use futures::{Stream, StreamExt as _};
use lattice_test_support::TestNats;
use lattice_wrpc::value::{self, Async, Type, Value};
use lattice_wrpc::{InvocationHeaders, InvocationSubject, SubjectPrefix, WrpcClient};
use wit_bindgen_wrpc::bytes::{Bytes, BytesMut};
use wrpc_transport::{InvokeExt as _, ServeExt as _};

mod bindings {
    wit_bindgen_wrpc::generate!({
        inline: r#"
            package local:oracle@0.1.0;

            interface types {
                record point { x: s32, y: s32, label: option<string> }
                variant shape { circle(u32), polygon(list<point>), empty }
                enum color { red, green, blue }
                flags perms { read, write, exec }
            }

            world oracle {
                import types;
            }
        "#,
        generate_unused_types: true,
    });
}

pub(crate) use bindings::local::oracle::types::{Color, Perms, Point, Shape};

// The generated enum and flags compare already; the record and variant get it here.
impl PartialEq for Point {
    fn eq(&self, other: &Self) -> bool {
        (self.x, self.y, &self.label) == (other.x, other.y, &other.label)
    }
}

impl PartialEq for Shape {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Shape::Circle(a), Shape::Circle(b)) => a == b,
            (Shape::Polygon(a), Shape::Polygon(b)) => a == b,
            (Shape::Empty, Shape::Empty) => true,
            _ => false,
        }
    }
}

const INSTANCE: &str = "local:oracle/math@0.1.0";
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;
pub(crate) type Writer = wrpc_transport_nats::SubjectWriter;
pub(crate) type Reader = wrpc_transport_nats::Reader;
const NO_PATHS: [&[Option<usize>]; 0] = [];

// ---- the types on our side -------------------------------------------------------

pub(crate) fn point_type() -> Type {
    Type::record([
        ("x", Type::S32),
        ("y", Type::S32),
        ("label", Type::option(Type::String)),
    ])
}

pub(crate) fn shape_type() -> Type {
    Type::variant([
        ("circle", Some(Type::U32)),
        ("polygon", Some(Type::list(point_type()))),
        ("empty", None),
    ])
}

pub(crate) fn color_type() -> Type {
    Type::Enum(vec!["red".into(), "green".into(), "blue".into()])
}

pub(crate) fn perms_type() -> Type {
    Type::Flags(vec!["read".into(), "write".into(), "exec".into()])
}

fn mix_params() -> Vec<Type> {
    vec![
        Type::list(shape_type()),
        point_type(),
        color_type(),
        perms_type(),
    ]
}

fn mix_results() -> Vec<Type> {
    vec![Type::result(
        Some(Type::Tuple(vec![Type::U32, Type::list(point_type())])),
        Some(Type::String),
    )]
}

pub(crate) fn point_value(p: &Point) -> Value {
    Value::Record(vec![
        Value::S32(p.x),
        Value::S32(p.y),
        Value::Option(p.label.clone().map(|l| Box::new(Value::String(l)))),
    ])
}

pub(crate) fn shape_value(s: &Shape) -> Value {
    let (case, payload) = match s {
        Shape::Circle(r) => (0, Some(Value::U32(*r))),
        Shape::Polygon(points) => (
            1,
            Some(Value::List(points.iter().map(point_value).collect())),
        ),
        Shape::Empty => (2, None),
    };
    Value::Variant {
        case,
        payload: payload.map(Box::new),
    }
}

pub(crate) fn color_value(c: Color) -> Value {
    Value::Enum(match c {
        Color::Red => 0,
        Color::Green => 1,
        Color::Blue => 2,
    })
}

pub(crate) fn perms_value(p: Perms) -> Value {
    Value::Flags(vec![
        p.contains(Perms::READ),
        p.contains(Perms::WRITE),
        p.contains(Perms::EXEC),
    ])
}

// ---- the functions, as each side implements them ----------------------------------

/// `mix(shapes, origin, color, perms) -> result<tuple<u32, list<point>>, string>`: the
/// shape count and the origin followed by every polygon point; `err` without `read`.
fn mix_official(
    shapes: Vec<Shape>,
    origin: Point,
    color: Color,
    perms: Perms,
) -> Result<(u32, Vec<Point>), String> {
    if !perms.contains(Perms::READ) {
        return Err(format!("{color:?} denied"));
    }
    let mut points = vec![origin];
    for shape in &shapes {
        if let Shape::Polygon(ps) = shape {
            points.extend(ps.iter().cloned());
        }
    }
    Ok((shapes.len() as u32, points))
}

fn mix_ours(params: &[Value]) -> anyhow::Result<Value> {
    let [
        Value::List(shapes),
        origin,
        Value::Enum(color),
        Value::Flags(perms),
    ] = params
    else {
        anyhow::bail!("unexpected mix params {params:?}");
    };
    if !perms[0] {
        let name = ["Red", "Green", "Blue"][*color as usize];
        return Ok(Value::Result(Err(Some(Box::new(Value::String(format!(
            "Color::{name} denied"
        )))))));
    }
    let mut points = vec![origin.clone()];
    for shape in shapes {
        if let Value::Variant {
            case: 1,
            payload: Some(list),
        } = shape
            && let Value::List(ps) = &**list
        {
            points.extend(ps.iter().cloned());
        }
    }
    Ok(Value::Result(Ok(Some(Box::new(Value::Tuple(vec![
        Value::U32(shapes.len() as u32),
        Value::List(points),
    ]))))))
}

fn sample_mix() -> (Vec<Shape>, Point, Color, Perms) {
    let p = |x, y, label: Option<&str>| Point {
        x,
        y,
        label: label.map(str::to_owned),
    };
    (
        vec![
            Shape::Circle(3),
            Shape::Polygon(vec![p(1, -2, Some("a")), p(-300, 70_000, None)]),
            Shape::Empty,
        ],
        p(0, 0, Some("origin")),
        Color::Green,
        Perms::READ | Perms::EXEC,
    )
}

fn mix_param_values(shapes: &[Shape], origin: &Point, color: Color, perms: Perms) -> Vec<Value> {
    vec![
        Value::List(shapes.iter().map(shape_value).collect()),
        point_value(origin),
        color_value(color),
        perms_value(perms),
    ]
}

fn reversed_chunks(all: &[u8]) -> Vec<Bytes> {
    let mut rev = all.to_vec();
    rev.reverse();
    rev.chunks(4).map(Bytes::copy_from_slice).collect()
}

// ---- the lattice-wrpc server --------------------------------------------------------

/// Serves add, echo, mix and reverse under `default.ours`, reporting each call's
/// headers.
async fn serve_ours(
    wrpc: &WrpcClient,
) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<InvocationHeaders>> {
    let (seen_tx, seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let prefix = SubjectPrefix::target("default", "ours");
    for func in ["add", "echo", "mix", "reverse"] {
        let mut calls = wrpc
            .serve(&InvocationSubject::new(prefix.clone(), INSTANCE, func))
            .await?;
        let seen_tx = seen_tx.clone();
        tokio::spawn(async move {
            while let Some(call) = calls.next().await {
                let mut call = call?;
                let _ = seen_tx.send(call.headers().clone());
                match func {
                    "add" => {
                        let [Value::U32(a), Value::U32(b)] =
                            call.read_params(&[Type::U32, Type::U32]).await?[..]
                        else {
                            anyhow::bail!("add takes two u32");
                        };
                        call.write_results(&[Value::U32(a + b)], &[Type::U32])
                            .await?;
                    }
                    "echo" => {
                        let params = call.read_params(&[Type::String]).await?;
                        call.write_results(&params, &[Type::String]).await?;
                    }
                    "mix" => {
                        let params = call.read_params(&mix_params()).await?;
                        call.write_results(&[mix_ours(&params)?], &mix_results())
                            .await?;
                    }
                    _ => {
                        let stream = Type::stream(Type::U8);
                        let params = call.read_params(std::slice::from_ref(&stream)).await?;
                        anyhow::ensure!(
                            params == [Value::Stream(Async::Pending)],
                            "a pending stream"
                        );
                        let mut data = call.param_channel(&[0]);
                        let mut all = Vec::new();
                        while let Some(Value::Bytes(chunk)) =
                            data.read_stream_chunk(&Type::U8).await?
                        {
                            all.extend_from_slice(&chunk);
                        }
                        call.write_results(&[Value::Stream(Async::Pending)], &[stream])
                            .await?;
                        let mut out = call.result_channel(&[0]);
                        for chunk in reversed_chunks(&all) {
                            out.write_stream_chunk(&Value::Bytes(chunk), &Type::U8)
                                .await?;
                        }
                        out.finish_stream().await?;
                    }
                }
            }
            anyhow::Ok(())
        });
    }
    Ok(seen_rx)
}

// ---- the official server ------------------------------------------------------------

fn spawn_official<S, F>(invocations: S, handle: impl Fn(S::Item) -> F + Send + 'static)
where
    S: Stream + Send + 'static,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut invocations = Box::pin(invocations);
        while let Some(item) = invocations.next().await {
            tokio::spawn(handle(item));
        }
    });
}

/// Serves add, echo, mix and reverse with `wrpc-transport-nats` under `default.official`.
async fn serve_official(nats: nats039::Client) -> anyhow::Result<()> {
    let official = wrpc_transport_nats::Client::new(
        nats,
        "default.official",
        Some(Arc::from("default.official")),
    )
    .await?;
    let none = || Vec::<Box<[Option<usize>]>>::new();

    let add = official
        .serve_values::<(u32, u32), (u32,)>(INSTANCE, "add", none())
        .await?;
    spawn_official(add, |item| async move {
        let (_cx, (a, b), _rx, tx) = item?;
        tx((a + b,)).await
    });
    let echo = official
        .serve_values::<(String,), (String,)>(INSTANCE, "echo", none())
        .await?;
    spawn_official(echo, |item| async move {
        let (_cx, (s,), _rx, tx) = item?;
        tx((s,)).await
    });
    let mix = official
        .serve_values::<(Vec<Shape>, Point, Color, Perms), (Result<(u32, Vec<Point>), String>,)>(
            INSTANCE,
            "mix",
            none(),
        )
        .await?;
    spawn_official(mix, |item| async move {
        let (_cx, (shapes, origin, color, perms), _rx, tx) = item?;
        tx((mix_official(shapes, origin, color, perms),)).await
    });
    let reverse = official
        .serve_values::<(ByteStream,), (ByteStream,)>(
            INSTANCE,
            "reverse",
            vec![Box::<[Option<usize>]>::from([Some(0)])],
        )
        .await?;
    spawn_official(reverse, |item| async move {
        let (_cx, (data,), rx, tx) = item?;
        let receiving = rx.map(tokio::spawn);
        let chunks: Vec<Bytes> = data.collect().await;
        if let Some(receiving) = receiving {
            receiving.await??;
        }
        let all: Vec<u8> = chunks.concat();
        let out: ByteStream = Box::pin(futures::stream::iter(reversed_chunks(&all)));
        tx((out,)).await
    });
    Ok(())
}

// ---- transport tests ---------------------------------------------------------------

async fn connect_039(nats: &TestNats) -> anyhow::Result<nats039::Client> {
    Ok(nats039::connect(nats.url()).await?)
}

/// A message through the server and back: afterwards, publishes from other connections
/// find every subscription `client` made before.
async fn confirm_subscriptions(client: &nats039::Client) -> anyhow::Result<()> {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, Bytes::new()).await?;
    tokio::time::timeout(WAIT, echo.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("round trip"))?;
    Ok(())
}

#[tokio::test]
async fn official_client_calls_lattice_wrpc() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let ours = WrpcClient::new(nats.client().await?).await?;
    let mut seen = serve_ours(&ours).await?;
    let official =
        wrpc_transport_nats::Client::new(connect_039(&nats).await?, "default.ours", None).await?;

    let mut headers = nats039::HeaderMap::new();
    headers.insert("source-id", "official-caller");
    headers.insert("link-name", "default");
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    let (sum,): (u32,) = official
        .invoke_values_blocking(Some(headers), INSTANCE, "add", (40u32, 2u32), NO_PATHS)
        .await?;
    assert_eq!(sum, 42);
    let h = tokio::time::timeout(WAIT, seen.recv())
        .await?
        .expect("headers");
    assert_eq!(h.source_id(), Some("official-caller"));
    assert_eq!(h.link_name(), Some("default"));
    assert_eq!(
        h.traceparent(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );

    // Larger than max_payload: split on both ways.
    let long = "ő".repeat(700_000);
    let (echoed,): (String,) = official
        .invoke_values_blocking(None, INSTANCE, "echo", (long.clone(),), NO_PATHS)
        .await?;
    assert_eq!(echoed, long);

    let (shapes, origin, color, perms) = sample_mix();
    let expected = mix_official(shapes.clone(), origin.clone(), color, perms);
    let (got,): (Result<(u32, Vec<Point>), String>,) = official
        .invoke_values_blocking(
            None,
            INSTANCE,
            "mix",
            (shapes.clone(), origin.clone(), color, perms),
            NO_PATHS,
        )
        .await?;
    assert_eq!(got, expected);
    assert_eq!(got.as_ref().map(|(n, _)| *n), Ok(3));
    let (denied,): (Result<(u32, Vec<Point>), String>,) = official
        .invoke_values_blocking(
            None,
            INSTANCE,
            "mix",
            (shapes, origin, Color::Blue, Perms::WRITE),
            NO_PATHS,
        )
        .await?;
    assert_eq!(denied, Err("Color::Blue denied".to_owned()));

    let data: ByteStream = Box::pin(futures::stream::iter(
        [&b"hello "[..], b"from the ", b"official client"].map(Bytes::from_static),
    ));
    let ((out,), io): ((ByteStream,), _) = official
        .invoke_values(None, INSTANCE, "reverse", (data,), [[Some(0)].as_slice()])
        .await?;
    let io = tokio::spawn(io.expect("async parameters and results"));
    let reversed: Vec<Bytes> = tokio::time::timeout(WAIT, out.collect()).await?;
    tokio::time::timeout(WAIT, io).await???;
    assert_eq!(reversed.concat(), b"tneilc laiciffo eht morf olleh");
    Ok(())
}

#[tokio::test]
async fn lattice_wrpc_calls_official_server() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let official_nats = connect_039(&nats).await?;
    serve_official(official_nats.clone()).await?;
    // `serve_values` has subscribed by now; the round trip makes sure the server has them.
    confirm_subscriptions(&official_nats).await?;
    let ours = WrpcClient::new(nats.client().await?).await?;
    let prefix = SubjectPrefix::target("default", "official");
    let subject = |func: &str| InvocationSubject::new(prefix.clone(), INSTANCE, func);
    let encode = |values: &[Value], types: &[Type]| -> Bytes {
        let mut buf = BytesMut::new();
        value::encode_tuple(values, types, &mut buf).expect("params fit");
        buf.freeze()
    };
    let headers = InvocationHeaders::new()
        .with_source_id("lattice")
        .with_link_name("default");

    let mut call = ours
        .invoke(
            &subject("add"),
            &headers,
            encode(&[Value::U32(40), Value::U32(2)], &[Type::U32, Type::U32]),
        )
        .await?;
    assert_eq!(call.read_results(&[Type::U32]).await?, [Value::U32(42)]);

    let long = Value::String("ő".repeat(700_000));
    let mut call = ours
        .invoke(
            &subject("echo"),
            &headers,
            encode(std::slice::from_ref(&long), &[Type::String]),
        )
        .await?;
    assert_eq!(call.read_results(&[Type::String]).await?, [long]);

    let (shapes, origin, color, perms) = sample_mix();
    let params = mix_param_values(&shapes, &origin, color, perms);
    let mut call = ours
        .invoke(&subject("mix"), &headers, encode(&params, &mix_params()))
        .await?;
    let results = call.read_results(&mix_results()).await?;
    assert_eq!(results, [mix_ours(&params)?]);
    let denied = mix_param_values(&shapes, &origin, Color::Red, Perms::empty());
    let mut call = ours
        .invoke(&subject("mix"), &headers, encode(&denied, &mix_params()))
        .await?;
    assert_eq!(
        call.read_results(&mix_results()).await?,
        [mix_ours(&denied)?]
    );

    let stream = Type::stream(Type::U8);
    let mut call = ours
        .invoke(
            &subject("reverse"),
            &headers,
            encode(
                &[Value::Stream(Async::Pending)],
                std::slice::from_ref(&stream),
            ),
        )
        .await?;
    let mut data = call.param_channel(&[0]);
    for piece in [&b"hello "[..], b"from ", b"lattice-wrpc"] {
        data.write_stream_chunk(&Value::Bytes(Bytes::from_static(piece)), &Type::U8)
            .await?;
    }
    data.finish_stream().await?;
    assert_eq!(
        call.read_results(&[stream]).await?,
        [Value::Stream(Async::Pending)]
    );
    let mut out = call.result_channel(&[0]);
    let mut all = Vec::new();
    while let Some(Value::Bytes(chunk)) = out.read_stream_chunk(&Type::U8).await? {
        all.extend_from_slice(&chunk);
    }
    assert_eq!(all, b"cprw-ecittal morf olleh");
    Ok(())
}
