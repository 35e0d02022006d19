//! `wrpc:http@0.1.0` on the wire: the types of `outgoing-handler.handle` and
//! `incoming-handler.handle`, and the conversions between them and `http` / `wasi:http`
//! values.
//!
//! ```wit
//! type fields = list<tuple<string, list<list<u8>>>>;
//! record request-options { connect-timeout: option<duration>, first-byte-timeout: option<duration>,
//!                          between-bytes-timeout: option<duration> }
//! record request { body: stream<u8>, trailers: future<option<fields>>, method: method,
//!                  path-with-query: option<string>, scheme: option<scheme>,
//!                  authority: option<string>, headers: fields }
//! record response { body: stream<u8>, trailers: future<option<fields>>, status: u16, headers: fields }
//! // outgoing-handler
//! handle: func(request: request, options: option<request-options>) -> result<response, error-code>;
//! // incoming-handler
//! handle: func(request: request) -> result<response, error-code>;
//! ```
//!
//! `method`, `scheme` and `error-code` are `wasi:http/types@0.2.0`'s; `duration` is
//! nanoseconds (`u64`). The body and trailers of a request are parameter paths `[0, 0]`
//! and `[0, 1]`; those of a response, result paths `[0, 0]` and `[0, 1]`.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lattice_runtime::http::{ErrorCode, RequestOptions};

pub(crate) use super::error_code::error_result;
use super::error_code::{error_code_of, error_code_type};
use lattice_wrpc::value::{Async, Type, Value};

/// The instances and the function called.
pub(crate) const OUTGOING_HANDLER: &str = "wrpc:http/outgoing-handler@0.1.0";
pub(crate) const INCOMING_HANDLER: &str = "wrpc:http/incoming-handler@0.1.0";
pub(crate) const HANDLE: &str = "handle";

/// Where the body and trailers of the request (a parameter) or the response (a result)
/// travel when they are pending.
pub(crate) const BODY_PATH: [u32; 2] = [0, 0];
pub(crate) const TRAILERS_PATH: [u32; 2] = [0, 1];

/// `fields`.
pub(crate) fn fields_type() -> Type {
    Type::list(Type::Tuple(vec![
        Type::String,
        Type::list(Type::list(Type::U8)),
    ]))
}

/// `future<option<fields>>`'s payload.
pub(crate) fn trailers_type() -> Type {
    Type::option(fields_type())
}

fn method_type() -> Type {
    Type::variant([
        ("get", None),
        ("head", None),
        ("post", None),
        ("put", None),
        ("delete", None),
        ("connect", None),
        ("options", None),
        ("trace", None),
        ("patch", None),
        ("other", Some(Type::String)),
    ])
}

fn scheme_type() -> Type {
    Type::variant([
        ("HTTP", None),
        ("HTTPS", None),
        ("other", Some(Type::String)),
    ])
}

fn request_options_type() -> Type {
    Type::record([
        ("connect-timeout", Type::option(Type::U64)),
        ("first-byte-timeout", Type::option(Type::U64)),
        ("between-bytes-timeout", Type::option(Type::U64)),
    ])
}

fn request_type() -> Type {
    Type::record([
        ("body", Type::stream(Type::U8)),
        ("trailers", Type::future(Some(trailers_type()))),
        ("method", method_type()),
        ("path-with-query", Type::option(Type::String)),
        ("scheme", Type::option(scheme_type())),
        ("authority", Type::option(Type::String)),
        ("headers", fields_type()),
    ])
}

fn response_type() -> Type {
    Type::record([
        ("body", Type::stream(Type::U8)),
        ("trailers", Type::future(Some(trailers_type()))),
        ("status", Type::U16),
        ("headers", fields_type()),
    ])
}

/// The parameter types of `outgoing-handler.handle`.
pub(crate) fn outgoing_params() -> [Type; 2] {
    [request_type(), Type::option(request_options_type())]
}

/// The parameter types of `incoming-handler.handle`.
pub(crate) fn incoming_params() -> [Type; 1] {
    [request_type()]
}

/// The result types of both `handle`s.
pub(crate) fn handle_results() -> [Type; 1] {
    [Type::result(Some(response_type()), Some(error_code_type()))]
}

/// Why a value is not what the wire promised.
#[derive(Debug, thiserror::Error)]
#[error("malformed wrpc:http value: {0}")]
pub(crate) struct Malformed(pub(crate) String);

pub(super) fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

pub(super) fn some<T: Into<Value>>(value: Option<T>) -> Value {
    Value::Option(value.map(|v| Box::new(v.into())))
}

pub(super) fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// The payload of an `option<_>`.
pub(super) fn opt(value: &Value) -> Result<Option<&Value>, Malformed> {
    match value {
        Value::Option(v) => Ok(v.as_deref()),
        _ => Err(malformed("expected an option")),
    }
}

/// An `option<string>`.
pub(super) fn opt_string(value: &Value) -> Result<Option<String>, Malformed> {
    match opt(value)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed("expected option<string>")),
    }
}

/// `fields` of a header map: one entry per name, its values in order.
pub(crate) fn fields(headers: &HeaderMap) -> Value {
    Value::List(
        headers
            .keys()
            .map(|name| {
                let values = headers
                    .get_all(name)
                    .iter()
                    .map(|v| Value::Bytes(Bytes::copy_from_slice(v.as_bytes())))
                    .collect();
                Value::Tuple(vec![string(name.as_str()), Value::List(values)])
            })
            .collect(),
    )
}

/// The bytes of a `list<u8>` value, in either form the decoder gives.
pub(super) fn bytes_of(value: &Value) -> Option<Bytes> {
    match value {
        Value::Bytes(b) => Some(b.clone()),
        Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::U8(b) => Some(*b),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .map(Bytes::from),
        _ => None,
    }
}

/// A header map of `fields`.
pub(crate) fn header_map(value: &Value) -> Result<HeaderMap, Malformed> {
    let Value::List(entries) = value else {
        return Err(malformed("fields is not a list"));
    };
    let mut headers = HeaderMap::new();
    for entry in entries {
        let Value::Tuple(pair) = entry else {
            return Err(malformed("a field is not a tuple"));
        };
        let (Some(Value::String(name)), Some(Value::List(values))) = (pair.first(), pair.get(1))
        else {
            return Err(malformed("a field is not (string, list<list<u8>>)"));
        };
        let name = HeaderName::try_from(name.as_str())
            .map_err(|e| malformed(format!("header name {name:?}: {e}")))?;
        for value in values {
            let bytes = bytes_of(value).ok_or_else(|| malformed("a field value is not bytes"))?;
            let value = HeaderValue::from_maybe_shared(bytes)
                .map_err(|e| malformed(format!("header {name}: {e}")))?;
            headers.append(name.clone(), value);
        }
    }
    Ok(headers)
}

/// `option<fields>` of trailers.
pub(crate) fn trailers(trailers: Option<&HeaderMap>) -> Value {
    Value::Option(trailers.map(|t| Box::new(fields(t))))
}

/// Trailers of a decoded `option<fields>`.
pub(crate) fn trailers_of(value: &Value) -> Result<Option<HeaderMap>, Malformed> {
    match value {
        Value::Option(None) => Ok(None),
        Value::Option(Some(fields)) => header_map(fields).map(Some),
        _ => Err(malformed("trailers are not option<fields>")),
    }
}

const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

fn method(method: &Method) -> Value {
    match METHODS.iter().position(|m| m == method) {
        Some(case) => Value::Variant {
            case: case as u32,
            payload: None,
        },
        None => Value::Variant {
            case: 9,
            payload: Some(Box::new(string(method.as_str()))),
        },
    }
}

fn method_of(value: &Value) -> Result<Method, Malformed> {
    match value {
        Value::Variant { case, payload } => match (METHODS.get(*case as usize), payload) {
            (Some(m), None) => Ok(m.clone()),
            (None, Some(other)) if *case == 9 => match other.as_ref() {
                Value::String(s) => {
                    Method::from_bytes(s.as_bytes()).map_err(|e| malformed(format!("method: {e}")))
                }
                _ => Err(malformed("method other is not a string")),
            },
            _ => Err(malformed(format!("method case {case}"))),
        },
        _ => Err(malformed("method is not a variant")),
    }
}

fn scheme(scheme: &http::uri::Scheme) -> Value {
    if *scheme == http::uri::Scheme::HTTP {
        Value::Variant {
            case: 0,
            payload: None,
        }
    } else if *scheme == http::uri::Scheme::HTTPS {
        Value::Variant {
            case: 1,
            payload: None,
        }
    } else {
        Value::Variant {
            case: 2,
            payload: Some(Box::new(string(scheme.as_str()))),
        }
    }
}

fn scheme_of(value: &Value) -> Result<http::uri::Scheme, Malformed> {
    match value {
        Value::Variant { case: 0, .. } => Ok(http::uri::Scheme::HTTP),
        Value::Variant { case: 1, .. } => Ok(http::uri::Scheme::HTTPS),
        Value::Variant {
            case: 2,
            payload: Some(other),
        } => match other.as_ref() {
            Value::String(s) => s
                .parse()
                .map_err(|e| malformed(format!("scheme {s:?}: {e}"))),
            _ => Err(malformed("scheme other is not a string")),
        },
        _ => Err(malformed("scheme is not HTTP, HTTPS or other")),
    }
}

fn duration(d: Option<Duration>) -> Value {
    some(d.map(|d| Value::U64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))))
}

fn duration_of(value: Option<&Value>) -> Option<Duration> {
    match value? {
        Value::Option(Some(v)) => match v.as_ref() {
            Value::U64(n) => Some(Duration::from_nanos(*n)),
            _ => None,
        },
        _ => None,
    }
}

/// `option<request-options>`.
pub(crate) fn options(options: Option<&RequestOptions>) -> Value {
    Value::Option(options.map(|o| {
        Box::new(Value::Record(vec![
            duration(o.connect_timeout),
            duration(o.first_byte_timeout),
            duration(o.between_bytes_timeout),
        ]))
    }))
}

/// Request options of a decoded `option<request-options>`.
pub(crate) fn options_of(value: &Value) -> Option<RequestOptions> {
    let Value::Option(Some(record)) = value else {
        return None;
    };
    let Value::Record(fields) = record.as_ref() else {
        return None;
    };
    Some(RequestOptions {
        connect_timeout: duration_of(fields.first()),
        first_byte_timeout: duration_of(fields.get(1)),
        between_bytes_timeout: duration_of(fields.get(2)),
    })
}

/// The synchronous part of a request (body and trailers pending).
pub(crate) fn request_head(parts: &http::request::Parts) -> Value {
    let uri = &parts.uri;
    Value::Record(vec![
        Value::Stream(Async::Pending),
        Value::Future(Async::Pending),
        method(&parts.method),
        some(uri.path_and_query().map(|p| string(p.as_str()))),
        some(uri.scheme().map(scheme)),
        some(uri.authority().map(|a| string(a.as_str()))),
        fields(&parts.headers),
    ])
}

/// A request's body and trailers as they came: inline, or pending on their paths.
#[derive(Debug)]
pub(crate) enum Inline<T> {
    Pending,
    Ready(T),
}

/// A decoded request head, its body and trailers inline or pending.
pub(crate) struct RequestHead {
    pub(crate) parts: http::request::Parts,
    pub(crate) body: Inline<Bytes>,
    pub(crate) trailers: Inline<Option<HeaderMap>>,
}

fn stream_of(value: Option<&Value>) -> Result<Inline<Bytes>, Malformed> {
    match value {
        Some(Value::Stream(Async::Pending)) => Ok(Inline::Pending),
        Some(Value::Stream(Async::Ready(list))) => bytes_of(list)
            .map(Inline::Ready)
            .ok_or_else(|| malformed("body is not bytes")),
        _ => Err(malformed("body is not a stream")),
    }
}

fn future_trailers_of(value: Option<&Value>) -> Result<Inline<Option<HeaderMap>>, Malformed> {
    match value {
        Some(Value::Future(Async::Pending)) => Ok(Inline::Pending),
        Some(Value::Future(Async::Ready(Some(v)))) => trailers_of(v).map(Inline::Ready),
        _ => Err(malformed("trailers are not future<option<fields>>")),
    }
}

/// A request of its decoded head. Without a scheme it is `https` (as 1.9.2's client
/// takes it); without a path, `/`.
pub(crate) fn request_head_of(value: &Value) -> Result<RequestHead, Malformed> {
    let Value::Record(f) = value else {
        return Err(malformed("request is not a record"));
    };
    if f.len() != 7 {
        return Err(malformed("request has the wrong number of fields"));
    }
    let scheme = match &f[4] {
        Value::Option(Some(s)) => scheme_of(s)?,
        _ => http::uri::Scheme::HTTPS,
    };
    let authority = opt_string(&f[5])?.ok_or_else(|| malformed("request has no authority"))?;
    let path = opt_string(&f[3])?.unwrap_or_else(|| "/".into());
    let uri = http::Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path)
        .build()
        .map_err(|e| malformed(format!("URI: {e}")))?;
    let mut request = http::Request::builder()
        .method(method_of(&f[2])?)
        .uri(uri)
        .body(())
        .map_err(|e| malformed(e.to_string()))?;
    *request.headers_mut() = header_map(&f[6])?;
    let (parts, ()) = request.into_parts();
    Ok(RequestHead {
        parts,
        body: stream_of(f.first())?,
        trailers: future_trailers_of(f.get(1))?,
    })
}

/// The synchronous part of an `ok` response (body and trailers pending).
pub(crate) fn response_head(parts: &http::response::Parts) -> Value {
    Value::Result(Ok(Some(Box::new(Value::Record(vec![
        Value::Stream(Async::Pending),
        Value::Future(Async::Pending),
        Value::U16(parts.status.as_u16()),
        fields(&parts.headers),
    ])))))
}

/// A decoded response head, its body and trailers inline or pending.
pub(crate) struct ResponseHead {
    pub(crate) parts: http::response::Parts,
    pub(crate) body: Inline<Bytes>,
    pub(crate) trailers: Inline<Option<HeaderMap>>,
}

/// The response, or the error code, of a decoded `result<response, error-code>`.
pub(crate) fn response_head_of(
    value: &Value,
) -> Result<Result<ResponseHead, ErrorCode>, Malformed> {
    match value {
        Value::Result(Err(Some(code))) => Ok(Err(error_code_of(code)?)),
        Value::Result(Ok(Some(response))) => {
            let Value::Record(f) = response.as_ref() else {
                return Err(malformed("response is not a record"));
            };
            let (Some(Value::U16(status)), Some(headers)) = (f.get(2), f.get(3)) else {
                return Err(malformed("response has no status and headers"));
            };
            let mut response = http::Response::builder()
                .status(*status)
                .body(())
                .map_err(|e| malformed(format!("status {status}: {e}")))?;
            *response.headers_mut() = header_map(headers)?;
            let (parts, ()) = response.into_parts();
            Ok(Ok(ResponseHead {
                parts,
                body: stream_of(f.first())?,
                trailers: future_trailers_of(f.get(1))?,
            }))
        }
        _ => Err(malformed("not result<response, error-code>")),
    }
}

/// `value` encoded as `ty` and decoded again (the tests of this module and its siblings).
#[cfg(test)]
pub(super) fn round_trip(value: &Value, ty: &Type) -> Value {
    let mut buf = bytes::BytesMut::new();
    lattice_wrpc::value::encode(value, ty, &mut buf).expect("encodes");
    lattice_wrpc::value::decode(ty, &mut buf).expect("decodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_survives_the_wire() {
        let (mut parts, ()) = http::Request::builder()
            .method("PROPFIND")
            .uri("http://example.com:8080/a/b?c=d")
            .body(())
            .unwrap()
            .into_parts();
        parts.headers.append("x-many", "1".parse().unwrap());
        parts.headers.append("x-many", "2".parse().unwrap());
        let [request_ty, _] = outgoing_params();
        let wire = round_trip(&request_head(&parts), &request_ty);
        let head = request_head_of(&wire).expect("a request");
        assert_eq!(head.parts.method.as_str(), "PROPFIND");
        assert_eq!(head.parts.uri, "http://example.com:8080/a/b?c=d");
        let many: Vec<_> = head.parts.headers.get_all("x-many").iter().collect();
        assert_eq!(many, ["1", "2"]);
        assert!(matches!(head.body, Inline::Pending));
        assert!(matches!(head.trailers, Inline::Pending));
    }

    #[test]
    fn options_and_a_response_survive_the_wire() {
        let sent = RequestOptions {
            connect_timeout: Some(Duration::from_millis(1500)),
            first_byte_timeout: None,
            between_bytes_timeout: Some(Duration::from_secs(2)),
        };
        let [_, options_ty] = outgoing_params();
        let back = options_of(&round_trip(&options(Some(&sent)), &options_ty));
        assert_eq!(back, Some(sent));
        assert_eq!(options_of(&round_trip(&options(None), &options_ty)), None);

        let (parts, ()) = http::Response::builder()
            .status(418)
            .header("content-type", "text/plain")
            .body(())
            .unwrap()
            .into_parts();
        let [result_ty] = handle_results();
        let wire = round_trip(&response_head(&parts), &result_ty);
        let head = response_head_of(&wire).unwrap().expect("a response");
        assert_eq!(head.parts.status, 418);
        assert_eq!(head.parts.headers["content-type"], "text/plain");
        let error = round_trip(&error_result(ErrorCode::HttpRequestDenied), &result_ty);
        assert!(matches!(
            response_head_of(&error).unwrap(),
            Err(ErrorCode::HttpRequestDenied)
        ));
    }
}
