//! lattice-wrpc against itself and against raw NATS on a real `nats-server`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use lattice_test_support::TestNats;
use lattice_wrpc::value::{Async, Type, Value, encode_tuple};
use lattice_wrpc::{
    InvocationHeaders, InvocationSubject, InvokeErrorKind, SubjectPrefix, WrpcClient,
};

const WAIT: Duration = Duration::from_secs(10);

fn subject(target: &str, func: &str) -> InvocationSubject {
    InvocationSubject::new(
        SubjectPrefix::target("default", target),
        "local:test/api@0.1.0",
        func,
    )
}

/// Waits until the server has processed what `nats` sent so far (its subscriptions).
async fn round_trip(nats: &async_nats::Client) -> anyhow::Result<()> {
    let inbox = nats.new_inbox();
    let mut echo = nats.subscribe(inbox.clone()).await?;
    nats.publish(inbox, Bytes::new()).await?;
    tokio::time::timeout(WAIT, echo.next()).await?;
    Ok(())
}

fn params(values: &[Value], types: &[Type]) -> Bytes {
    let mut buf = BytesMut::new();
    encode_tuple(values, types, &mut buf).expect("params fit their types");
    buf.freeze()
}

#[tokio::test]
async fn add_with_headers() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let server = WrpcClient::new(nats.client().await?).await?;
    let client = WrpcClient::new(nats.client().await?).await?;
    let add = subject("adder", "add");
    let mut calls = server.serve(&add).await?;
    let served = tokio::spawn(async move {
        let mut call = calls.next().await.expect("a call")?;
        let headers = call.headers().clone();
        let [Value::U32(a), Value::U32(b)] = call.read_params(&[Type::U32, Type::U32]).await?[..]
        else {
            anyhow::bail!("not two u32");
        };
        call.write_results(&[Value::U32(a + b)], &[Type::U32])
            .await?;
        anyhow::Ok(headers)
    });
    let headers = InvocationHeaders::new()
        .with_source_id("caller")
        .with_link_name("default")
        .with_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    let mut call = client
        .invoke(
            &add,
            &headers,
            params(&[Value::U32(40), Value::U32(2)], &[Type::U32, Type::U32]),
        )
        .await?;
    assert_eq!(call.read_results(&[Type::U32]).await?, [Value::U32(42)]);
    let seen = served.await??;
    assert_eq!(seen.source_id(), Some("caller"));
    assert_eq!(seen.link_name(), Some("default"));
    assert_eq!(seen.traceparent(), headers.traceparent());
    Ok(())
}

#[tokio::test]
async fn large_values_are_split_at_max_payload() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let server = WrpcClient::new(nats.client().await?).await?;
    let client = WrpcClient::new(nats.client().await?).await?;
    let max = client.nats().max_payload();
    let echo = subject("echo", "echo");
    let mut calls = server.serve(&echo).await?;
    tokio::spawn(async move {
        while let Some(Ok(mut call)) = calls.next().await {
            let params = call.read_params(&[Type::String]).await?;
            call.write_results(&params, &[Type::String]).await?;
        }
        anyhow::Ok(())
    });
    let text: String = "wRPC ".repeat(max * 2 / 5 + 7);
    assert!(text.len() > 2 * max);
    let value = Value::String(text);
    let mut call = client
        .invoke(
            &echo,
            &InvocationHeaders::new(),
            params(std::slice::from_ref(&value), &[Type::String]),
        )
        .await?;
    assert_eq!(call.read_results(&[Type::String]).await?, [value]);
    Ok(())
}

#[tokio::test]
async fn unserved_subject_is_not_found() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let client = WrpcClient::new(nats.client().await?).await?;
    let err = client
        .invoke(
            &subject("nobody", "add"),
            &InvocationHeaders::new(),
            Bytes::new(),
        )
        .await
        .expect_err("nothing serves it");
    assert_eq!(err.kind(), &InvokeErrorKind::NotFound);
    Ok(())
}

#[tokio::test]
async fn silent_server_times_out() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let raw = nats.client().await?;
    let silent = subject("silent", "add");
    let mut sub = raw.subscribe(silent.to_string()).await?;
    round_trip(&raw).await?;
    let client = WrpcClient::new(nats.client().await?)
        .await?
        .with_timeout(Duration::from_millis(300));
    let no_headers = InvocationHeaders::new();
    let call = client.invoke(&silent, &no_headers, Bytes::from_static(&[1]));
    let (result, received) = tokio::join!(call, tokio::time::timeout(WAIT, sub.next()));
    assert!(received?.is_some(), "the call was published");
    let err = result.expect_err("nobody accepts");
    assert_eq!(
        err.kind(),
        &InvokeErrorKind::Timeout(Duration::from_millis(300))
    );
    Ok(())
}

/// The wire as spec §16.3 observed it on the official host: payload `15`, an empty
/// accept, `2a` and an empty close on `{reply}.results`. Concurrent calls share one
/// inbox and differ in their last token.
#[tokio::test]
async fn wire_matches_the_official_host() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let raw = nats.client().await?;
    let twice = subject("api", "twice");
    let mut sub = raw
        .queue_subscribe(twice.to_string(), "default.api".to_owned())
        .await?;
    round_trip(&raw).await?;
    let client = WrpcClient::new(nats.client().await?).await?;

    let calls = (0..2u32).map(|i| {
        let client = client.clone();
        let twice = twice.clone();
        async move {
            let mut call = client
                .invoke(
                    &twice,
                    &InvocationHeaders::new(),
                    params(&[Value::U32(21 + i)], &[Type::U32]),
                )
                .await?;
            anyhow::Ok(call.read_results(&[Type::U32]).await?)
        }
    });
    let server = async {
        let mut replies = Vec::new();
        for _ in 0..2 {
            let msg = tokio::time::timeout(WAIT, sub.next())
                .await?
                .expect("a call");
            let reply = msg.reply.expect("a reply subject").to_string();
            let n = msg.payload[0];
            assert_eq!(msg.payload.len(), 1);
            // Accept with a server inbox we watch for the empty params close.
            let server_inbox = raw.new_inbox();
            let mut params = raw.subscribe(format!("{server_inbox}.params")).await?;
            raw.publish_with_reply(reply.clone(), server_inbox, Bytes::new())
                .await?;
            let close = tokio::time::timeout(WAIT, params.next())
                .await?
                .expect("params close");
            assert!(close.payload.is_empty());
            raw.publish(format!("{reply}.results"), Bytes::from(vec![n * 2]))
                .await?;
            raw.publish(format!("{reply}.results"), Bytes::new())
                .await?;
            replies.push(reply);
        }
        anyhow::Ok(replies)
    };
    let (results, replies) = tokio::join!(futures::future::join_all(calls), server);
    let mut results: Vec<_> = results.into_iter().collect::<Result<_, _>>()?;
    results.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(results, [vec![Value::U32(42)], vec![Value::U32(44)]]);
    let replies = replies?;
    let (a, b) = (
        replies[0].rsplit_once('.').unwrap(),
        replies[1].rsplit_once('.').unwrap(),
    );
    assert_eq!(a.0, b.0, "one inbox for every call");
    assert_ne!(a.1, b.1, "one token per call");
    Ok(())
}

/// `reverse: func(data: stream<u8>) -> stream<u8>` with both streams pending: the
/// parameter on `R_s.params.0`, the result on `R_c.results.0`, sent before the client
/// asks for it.
#[tokio::test]
async fn pending_streams_use_indexed_channels() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let server = WrpcClient::new(nats.client().await?).await?;
    let client = WrpcClient::new(nats.client().await?).await?;
    let reverse = subject("streams", "reverse");
    let stream_u8 = Type::stream(Type::U8);
    let mut calls = server.serve(&reverse).await?;
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut call = calls.next().await.expect("a call")?;
        assert_eq!(
            call.read_params(&[Type::stream(Type::U8)]).await?,
            [Value::Stream(Async::Pending)]
        );
        let mut data = call.param_channel(&[0]);
        let mut all = Vec::new();
        while let Some(Value::Bytes(chunk)) = data.read_stream_chunk(&Type::U8).await? {
            all.extend_from_slice(&chunk);
        }
        all.reverse();
        call.write_results(&[Value::Stream(Async::Pending)], &[Type::stream(Type::U8)])
            .await?;
        let mut out = call.result_channel(&[0]);
        for piece in all.chunks(3) {
            out.write_stream_chunk(&Value::Bytes(Bytes::copy_from_slice(piece)), &Type::U8)
                .await?;
        }
        out.finish_stream().await?;
        call.results().close().await?;
        let _ = sent_tx.send(());
        anyhow::Ok(())
    });
    let mut call = client
        .invoke(
            &reverse,
            &InvocationHeaders::new(),
            params(
                &[Value::Stream(Async::Pending)],
                std::slice::from_ref(&stream_u8),
            ),
        )
        .await?;
    let mut data = call.param_channel(&[0]);
    for piece in [&b"hello "[..], b"wrpc ", b"streams"] {
        data.write_stream_chunk(&Value::Bytes(Bytes::from_static(piece)), &Type::U8)
            .await?;
    }
    data.finish_stream().await?;
    let results = call.read_results(&[stream_u8]).await?;
    assert_eq!(results, [Value::Stream(Async::Pending)]);
    assert_eq!(results[0].pending_paths(), [Vec::<u32>::new()]);
    // The server has sent everything before we listen: it was kept for us.
    tokio::time::timeout(WAIT, sent_rx).await??;
    let mut out = call.result_channel(&[0]);
    let mut all = Vec::new();
    while let Some(Value::Bytes(chunk)) = out.read_stream_chunk(&Type::U8).await? {
        all.extend_from_slice(&chunk);
    }
    assert_eq!(all, b"smaerts cprw olleh");
    assert_eq!(
        out.next_bytes().await?,
        None,
        "the channel closed after the stream"
    );
    Ok(())
}

/// A server that reads its parameters with `read_params_deferred` sends no accept while
/// it works on a call whose parameters came whole: the accept leaves right before the
/// results (one write, one wake-up for the caller). `read_params` accepts at once.
#[tokio::test]
async fn a_deferred_accept_leaves_with_the_results() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let server = WrpcClient::new(nats.client().await?).await?;
    let caller = nats.client().await?;
    let echo = subject("echoer", "echo");
    let mut calls = server.serve(&echo).await?;
    let text = [Type::String];
    let hi = params(&[Value::String("hi".into())], &text);
    for deferred in [true, false] {
        // The call, by hand: `R_c` is `{prefix}.call`, so `{prefix}.>` sees it all.
        let prefix = caller.new_inbox();
        let mut seen = caller.subscribe(format!("{prefix}.>")).await?;
        round_trip(&caller).await?;
        let reply = format!("{prefix}.call");
        caller
            .publish_with_reply(echo.to_string(), reply.clone(), hi.clone())
            .await?;
        let mut call = tokio::time::timeout(WAIT, calls.next())
            .await?
            .expect("a call")?;
        // The server reads the call, flushes what it sent, says so, and answers when told.
        let (read_tx, read_rx) = tokio::sync::oneshot::channel();
        let (answer_tx, answer_rx) = tokio::sync::oneshot::channel::<()>();
        let server_nats = server.nats().clone();
        let served = tokio::spawn(async move {
            let params = match deferred {
                true => call.read_params_deferred(&[Type::String]).await?,
                false => call.read_params(&[Type::String]).await?,
            };
            server_nats.flush().await?;
            let _ = read_tx.send(());
            let _ = answer_rx.await;
            call.write_results(&params, &[Type::String]).await?;
            anyhow::Ok(())
        });
        tokio::time::timeout(WAIT, read_rx).await??;
        // Whatever the server sent before it flushed reached the server before this.
        round_trip(&caller).await?;
        let early = futures::FutureExt::now_or_never(seen.next()).flatten();
        match deferred {
            true => assert!(early.is_none(), "no accept while the call runs: {early:?}"),
            false => {
                let accept = early.expect("the accept, at once");
                assert_eq!(accept.subject.as_str(), reply);
                assert!(accept.reply.is_some() && accept.payload.is_empty());
            }
        }
        let _ = answer_tx.send(());
        served.await??;
        let mut next = Vec::new();
        for _ in 0..(2 + usize::from(deferred)) {
            let message = tokio::time::timeout(WAIT, seen.next()).await?;
            next.push(message.expect("a message"));
        }
        if deferred {
            let accept = next.remove(0);
            assert_eq!(accept.subject.as_str(), reply, "the accept comes first");
            assert!(accept.reply.is_some());
        }
        assert_eq!(next[0].subject.as_str(), format!("{reply}.results"));
        assert_eq!(next[0].payload, hi);
        assert!(next[1].payload.is_empty(), "then the close");
    }
    Ok(())
}
