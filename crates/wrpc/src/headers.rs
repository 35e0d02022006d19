//! The NATS headers a wRPC call carries: wasmCloud's `source-id` and `link-name` and the
//! W3C trace context (`traceparent`, `tracestate`). Every other header passes through.
//! One header travels back: lattice's [`FAILURE`].

use async_nats::HeaderMap;

/// `source-id`: the calling component or provider.
pub const SOURCE_ID: &str = "source-id";
/// `link-name`: the link the call goes over.
pub const LINK_NAME: &str = "link-name";
/// W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";
/// `lattice-error` (a lattice extension): on the empty message that closes a call's
/// results without a value, why the call failed. Clients that do not know it (wRPC's own)
/// see the plain close they would see from 1.9.2.
pub const FAILURE: &str = "lattice-error";

/// The headers of one call.
///
/// ```
/// use lattice_wrpc::InvocationHeaders;
/// let h = InvocationHeaders::new().with_source_id("hello").with_link_name("default");
/// assert_eq!(h.source_id(), Some("hello"));
/// assert_eq!(h.traceparent(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvocationHeaders(HeaderMap);

impl InvocationHeaders {
    /// No headers.
    pub fn new() -> Self {
        InvocationHeaders::default()
    }

    /// Sets `source-id`.
    pub fn with_source_id(self, id: &str) -> Self {
        self.with(SOURCE_ID, id)
    }

    /// Sets `link-name`.
    pub fn with_link_name(self, name: &str) -> Self {
        self.with(LINK_NAME, name)
    }

    /// Sets `traceparent`.
    pub fn with_traceparent(self, traceparent: &str) -> Self {
        self.with(TRACEPARENT, traceparent)
    }

    /// Sets any header.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name, value);
        self
    }

    /// `source-id`, if sent.
    pub fn source_id(&self) -> Option<&str> {
        self.get(SOURCE_ID)
    }

    /// `link-name`, if sent.
    pub fn link_name(&self) -> Option<&str> {
        self.get(LINK_NAME)
    }

    /// `traceparent`, if sent.
    pub fn traceparent(&self) -> Option<&str> {
        self.get(TRACEPARENT)
    }

    /// `tracestate`, if sent.
    pub fn tracestate(&self) -> Option<&str> {
        self.get(TRACESTATE)
    }

    /// Any header's first value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str())
    }

    /// All headers.
    pub fn as_map(&self) -> &HeaderMap {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes the headers take in a message (`NATS/1.0\r\n`, `k: v\r\n` each, `\r\n`),
    /// which count against the server's `max_payload`.
    pub(crate) fn wire_len(&self) -> usize {
        if self.0.is_empty() {
            return 0;
        }
        let mut len = b"NATS/1.0\r\n".len() + 2;
        for (name, values) in self.0.iter() {
            let name: &str = name.as_ref();
            for v in values {
                len += name.len() + 2 + v.as_str().len() + 2;
            }
        }
        len
    }
}

impl From<HeaderMap> for InvocationHeaders {
    fn from(map: HeaderMap) -> Self {
        InvocationHeaders(map)
    }
}

impl From<InvocationHeaders> for HeaderMap {
    fn from(h: InvocationHeaders) -> Self {
        h.0
    }
}
