//! `lattice start component`, `lattice scale component`, `lattice stop component` and
//! `lattice call`: components through the control interface and wRPC.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::BytesMut;
use lattice_client::CtlClient;
use lattice_proto::ctl::{ComponentAuctionRequest, ScaleComponentCommand};
use lattice_proto::events::Event;
use lattice_proto::wit::{ExportedFunction, WitType};
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
use lattice_wrpc::value::{Case, Field, Type, Value, encode_tuple};
use lattice_wrpc::{InvocationHeaders, WrpcClient};
use serde_json::Value as Json;

use crate::args::{GlobalArgs, OutputFormat};
use crate::output;

/// What a scale asks for.
pub(crate) struct Scale {
    pub(crate) component_ref: String,
    pub(crate) component_id: String,
    pub(crate) count: u32,
    pub(crate) config: Vec<String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) host: Option<String>,
    pub(crate) constraints: BTreeMap<String, String>,
    pub(crate) wait_timeout: Duration,
}

/// What a start command sends: a reference with a scheme, or a registry reference
/// (`registry/repo:tag`, `…@sha256:…`), passes untouched; a path (one that exists, or
/// that starts with `/` or `.`) becomes an absolute `file://` reference.
pub(crate) fn reference(given: &str) -> anyhow::Result<String> {
    let looks_like_path = given.starts_with('/') || given.starts_with('.');
    if given.contains("://") || !(looks_like_path || std::path::Path::new(given).exists()) {
        return Ok(given.to_string());
    }
    let path =
        std::path::absolute(given).with_context(|| format!("cannot resolve the path {given}"))?;
    Ok(format!("file://{}", path.display()))
}

/// Scales a component and waits for `component_scaled` (or `component_scale_failed`),
/// showing what happens.
pub(crate) async fn scale(
    client: &CtlClient,
    global: &GlobalArgs,
    scale: Scale,
) -> anyhow::Result<()> {
    let text = matches!(global.output, OutputFormat::Text);
    let host_id = match (&scale.host, scale.count) {
        (Some(host), _) => host.clone(),
        (None, 0) => client
            .find_component_host(&scale.component_id)
            .await?
            .with_context(|| format!("no host runs component `{}`", scale.component_id))?,
        (None, _) => match client.find_component_host(&scale.component_id).await? {
            Some(host) => host,
            None => {
                let request = ComponentAuctionRequest {
                    component_ref: scale.component_ref.clone(),
                    component_id: scale.component_id.clone(),
                    constraints: scale.constraints.clone(),
                };
                client
                    .component_auction(&request)
                    .await?
                    .with_context(|| {
                        format!(
                            "no host bid for component `{}` ({}): check the constraints, and that a host can load the reference (file:// needs --allow-file-load)",
                            scale.component_id, scale.component_ref
                        )
                    })?
                    .host_id
            }
        },
    };
    let mut events = client.events().await?;
    let sent = Instant::now();
    let message = client
        .scale_component(&ScaleComponentCommand {
            component_ref: scale.component_ref.clone(),
            component_id: scale.component_id.clone(),
            annotations: (!scale.annotations.is_empty()).then(|| scale.annotations.clone()),
            max_instances: scale.count,
            component_limits: None,
            host_id: host_id.clone(),
            config: scale.config.clone(),
            allow_update: false,
        })
        .await?;
    if text && !message.is_empty() {
        eprintln!("{message}");
    }
    if text {
        eprintln!(
            "scaling `{}` to {} on {host_id}; waiting (compiling a large component can take a while the first time)…",
            scale.component_id, scale.count
        );
    }
    let deadline = tokio::time::Instant::now() + scale.wait_timeout;
    let event = loop {
        let next = tokio::time::timeout_at(deadline, events.next_event()).await;
        let Ok(event) = next else {
            bail!(
                "component `{}` did not scale within {:?}; see the host's log",
                scale.component_id,
                scale.wait_timeout
            );
        };
        let event = event?;
        if let Ok(Event::ArtifactPullProgress(d)) = event.decode()
            && text
            && event.source == host_id
            && d.reference == scale.component_ref
        {
            eprintln!("{}", output::pull_progress(&d));
            continue;
        }
        let ours =
            event.source == host_id && event.data["component_id"] == scale.component_id.as_str();
        if ours
            && matches!(
                event.event_name(),
                "component_scaled" | "component_scale_failed"
            )
        {
            break event;
        }
    };
    let ms = sent.elapsed().as_millis() as u64;
    match event.decode() {
        Ok(Event::ComponentScaled(d)) => {
            match global.output {
                OutputFormat::Text => println!(
                    "component `{}` scaled to {} on {host_id} ({ms} ms)",
                    d.component_id, d.max_instances
                ),
                OutputFormat::Json => output::json(&serde_json::json!({
                    "component_id": d.component_id, "host_id": host_id,
                    "max_instances": d.max_instances, "milliseconds": ms,
                })),
            }
            Ok(())
        }
        Ok(Event::ComponentScaleFailed(d)) => {
            bail!(
                "component `{}` failed to scale: {}",
                d.component_id,
                d.error
            )
        }
        _ => bail!("unexpected event {}", event.event_name()),
    }
}

/// `INSTANCE.FUNCTION` (the instance may hold dots in its version) or `FUNCTION`.
fn split_function(given: &str) -> (Option<&str>, &str) {
    match given.rsplit_once('.') {
        Some((instance, func)) if instance.contains(':') || instance.contains('/') => {
            (Some(instance), func)
        }
        _ => (None, given),
    }
}

/// Calls an exported function of a running component over wRPC, with arguments typed
/// from its real signature (asked of the host that runs it), and prints the results as
/// JSON.
pub(crate) async fn call(
    client: &CtlClient,
    global: &GlobalArgs,
    component_id: &str,
    function: &str,
    args: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let host_id = client
        .find_component_host(component_id)
        .await?
        .with_context(|| format!("no host runs component `{component_id}`"))?;
    let exports = client.describe_component(&host_id, component_id).await?;
    let (instance, func) = split_function(function);
    let export = exports
        .exports
        .iter()
        .find(|e| e.instance.as_deref() == instance && e.name == func)
        .with_context(|| {
            format!(
                "component `{component_id}` exports no `{function}`; it exports: {}",
                list_exports(&exports.exports)
            )
        })?;
    if args.len() != export.params.len() {
        bail!(
            "`{function}` takes {} argument(s) ({}), {} given",
            export.params.len(),
            export
                .params
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            args.len()
        );
    }
    let mut types = Vec::new();
    let mut values = Vec::new();
    for (param, arg) in export.params.iter().zip(args) {
        let ty = wrpc_type(&param.ty)?;
        let json: Json = serde_json::from_str(arg).unwrap_or_else(|_| Json::String(arg.clone()));
        values.push(
            from_json(&json, &ty).with_context(|| format!("argument `{}`: {arg}", param.name))?,
        );
        types.push(ty);
    }
    let result_types = export
        .results
        .iter()
        .map(wrpc_type)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut body = BytesMut::new();
    encode_tuple(&values, &types, &mut body)?;
    let wrpc = WrpcClient::new(client.nats().clone())
        .await?
        .with_timeout(timeout);
    let subject = InvocationSubject::new(
        SubjectPrefix::target(client.lattice(), component_id),
        instance.unwrap_or(""),
        func,
    );
    let headers = InvocationHeaders::new().with_source_id("lattice-cli");
    let mut invocation = wrpc.invoke(&subject, &headers, body.freeze()).await?;
    let results = invocation
        .read_results(&result_types)
        .await
        .with_context(|| format!("`{function}` of `{component_id}` failed (see the host's log)"))?;
    let json: Vec<Json> = results
        .iter()
        .zip(&result_types)
        .map(|(v, t)| to_json(v, t))
        .collect();
    let shown = match json.len() {
        1 => json.into_iter().next().expect("one result"),
        _ => Json::Array(json),
    };
    match global.output {
        OutputFormat::Text | OutputFormat::Json => output::json(&shown),
    }
    Ok(())
}

fn list_exports(exports: &[ExportedFunction]) -> String {
    exports
        .iter()
        .map(|e| match &e.instance {
            Some(instance) => format!("{instance}.{}", e.name),
            None => e.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The wRPC type of a described type.
fn wrpc_type(ty: &WitType) -> anyhow::Result<Type> {
    Ok(match ty {
        WitType::Bool => Type::Bool,
        WitType::S8 => Type::S8,
        WitType::U8 => Type::U8,
        WitType::S16 => Type::S16,
        WitType::U16 => Type::U16,
        WitType::S32 => Type::S32,
        WitType::U32 => Type::U32,
        WitType::S64 => Type::S64,
        WitType::U64 => Type::U64,
        WitType::F32 => Type::F32,
        WitType::F64 => Type::F64,
        WitType::Char => Type::Char,
        WitType::String => Type::String,
        WitType::List { element } => Type::list(wrpc_type(element)?),
        WitType::Record { fields } => Type::Record(
            fields
                .iter()
                .map(|f| {
                    Ok(Field {
                        name: f.name.clone(),
                        ty: wrpc_type(&f.ty)?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        ),
        WitType::Tuple { types } => {
            Type::Tuple(types.iter().map(wrpc_type).collect::<anyhow::Result<_>>()?)
        }
        WitType::Variant { cases } => Type::Variant(
            cases
                .iter()
                .map(|c| {
                    Ok(Case {
                        name: c.name.clone(),
                        ty: c.ty.as_ref().map(wrpc_type).transpose()?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        ),
        WitType::Enum { cases } => Type::Enum(cases.clone()),
        WitType::Option { some } => Type::option(wrpc_type(some)?),
        WitType::Result { ok, err } => Type::result(
            ok.as_deref().map(wrpc_type).transpose()?,
            err.as_deref().map(wrpc_type).transpose()?,
        ),
        WitType::Flags { flags } => Type::Flags(flags.clone()),
        WitType::Unsupported { name } => bail!("{name} values cannot be given on the command line"),
    })
}

/// A JSON argument as a value of `ty`: numbers, strings, arrays for lists and tuples,
/// objects for records (`{"field": …}`), `"case"` or `{"case": payload}` for variants,
/// `"case"` for enums, `null` or the value for options, `{"ok": …}` / `{"err": …}` for
/// results, an array of names for flags.
fn from_json(json: &Json, ty: &Type) -> anyhow::Result<Value> {
    let wrong = || anyhow::anyhow!("expected {}, got {json}", type_name(ty));
    let int = || json.as_i64().ok_or_else(wrong);
    let uint = || json.as_u64().ok_or_else(wrong);
    Ok(match ty {
        Type::Bool => Value::Bool(json.as_bool().ok_or_else(wrong)?),
        Type::S8 => Value::S8(int()?.try_into()?),
        Type::U8 => Value::U8(uint()?.try_into()?),
        Type::S16 => Value::S16(int()?.try_into()?),
        Type::U16 => Value::U16(uint()?.try_into()?),
        Type::S32 => Value::S32(int()?.try_into()?),
        Type::U32 => Value::U32(uint()?.try_into()?),
        Type::S64 => Value::S64(int()?),
        Type::U64 => Value::U64(uint()?),
        Type::F32 => Value::F32(json.as_f64().ok_or_else(wrong)? as f32),
        Type::F64 => Value::F64(json.as_f64().ok_or_else(wrong)?),
        Type::Char => {
            let s = json.as_str().ok_or_else(wrong)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Value::Char(c),
                _ => return Err(wrong()),
            }
        }
        Type::String => Value::String(json.as_str().ok_or_else(wrong)?.to_string()),
        Type::List(element) => Value::List(
            json.as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|j| from_json(j, element))
                .collect::<anyhow::Result<_>>()?,
        ),
        Type::Tuple(types) => {
            let items = json.as_array().ok_or_else(wrong)?;
            if items.len() != types.len() {
                return Err(wrong());
            }
            Value::Tuple(
                items
                    .iter()
                    .zip(types)
                    .map(|(j, t)| from_json(j, t))
                    .collect::<anyhow::Result<_>>()?,
            )
        }
        Type::Record(fields) => {
            let object = json.as_object().ok_or_else(wrong)?;
            Value::Record(
                fields
                    .iter()
                    .map(|f| {
                        let j = object.get(&f.name).unwrap_or(&Json::Null);
                        from_json(j, &f.ty).with_context(|| format!("field `{}`", f.name))
                    })
                    .collect::<anyhow::Result<_>>()?,
            )
        }
        Type::Variant(cases) => {
            let (name, payload) = match json {
                Json::String(name) => (name.as_str(), None),
                Json::Object(o) if o.len() == 1 => {
                    let (k, v) = o.iter().next().expect("one entry");
                    (k.as_str(), Some(v))
                }
                _ => return Err(wrong()),
            };
            let index = cases
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(wrong)?;
            let payload = match (&cases[index].ty, payload) {
                (Some(t), Some(j)) => Some(Box::new(from_json(j, t)?)),
                (None, _) => None,
                (Some(_), None) => return Err(wrong()),
            };
            Value::Variant {
                case: index as u32,
                payload,
            }
        }
        Type::Enum(cases) => {
            let name = json.as_str().ok_or_else(wrong)?;
            Value::Enum(cases.iter().position(|c| c == name).ok_or_else(wrong)? as u32)
        }
        Type::Option(some) => match json {
            Json::Null => Value::Option(None),
            other => Value::Option(Some(Box::new(from_json(other, some)?))),
        },
        Type::Result { ok, err } => {
            let object = json
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(wrong)?;
            let side = |t: &Option<Box<Type>>, j: &Json| -> anyhow::Result<Option<Box<Value>>> {
                t.as_deref()
                    .map(|t| from_json(j, t).map(Box::new))
                    .transpose()
            };
            match (object.get("ok"), object.get("err")) {
                (Some(j), None) => Value::Result(Ok(side(ok, j)?)),
                (None, Some(j)) => Value::Result(Err(side(err, j)?)),
                _ => return Err(wrong()),
            }
        }
        Type::Flags(flags) => {
            let set: Vec<&str> = json
                .as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|j| j.as_str().ok_or_else(wrong))
                .collect::<anyhow::Result<_>>()?;
            Value::Flags(flags.iter().map(|f| set.contains(&f.as_str())).collect())
        }
        _ => bail!(
            "{} values cannot be given on the command line",
            type_name(ty)
        ),
    })
}

/// A result value as JSON (the shapes [`from_json`] takes).
fn to_json(value: &Value, ty: &Type) -> Json {
    use serde_json::json;
    match (value, ty) {
        (Value::Bool(v), _) => json!(v),
        (Value::S8(v), _) => json!(v),
        (Value::U8(v), _) => json!(v),
        (Value::S16(v), _) => json!(v),
        (Value::U16(v), _) => json!(v),
        (Value::S32(v), _) => json!(v),
        (Value::U32(v), _) => json!(v),
        (Value::S64(v), _) => json!(v),
        (Value::U64(v), _) => json!(v),
        (Value::F32(v), _) => json!(v),
        (Value::F64(v), _) => json!(v),
        (Value::Char(v), _) => json!(v.to_string()),
        (Value::String(v), _) => json!(v),
        (Value::Bytes(b), _) => json!(b.to_vec()),
        (Value::List(items), Type::List(element)) => {
            Json::Array(items.iter().map(|v| to_json(v, element)).collect())
        }
        (Value::Tuple(items), Type::Tuple(types)) => Json::Array(
            items
                .iter()
                .zip(types)
                .map(|(v, t)| to_json(v, t))
                .collect(),
        ),
        (Value::Record(items), Type::Record(fields)) => Json::Object(
            items
                .iter()
                .zip(fields)
                .map(|(v, f)| (f.name.clone(), to_json(v, &f.ty)))
                .collect(),
        ),
        (Value::Variant { case, payload }, Type::Variant(cases)) => {
            let case_type = &cases[*case as usize];
            match (payload, &case_type.ty) {
                (Some(v), Some(t)) => json!({ case_type.name.clone(): to_json(v, t) }),
                _ => json!(case_type.name),
            }
        }
        (Value::Enum(i), Type::Enum(cases)) => json!(cases[*i as usize]),
        (Value::Option(None), _) => Json::Null,
        (Value::Option(Some(v)), Type::Option(some)) => to_json(v, some),
        (Value::Result(r), Type::Result { ok, err }) => {
            let side = |v: &Option<Box<Value>>, t: &Option<Box<Type>>| match (v, t) {
                (Some(v), Some(t)) => to_json(v, t),
                _ => Json::Null,
            };
            match r {
                Ok(v) => json!({"ok": side(v, ok)}),
                Err(v) => json!({"err": side(v, err)}),
            }
        }
        (Value::Flags(set), Type::Flags(flags)) => Json::Array(
            flags
                .iter()
                .zip(set)
                .filter(|(_, on)| **on)
                .map(|(f, _)| json!(f))
                .collect(),
        ),
        (other, _) => json!(format!("{other:?}")),
    }
}

fn type_name(ty: &Type) -> String {
    format!("{ty:?}").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_split_at_the_last_dot_of_an_interface() {
        assert_eq!(
            split_function("local:test/math@0.1.0.add"),
            (Some("local:test/math@0.1.0"), "add")
        );
        assert_eq!(split_function("spin"), (None, "spin"));
    }

    #[test]
    fn json_arguments_round_trip_through_values() {
        let ty = Type::record([
            ("n", Type::U32),
            ("tags", Type::list(Type::String)),
            (
                "shape",
                Type::variant([("circle", Some(Type::F64)), ("none", None)]),
            ),
            ("maybe", Type::option(Type::S8)),
            ("outcome", Type::result(Some(Type::U8), Some(Type::String))),
            ("perms", Type::Flags(vec!["read".into(), "write".into()])),
        ]);
        let json = serde_json::json!({"n": 7, "tags": ["a"], "shape": {"circle": 1.5}, "maybe": null, "outcome": {"err": "no"}, "perms": ["write"]});
        let value = from_json(&json, &ty).unwrap();
        assert_eq!(to_json(&value, &ty), json);
        assert!(from_json(&serde_json::json!({"n": -1}), &ty).is_err());
    }
}
