//! `lattice start component`, `lattice scale component`, `lattice stop component` and
//! `lattice call`: components through the control interface and wRPC.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::BytesMut;
use lattice_client::CtlClient;
use lattice_proto::ctl::{ComponentAuctionRequest, ScaleComponentCommand};
use lattice_proto::events::Event;
use lattice_proto::wit::ExportedFunction;
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix, wire_func_name};
use lattice_wrpc::value::encode_tuple;
use lattice_wrpc::{InvocationHeaders, WrpcClient};
use serde_json::Value as Json;

use crate::args::{GlobalArgs, OutputFormat};
use crate::json_values::{from_json, to_json, wrpc_type};
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

/// The names `export` answers to on the command line: `INSTANCE.FUNCTION` (or
/// `FUNCTION` at the top level), with the function's WIT name (`[method]r.f`) or the
/// name it goes by on the wire (`r.f`).
fn names(export: &ExportedFunction) -> Vec<String> {
    let full = |name: &str| match &export.instance {
        Some(instance) => format!("{instance}.{name}"),
        None => name.to_string(),
    };
    let mut names = vec![full(&export.name)];
    let wire = wire_func_name(&export.name);
    if wire != export.name {
        names.push(full(wire));
    }
    names
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
    let export = exports
        .exports
        .iter()
        .find(|e| names(e).contains(&function.to_string()))
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
        export.instance.as_deref().unwrap_or(""),
        wire_func_name(&export.name),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_answer_to_their_wit_and_wire_names() {
        let export = |instance: Option<&str>, name: &str| ExportedFunction {
            instance: instance.map(str::to_string),
            name: name.to_string(),
            params: Vec::new(),
            results: Vec::new(),
        };
        assert_eq!(
            names(&export(Some("local:test/math@0.1.0"), "add")),
            ["local:test/math@0.1.0.add"]
        );
        assert_eq!(names(&export(None, "spin")), ["spin"]);
        assert_eq!(
            names(&export(
                Some("local:test/counters@0.1.0"),
                "[method]counter.increment"
            )),
            [
                "local:test/counters@0.1.0.[method]counter.increment",
                "local:test/counters@0.1.0.counter.increment"
            ]
        );
    }
}
