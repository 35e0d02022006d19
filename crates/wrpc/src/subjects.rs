//! Every wRPC subject, built and parsed in one place (spec §16.3, wRPC `SPEC.md` "NATS.io").
//!
//! | subject | who publishes | what |
//! |---|---|---|
//! | `{lattice}.{target_id}.wrpc.0.0.1.{instance}.{func}` | client | the call: (the first part of) the encoded parameters, reply `R_c` |
//! | `R_c` = `{client inbox}.{token}` | server | the empty *accept*, reply `R_s` |
//! | `R_s.params` = `{server inbox}.{token}.params` | client | the rest of the parameters, then an empty message |
//! | `R_s.params.{i}.{j}…` | client | the contents of a pending async parameter, then an empty message |
//! | `R_c.results` | server | the encoded results, then an empty message |
//! | `R_c.results.{i}.{j}…` | server | the contents of a pending async result, then an empty message |
//!
//! Root functions (no instance) drop the instance part. Servers queue-subscribe the call
//! subject with the group `{lattice}.{target_id}` (the subject prefix). Every inbox
//! subject of one [`WrpcClient`](crate::WrpcClient) lies under `{client inbox}.>`, one
//! subscription shared by all its calls, told apart by `{token}`.

use std::fmt;

/// The protocol part of every call subject.
pub const PROTOCOL: &str = "wrpc.0.0.1";

/// What precedes `wrpc.0.0.1` in a call subject: `{lattice}.{target_id}` for wasmCloud
/// components and providers. It is also the servers' queue group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SubjectPrefix(String);

impl SubjectPrefix {
    /// `{lattice}.{target_id}`, as wasmCloud addresses a component or provider.
    pub fn target(lattice: &str, target_id: &str) -> Self {
        SubjectPrefix(format!("{lattice}.{target_id}"))
    }

    /// Any other prefix, as given (`""` for none).
    pub fn custom(prefix: impl Into<String>) -> Self {
        SubjectPrefix(prefix.into())
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The queue group servers of this prefix share.
    pub fn queue_group(&self) -> &str {
        &self.0
    }
}

/// The subject of calls to one function: `{prefix}.wrpc.0.0.1.{instance}.{func}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvocationSubject {
    /// Who serves it
    pub prefix: SubjectPrefix,
    /// The WIT instance with its version (`wasi:keyvalue/store@0.2.0-draft`), `""` for a
    /// root function
    pub instance: String,
    /// The function name (for a resource constructor, the resource name)
    pub func: String,
}

impl InvocationSubject {
    /// The call subject of `func` in `instance` served under `prefix`.
    pub fn new(
        prefix: SubjectPrefix,
        instance: impl Into<String>,
        func: impl Into<String>,
    ) -> Self {
        InvocationSubject {
            prefix,
            instance: instance.into(),
            func: func.into(),
        }
    }

    /// Parses a call subject under `prefix`: the instance may contain dots (its version),
    /// the function is the last token.
    pub fn parse(prefix: &SubjectPrefix, subject: &str) -> Option<Self> {
        let rest = if prefix.as_str().is_empty() {
            subject
        } else {
            subject.strip_prefix(prefix.as_str())?.strip_prefix('.')?
        };
        let rest = rest.strip_prefix(PROTOCOL)?.strip_prefix('.')?;
        let (instance, func) = rest.rsplit_once('.').unwrap_or(("", rest));
        if func.is_empty() {
            return None;
        }
        Some(InvocationSubject::new(prefix.clone(), instance, func))
    }
}

impl fmt::Display for InvocationSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.prefix.as_str().is_empty() {
            write!(f, "{}.", self.prefix.as_str())?;
        }
        write!(f, "{PROTOCOL}.")?;
        if !self.instance.is_empty() {
            write!(f, "{}.", self.instance)?;
        }
        f.write_str(&self.func)
    }
}

/// One byte channel of a call, relative to its reply subject (`R_c` or `R_s`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Channel {
    /// `R_c` itself: the server's accept (or a NATS status such as "no responders").
    Accept,
    /// `R_c.results[.path]`
    Results(Vec<u32>),
    /// `R_s.params[.path]`
    Params(Vec<u32>),
}

impl Channel {
    /// The subject of this channel under the reply subject `base`.
    pub(crate) fn subject(&self, base: &str) -> String {
        let (name, path) = match self {
            Channel::Accept => return base.to_owned(),
            Channel::Results(path) => ("results", path),
            Channel::Params(path) => ("params", path),
        };
        let mut s = format!("{base}.{name}");
        for i in path {
            s.push('.');
            s.push_str(&i.to_string());
        }
        s
    }

    /// Parses what follows `{token}` in an inbox subject (`""`, `.results.0`, …).
    fn parse(rest: &str) -> Option<Self> {
        if rest.is_empty() {
            return Some(Channel::Accept);
        }
        let mut tokens = rest.strip_prefix('.')?.split('.');
        let name = tokens.next()?;
        let path = tokens
            .map(|t| t.parse().ok())
            .collect::<Option<Vec<u32>>>()?;
        match name {
            "results" => Some(Channel::Results(path)),
            "params" => Some(Channel::Params(path)),
            _ => None,
        }
    }
}

/// A client's inbox prefix: every reply subject it hands out is `{inbox}.{token}`.
#[derive(Clone, Debug)]
pub(crate) struct Inbox(String);

impl Inbox {
    pub(crate) fn new(prefix: String) -> Self {
        Inbox(prefix)
    }

    /// What the client subscribes to: `{inbox}.>`.
    pub(crate) fn wildcard(&self) -> String {
        format!("{}.>", self.0)
    }

    /// A fresh reply subject `{inbox}.{token}` and its token.
    pub(crate) fn reply(&self) -> (String, String) {
        let token = nuid::next().to_string();
        (format!("{}.{token}", self.0), token)
    }

    /// Splits an incoming inbox subject into its call token and channel.
    pub(crate) fn parse<'s>(&self, subject: &'s str) -> Option<(&'s str, Channel)> {
        let rest = subject.strip_prefix(self.0.as_str())?.strip_prefix('.')?;
        let (token, channel) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
        if token.is_empty() {
            return None;
        }
        Some((token, Channel::parse(channel)?))
    }
}

/// The name a function goes by on the wire: a resource's `[constructor]R`,
/// `[method]R.f` and `[static]R.f` drop their bracket (`R`, `R.f`), as in wRPC.
pub fn wire_func_name(name: &str) -> &str {
    ["[constructor]", "[method]", "[static]"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn resource_functions_drop_their_bracket_on_the_wire() {
        use super::wire_func_name;
        assert_eq!(wire_func_name("[constructor]counter"), "counter");
        assert_eq!(
            wire_func_name("[method]counter.increment"),
            "counter.increment"
        );
        assert_eq!(wire_func_name("[static]counter.total"), "counter.total");
        assert_eq!(wire_func_name("add"), "add");
    }

    use super::*;

    #[test]
    fn call_subjects_round_trip() {
        let prefix = SubjectPrefix::target("default", "adder");
        let s = InvocationSubject::new(prefix.clone(), "local:test/math@0.1.0", "add");
        assert_eq!(
            s.to_string(),
            "default.adder.wrpc.0.0.1.local:test/math@0.1.0.add"
        );
        assert_eq!(InvocationSubject::parse(&prefix, &s.to_string()), Some(s));
        let root = InvocationSubject::new(prefix.clone(), "", "run");
        assert_eq!(root.to_string(), "default.adder.wrpc.0.0.1.run");
        assert_eq!(
            InvocationSubject::parse(&prefix, "default.adder.wrpc.0.0.1.run"),
            Some(root)
        );
        assert_eq!(
            InvocationSubject::parse(&prefix, "default.other.wrpc.0.0.1.run"),
            None
        );
        assert_eq!(prefix.queue_group(), "default.adder");
        let bare =
            InvocationSubject::new(SubjectPrefix::custom(""), "wasi:http/types@0.2.0", "fields");
        assert_eq!(bare.to_string(), "wrpc.0.0.1.wasi:http/types@0.2.0.fields");
    }

    #[test]
    fn inbox_subjects_round_trip() {
        let inbox = Inbox::new("_INBOX.abc".into());
        assert_eq!(inbox.wildcard(), "_INBOX.abc.>");
        let (reply, token) = inbox.reply();
        for channel in [
            Channel::Accept,
            Channel::Results(vec![]),
            Channel::Results(vec![0, 12]),
            Channel::Params(vec![]),
            Channel::Params(vec![3]),
        ] {
            let subject = channel.subject(&reply);
            assert_eq!(inbox.parse(&subject), Some((token.as_str(), channel)));
        }
        assert_eq!(Channel::Params(vec![0, 1]).subject("R"), "R.params.0.1");
        assert_eq!(inbox.parse("_INBOX.abc.t.errors"), None);
        assert_eq!(inbox.parse("_INBOX.abc.t.results.x"), None);
        assert_eq!(inbox.parse("_INBOX.other.t"), None);
    }
}
