//! `wasi:http/types@0.2.0.error-code` on the wire (`wrpc:http` uses it as is), to and
//! from `wasi:http`'s error codes.

use lattice_runtime::http::{
    DnsErrorPayload, ErrorCode, FieldSizePayload, TlsAlertReceivedPayload,
};
use lattice_wrpc::value::{Type, Value};

use super::wire::{Malformed, malformed, opt, opt_string, some, string};

fn field_size_type() -> Type {
    Type::record([
        ("field-name", Type::option(Type::String)),
        ("field-size", Type::option(Type::U32)),
    ])
}

/// `wasi:http/types@0.2.0.error-code`, its cases in declaration order.
pub(crate) fn error_code_type() -> Type {
    let opt = Type::option;
    Type::variant([
        ("DNS-timeout", None),
        (
            "DNS-error",
            Some(Type::record([
                ("rcode", opt(Type::String)),
                ("info-code", opt(Type::U16)),
            ])),
        ),
        ("destination-not-found", None),
        ("destination-unavailable", None),
        ("destination-IP-prohibited", None),
        ("destination-IP-unroutable", None),
        ("connection-refused", None),
        ("connection-terminated", None),
        ("connection-timeout", None),
        ("connection-read-timeout", None),
        ("connection-write-timeout", None),
        ("connection-limit-reached", None),
        ("TLS-protocol-error", None),
        ("TLS-certificate-error", None),
        (
            "TLS-alert-received",
            Some(Type::record([
                ("alert-id", opt(Type::U8)),
                ("alert-message", opt(Type::String)),
            ])),
        ),
        ("HTTP-request-denied", None),
        ("HTTP-request-length-required", None),
        ("HTTP-request-body-size", Some(opt(Type::U64))),
        ("HTTP-request-method-invalid", None),
        ("HTTP-request-URI-invalid", None),
        ("HTTP-request-URI-too-long", None),
        ("HTTP-request-header-section-size", Some(opt(Type::U32))),
        ("HTTP-request-header-size", Some(opt(field_size_type()))),
        ("HTTP-request-trailer-section-size", Some(opt(Type::U32))),
        ("HTTP-request-trailer-size", Some(field_size_type())),
        ("HTTP-response-incomplete", None),
        ("HTTP-response-header-section-size", Some(opt(Type::U32))),
        ("HTTP-response-header-size", Some(field_size_type())),
        ("HTTP-response-body-size", Some(opt(Type::U64))),
        ("HTTP-response-trailer-section-size", Some(opt(Type::U32))),
        ("HTTP-response-trailer-size", Some(field_size_type())),
        ("HTTP-response-transfer-coding", Some(opt(Type::String))),
        ("HTTP-response-content-coding", Some(opt(Type::String))),
        ("HTTP-response-timeout", None),
        ("HTTP-upgrade-failed", None),
        ("HTTP-protocol-error", None),
        ("loop-detected", None),
        ("configuration-error", None),
        ("internal-error", Some(opt(Type::String))),
    ])
}

fn case(case: u32) -> Value {
    Value::Variant {
        case,
        payload: None,
    }
}

fn with(case: u32, payload: Value) -> Value {
    Value::Variant {
        case,
        payload: Some(Box::new(payload)),
    }
}

fn field_size(p: FieldSizePayload) -> Value {
    Value::Record(vec![
        some(p.field_name.map(string)),
        some(p.field_size.map(Value::U32)),
    ])
}

/// An `error` result.
pub(crate) fn error_result(code: ErrorCode) -> Value {
    Value::Result(Err(Some(Box::new(error_code(code)))))
}

/// `error-code` of a `wasi:http` error code.
pub(crate) fn error_code(code: ErrorCode) -> Value {
    use ErrorCode as E;
    let u32s = |v: Option<u32>| some(v.map(Value::U32));
    let u64s = |v: Option<u64>| some(v.map(Value::U64));
    let strings = |v: Option<String>| some(v.map(string));
    match code {
        E::DnsTimeout => case(0),
        E::DnsError(p) => with(
            1,
            Value::Record(vec![strings(p.rcode), some(p.info_code.map(Value::U16))]),
        ),
        E::DestinationNotFound => case(2),
        E::DestinationUnavailable => case(3),
        E::DestinationIpProhibited => case(4),
        E::DestinationIpUnroutable => case(5),
        E::ConnectionRefused => case(6),
        E::ConnectionTerminated => case(7),
        E::ConnectionTimeout => case(8),
        E::ConnectionReadTimeout => case(9),
        E::ConnectionWriteTimeout => case(10),
        E::ConnectionLimitReached => case(11),
        E::TlsProtocolError => case(12),
        E::TlsCertificateError => case(13),
        E::TlsAlertReceived(p) => with(
            14,
            Value::Record(vec![
                some(p.alert_id.map(Value::U8)),
                strings(p.alert_message),
            ]),
        ),
        E::HttpRequestDenied => case(15),
        E::HttpRequestLengthRequired => case(16),
        E::HttpRequestBodySize(n) => with(17, u64s(n)),
        E::HttpRequestMethodInvalid => case(18),
        E::HttpRequestUriInvalid => case(19),
        E::HttpRequestUriTooLong => case(20),
        E::HttpRequestHeaderSectionSize(n) => with(21, u32s(n)),
        E::HttpRequestHeaderSize(p) => with(22, some(p.map(field_size))),
        E::HttpRequestTrailerSectionSize(n) => with(23, u32s(n)),
        E::HttpRequestTrailerSize(p) => with(24, field_size(p)),
        E::HttpResponseIncomplete => case(25),
        E::HttpResponseHeaderSectionSize(n) => with(26, u32s(n)),
        E::HttpResponseHeaderSize(p) => with(27, field_size(p)),
        E::HttpResponseBodySize(n) => with(28, u64s(n)),
        E::HttpResponseTrailerSectionSize(n) => with(29, u32s(n)),
        E::HttpResponseTrailerSize(p) => with(30, field_size(p)),
        E::HttpResponseTransferCoding(s) => with(31, strings(s)),
        E::HttpResponseContentCoding(s) => with(32, strings(s)),
        E::HttpResponseTimeout => case(33),
        E::HttpUpgradeFailed => case(34),
        E::HttpProtocolError => case(35),
        E::LoopDetected => case(36),
        E::ConfigurationError => case(37),
        E::InternalError(s) => with(38, strings(s)),
    }
}

fn opt_u32(value: &Value) -> Result<Option<u32>, Malformed> {
    match opt(value)? {
        None => Ok(None),
        Some(Value::U32(n)) => Ok(Some(*n)),
        Some(_) => Err(malformed("expected option<u32>")),
    }
}

fn opt_u64(value: &Value) -> Result<Option<u64>, Malformed> {
    match opt(value)? {
        None => Ok(None),
        Some(Value::U64(n)) => Ok(Some(*n)),
        Some(_) => Err(malformed("expected option<u64>")),
    }
}

fn field_size_of(value: &Value) -> Result<FieldSizePayload, Malformed> {
    let Value::Record(f) = value else {
        return Err(malformed("field-size is not a record"));
    };
    let [name, size] = f.as_slice() else {
        return Err(malformed("field-size has the wrong number of fields"));
    };
    Ok(FieldSizePayload {
        field_name: opt_string(name)?,
        field_size: opt_u32(size)?,
    })
}

/// The `wasi:http` error code of a decoded `error-code`.
pub(crate) fn error_code_of(value: &Value) -> Result<ErrorCode, Malformed> {
    use ErrorCode as E;
    let Value::Variant { case, payload } = value else {
        return Err(malformed("error-code is not a variant"));
    };
    let payload = || {
        payload
            .as_deref()
            .ok_or_else(|| malformed(format!("error-code case {case} without its payload")))
    };
    let record = |v: &Value| -> Result<Vec<Value>, Malformed> {
        match v {
            Value::Record(f) if f.len() == 2 => Ok(f.clone()),
            _ => Err(malformed("expected a record of two fields")),
        }
    };
    Ok(match case {
        0 => E::DnsTimeout,
        1 => {
            let f = record(payload()?)?;
            E::DnsError(DnsErrorPayload {
                rcode: opt_string(&f[0])?,
                info_code: match opt(&f[1])? {
                    None => None,
                    Some(Value::U16(n)) => Some(*n),
                    Some(_) => return Err(malformed("info-code is not u16")),
                },
            })
        }
        2 => E::DestinationNotFound,
        3 => E::DestinationUnavailable,
        4 => E::DestinationIpProhibited,
        5 => E::DestinationIpUnroutable,
        6 => E::ConnectionRefused,
        7 => E::ConnectionTerminated,
        8 => E::ConnectionTimeout,
        9 => E::ConnectionReadTimeout,
        10 => E::ConnectionWriteTimeout,
        11 => E::ConnectionLimitReached,
        12 => E::TlsProtocolError,
        13 => E::TlsCertificateError,
        14 => {
            let f = record(payload()?)?;
            E::TlsAlertReceived(TlsAlertReceivedPayload {
                alert_id: match opt(&f[0])? {
                    None => None,
                    Some(Value::U8(n)) => Some(*n),
                    Some(_) => return Err(malformed("alert-id is not u8")),
                },
                alert_message: opt_string(&f[1])?,
            })
        }
        15 => E::HttpRequestDenied,
        16 => E::HttpRequestLengthRequired,
        17 => E::HttpRequestBodySize(opt_u64(payload()?)?),
        18 => E::HttpRequestMethodInvalid,
        19 => E::HttpRequestUriInvalid,
        20 => E::HttpRequestUriTooLong,
        21 => E::HttpRequestHeaderSectionSize(opt_u32(payload()?)?),
        22 => E::HttpRequestHeaderSize(match opt(payload()?)? {
            None => None,
            Some(p) => Some(field_size_of(p)?),
        }),
        23 => E::HttpRequestTrailerSectionSize(opt_u32(payload()?)?),
        24 => E::HttpRequestTrailerSize(field_size_of(payload()?)?),
        25 => E::HttpResponseIncomplete,
        26 => E::HttpResponseHeaderSectionSize(opt_u32(payload()?)?),
        27 => E::HttpResponseHeaderSize(field_size_of(payload()?)?),
        28 => E::HttpResponseBodySize(opt_u64(payload()?)?),
        29 => E::HttpResponseTrailerSectionSize(opt_u32(payload()?)?),
        30 => E::HttpResponseTrailerSize(field_size_of(payload()?)?),
        31 => E::HttpResponseTransferCoding(opt_string(payload()?)?),
        32 => E::HttpResponseContentCoding(opt_string(payload()?)?),
        33 => E::HttpResponseTimeout,
        34 => E::HttpUpgradeFailed,
        35 => E::HttpProtocolError,
        36 => E::LoopDetected,
        37 => E::ConfigurationError,
        38 => E::InternalError(opt_string(payload()?)?),
        other => return Err(malformed(format!("error-code case {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrpc_http::wire::round_trip;

    #[test]
    fn every_error_code_survives_the_wire() {
        let codes = [
            ErrorCode::DnsTimeout,
            ErrorCode::DnsError(DnsErrorPayload {
                rcode: Some("NXDOMAIN".into()),
                info_code: Some(3),
            }),
            ErrorCode::ConnectionRefused,
            ErrorCode::TlsAlertReceived(TlsAlertReceivedPayload {
                alert_id: Some(42),
                alert_message: None,
            }),
            ErrorCode::HttpRequestBodySize(Some(1 << 40)),
            ErrorCode::HttpRequestHeaderSize(None),
            ErrorCode::HttpRequestHeaderSize(Some(FieldSizePayload {
                field_name: Some("x".into()),
                field_size: Some(9),
            })),
            ErrorCode::HttpResponseTrailerSize(FieldSizePayload {
                field_name: None,
                field_size: None,
            }),
            ErrorCode::HttpResponseContentCoding(Some("br".into())),
            ErrorCode::ConfigurationError,
            ErrorCode::InternalError(Some("no link".into())),
        ];
        let ty = error_code_type();
        for code in codes {
            let wire = round_trip(&error_code(code.clone()), &ty);
            let back = error_code_of(&wire).expect("an error code");
            assert_eq!(format!("{back:?}"), format!("{code:?}"));
        }
        let Type::Variant(cases) = &ty else {
            unreachable!()
        };
        assert_eq!(cases.len(), 39, "wasi:http 0.2 has 39 error codes");
    }
}
