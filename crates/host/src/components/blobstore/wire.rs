//! The `wrpc:blobstore/blobstore` calls behind `wasi:blobstore`: the functions, their
//! wire types at `0.2.0` and `0.1.0`, and one call with 1.9.2's fallback (a function that
//! nothing serves at `0.2.0` is tried at `0.1.0`).

use lattice_runtime::wasmtime;
use lattice_wrpc::value::{Type, Value};
use lattice_wrpc::{Invocation, InvokeErrorKind};

use crate::components::TraceContext;
use crate::components::imports::{Call, Router, encode_params};

/// The interface whose link every `wasi:blobstore` call follows (as 1.9.2: containers
/// too).
pub(super) const LINK: (&str, &str, &str) = ("wasi", "blobstore", "blobstore");

/// The instance called, newest first.
const INSTANCES: [(&str, Version); 2] = [
    ("wrpc:blobstore/blobstore@0.2.0", Version::V0_2),
    ("wrpc:blobstore/blobstore@0.1.0", Version::V0_1),
];

/// The version of `wrpc:blobstore` that answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    /// `0.2.0`: streams come with a `future` of the operation's status.
    V0_2,
    /// `0.1.0`: streams alone.
    V0_1,
}

/// `record object-id { container, object }`
pub(super) fn object_id_type() -> Type {
    Type::record([("container", Type::String), ("object", Type::String)])
}

/// `object-id` of `container` and `object`.
pub(super) fn object_id(container: &str, object: &str) -> Value {
    Value::Record(vec![
        Value::String(container.to_string()),
        Value::String(object.to_string()),
    ])
}

/// `result<T, string>`
pub(super) fn fallible(ok: Option<Type>) -> Type {
    Type::result(ok, Some(Type::String))
}

/// `future<result<_, string>>`: how an operation on a stream ended.
pub(super) fn status_type() -> Type {
    Type::future(Some(fallible(None)))
}

/// The result of a stream function at `version`: `result<tuple<stream<T>,
/// future<result<_, string>>>, string>` at 0.2.0, `result<stream<T>, string>` at 0.1.0.
pub(super) fn streamed(element: Type) -> impl Fn(Version) -> Vec<Type> {
    move |version| {
        let stream = Type::stream(element.clone());
        vec![fallible(Some(match version {
            Version::V0_2 => Type::Tuple(vec![stream, status_type()]),
            Version::V0_1 => stream,
        }))]
    }
}

/// The calls of one invocation: the link name and trace it follows.
pub(super) struct Remote<'a> {
    pub(super) router: &'a Router,
    pub(super) link_name: String,
    pub(super) trace: TraceContext,
}

impl Remote<'_> {
    /// Calls `func` with `params`: at 0.2.0, and at 0.1.0 when nothing serves 0.2.0.
    /// Returns once a server accepted the call, with the version it serves.
    pub(super) async fn invoke(
        &self,
        func: &str,
        params: &[Value],
        param_types: &[Type],
    ) -> wasmtime::Result<(Version, Invocation)> {
        let target = self
            .router
            .target(LINK, &self.link_name)
            .map_err(|e| wasmtime::format_err!("{e}"))?;
        let body = encode_params(params, param_types)?;
        let mut last = None;
        for (instance, version) in INSTANCES {
            let call = Call {
                link: LINK,
                link_name: &self.link_name,
                trace: &self.trace,
                instance,
                func,
            };
            match self.router.invoke(&target, &call, body.clone()).await {
                Ok(invocation) => return Ok((version, invocation)),
                Err(e) if matches!(e.kind(), InvokeErrorKind::NotFound) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(wasmtime::format_err!(
            "nothing serves wrpc:blobstore/blobstore (0.2.0 or 0.1.0) for `{target}`: {}",
            last.map(|e| e.to_string()).unwrap_or_default()
        ))
    }

    /// [`invoke`](Self::invoke), then its results (typed `results` at the version that
    /// answered).
    pub(super) async fn call(
        &self,
        func: &str,
        params: &[Value],
        param_types: &[Type],
        results: impl Fn(Version) -> Vec<Type>,
    ) -> wasmtime::Result<(Version, Vec<Value>, Invocation)> {
        let (version, mut invocation) = self.invoke(func, params, param_types).await?;
        let values = invocation.read_results(&results(version)).await?;
        Ok((version, values, invocation))
    }

    /// A call whose results are the same at every version.
    pub(super) async fn call_plain(
        &self,
        func: &str,
        params: &[Value],
        param_types: &[Type],
        result: Type,
    ) -> wasmtime::Result<Value> {
        let (_, values, _) = self
            .call(func, params, param_types, |_| vec![result.clone()])
            .await?;
        values
            .into_iter()
            .next()
            .ok_or_else(|| wasmtime::format_err!("`{func}` returned nothing"))
    }
}

/// `result<T, string>` → the `ok` payload or the error text.
pub(super) fn split_result(value: Value) -> Result<Option<Value>, String> {
    match value {
        Value::Result(Ok(payload)) => Ok(payload.map(|v| *v)),
        Value::Result(Err(Some(error))) => Err(match *error {
            Value::String(text) => text,
            other => format!("{other:?}"),
        }),
        Value::Result(Err(None)) => Err("the provider failed without a reason".into()),
        other => Err(format!("a result was expected, got {other:?}")),
    }
}

/// A `u64` field of a record value.
pub(super) fn u64_field(record: &Option<Value>, index: usize) -> u64 {
    match record {
        Some(Value::Record(fields)) => match fields.get(index) {
            Some(Value::U64(n)) => *n,
            _ => 0,
        },
        _ => 0,
    }
}
