//! One function per control operation: decode, validate, act, build the reply.

use std::sync::Arc;

use lattice_proto::CtlResponse;
use lattice_proto::Link;
use lattice_proto::ctl::{
    ComponentAuctionAck, ComponentAuctionRequest, HostLabel, HostLabelIdentifier,
    ProviderAuctionAck, ProviderAuctionRequest, ProviderLogs, ProviderLogsRequest,
    ScaleComponentCommand, StartProviderCommand, StopHostCommand, StopProviderCommand,
    UpdateComponentCommand,
};
use lattice_proto::events::{
    ConfigChanged, Event, LabelsChanged, LinkdefDeleted, LinkdefSetFailed,
};
use lattice_proto::link::DeleteInterfaceLinkDefinitionRequest;
use lattice_proto::subjects::{CtlOp, is_subject_token, log_lines};
use serde::Serialize;

use super::error::decode;
use super::{AfterReply, CtlError};
use crate::HostContext;
use crate::components::ComponentSpec;
use crate::identity::is_reserved_label;
use crate::providers::ProviderSpec;

/// The reply body (`None`: no reply, as for an auction this host does not bid in) and
/// what follows it.
type Handled = Result<(Option<Vec<u8>>, AfterReply), CtlError>;

fn reply<T: Serialize>(response: &CtlResponse<T>) -> Handled {
    let body = serde_json::to_vec(response).expect("replies always encode");
    Ok((Some(body), AfterReply::Nothing))
}

pub(super) async fn dispatch(ctx: &Arc<HostContext>, op: CtlOp, payload: &[u8]) -> Handled {
    match op {
        CtlOp::HostPing => reply(&CtlResponse::ok(ctx.host_description().await?)),
        CtlOp::HostGet => reply(&CtlResponse::ok(ctx.inventory().await?)),
        CtlOp::HostStop => stop_host(ctx, payload),
        CtlOp::LabelPut => put_label(ctx, payload).await,
        CtlOp::LabelDel => del_label(ctx, payload).await,
        CtlOp::ProviderStart => start_provider(ctx, payload).await,
        CtlOp::ProviderStop => stop_provider(ctx, payload).await,
        CtlOp::ProviderLogs => provider_logs(ctx, payload).await,
        CtlOp::ProviderAuction => provider_auction(ctx, payload).await,
        CtlOp::ComponentAuction => component_auction(ctx, payload).await,
        CtlOp::ComponentScale => scale_component(ctx, payload).await,
        CtlOp::ComponentUpdate => update_component(ctx, payload).await,
        CtlOp::ComponentDescribe => {
            let request: lattice_proto::wit::DescribeComponentRequest = decode(
                "component.describe",
                "a DescribeComponentRequest {\"component_id\"}",
                payload,
            )?;
            match ctx.components.describe(&request.component_id).await {
                Some(exports) => reply(&CtlResponse::ok(exports)),
                None => Err(CtlError::Invalid {
                    op: "component.describe",
                    reason: format!(
                        "component {} does not run on this host",
                        request.component_id
                    ),
                }),
            }
        }
        CtlOp::Component { op } => Err(CtlError::ComponentsUnsupported(op)),
        CtlOp::LinkPut => put_link(ctx, payload).await,
        CtlOp::LinkDel => del_link(ctx, payload).await,
        CtlOp::LinkGet => reply(&CtlResponse::ok(ctx.lattice.links().await?)),
        CtlOp::ClaimsGet => reply(&CtlResponse::ok(ctx.lattice.claims().await?)),
        CtlOp::RegistryPut => put_registries(ctx, payload),
        CtlOp::ConfigPut { name } => put_config(ctx, &name, payload).await,
        CtlOp::ConfigGet { name } => match ctx.lattice.get_config(&name).await? {
            Some(config) => reply(&CtlResponse::ok(config)),
            None => reply(&CtlResponse::success("Configuration not found")),
        },
        CtlOp::ConfigDel { name } => del_config(ctx, &name).await,
    }
}

/// `registry.put`: credentials by registry, as the 1.x host takes them. Every entry is
/// checked before any is applied; an entry with neither credentials nor token clears
/// that registry's (anonymous pulls).
fn put_registries(ctx: &HostContext, payload: &[u8]) -> Handled {
    let entries: std::collections::BTreeMap<String, lattice_artifacts::RegistryCredential> =
        decode(
            "registry.put",
            "an object of registry name to {username, password, token, registryType}",
            payload,
        )?;
    let mut credentials = std::collections::BTreeMap::new();
    for (registry, entry) in entries {
        let credential = entry.credential().map_err(|reason| CtlError::Invalid {
            op: "registry.put",
            reason: format!("`{registry}`: {reason}"),
        })?;
        credentials.insert(registry, credential);
    }
    tracing::info!(registries = ?credentials.keys().collect::<Vec<_>>(), "registry credentials put");
    ctx.artifacts.registry().put_credentials(credentials);
    reply(&CtlResponse::success("successfully put registries"))
}

async fn put_link(ctx: &HostContext, payload: &[u8]) -> Handled {
    let link: Link = decode("link.put", "a Link", payload)?;
    match ctx.lattice.put_link(&link).await {
        Ok(()) => {
            ctx.events.publish(Event::LinkdefSet(link)).await;
            reply(&CtlResponse::success("successfully set link"))
        }
        Err(error) => {
            let failed = LinkdefSetFailed {
                link,
                error: error.to_string(),
            };
            ctx.events.publish(Event::LinkdefSetFailed(failed)).await;
            Err(error.into())
        }
    }
}

async fn del_link(ctx: &HostContext, payload: &[u8]) -> Handled {
    let request: DeleteInterfaceLinkDefinitionRequest = decode(
        "link.del",
        "a DeleteInterfaceLinkDefinitionRequest",
        payload,
    )?;
    let removed = ctx.lattice.delete_link(&request).await?;
    let event = LinkdefDeleted {
        source_id: request.source_id,
        target: removed.as_ref().map(|l| l.target.clone()),
        name: request.name,
        wit_namespace: request.wit_namespace,
        wit_package: request.wit_package,
        interfaces: removed.as_ref().map(|l| l.interfaces.clone()),
    };
    ctx.events.publish(Event::LinkdefDeleted(event)).await;
    match removed {
        Some(_) => reply(&CtlResponse::success("successfully deleted link")),
        None => reply(&CtlResponse::success(
            "successfully deleted link (spec doesn't exist)",
        )),
    }
}

async fn put_config(ctx: &HostContext, name: &str, payload: &[u8]) -> Handled {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Err(CtlError::Empty {
            op: "config.put",
            expected: "a JSON object with string values",
        });
    }
    ctx.lattice.put_config(name, payload).await?;
    let event = ConfigChanged {
        config_name: name.to_string(),
    };
    ctx.events.publish(Event::ConfigSet(event)).await;
    reply(&CtlResponse::success("successfully put config"))
}

async fn del_config(ctx: &HostContext, name: &str) -> Handled {
    ctx.lattice.delete_config(name).await?;
    let event = ConfigChanged {
        config_name: name.to_string(),
    };
    ctx.events.publish(Event::ConfigDeleted(event)).await;
    reply(&CtlResponse::success("successfully deleted config"))
}

fn check_host(ctx: &HostContext, requested: &str) -> Result<(), CtlError> {
    if !requested.is_empty() && requested != ctx.identity.id {
        return Err(CtlError::WrongHost {
            requested: requested.to_string(),
            actual: ctx.identity.id.clone(),
        });
    }
    Ok(())
}

fn check_provider_id(op: &'static str, id: &str) -> Result<(), CtlError> {
    if id.is_empty() {
        return Err(CtlError::MissingField {
            op,
            field: "provider_id",
        });
    }
    if !is_subject_token(id) {
        return Err(CtlError::BadProviderId(id.to_string()));
    }
    Ok(())
}

fn stop_host(ctx: &HostContext, payload: &[u8]) -> Handled {
    let command: StopHostCommand = if payload.iter().all(u8::is_ascii_whitespace) {
        StopHostCommand::default()
    } else {
        decode("host.stop", "a StopHostCommand", payload)?
    };
    check_host(ctx, &command.host_id)?;
    let deadline = command.timeout.map_or(
        ctx.config.default_stop_timeout,
        std::time::Duration::from_millis,
    );
    let (body, _) = reply(&CtlResponse::success("successfully handled stop host"))?;
    Ok((body, AfterReply::StopHost(deadline)))
}

async fn put_label(ctx: &HostContext, payload: &[u8]) -> Handled {
    let label: HostLabel = decode("label.put", "a HostLabel {\"key\",\"value\"}", payload)?;
    if label.key.is_empty() {
        return Err(CtlError::EmptyLabelKey);
    }
    if is_reserved_label(&label.key) {
        return Err(CtlError::ReservedLabel);
    }
    let labels = ctx.labels.put_label(label.key, label.value).await?;
    ctx.events
        .publish(Event::LabelsChanged(LabelsChanged {
            host_id: ctx.identity.id.clone(),
            labels,
        }))
        .await;
    reply(&CtlResponse::success("successfully put label"))
}

async fn del_label(ctx: &HostContext, payload: &[u8]) -> Handled {
    let label: HostLabelIdentifier =
        decode("label.del", "a HostLabelIdentifier {\"key\"}", payload)?;
    if is_reserved_label(&label.key) {
        return Err(CtlError::ReservedLabel);
    }
    match ctx.labels.del_label(label.key).await? {
        Some(labels) => {
            ctx.events
                .publish(Event::LabelsChanged(LabelsChanged {
                    host_id: ctx.identity.id.clone(),
                    labels,
                }))
                .await;
            reply(&CtlResponse::success("successfully deleted label"))
        }
        None => reply(&CtlResponse::success(
            "successfully deleted label (no such label)",
        )),
    }
}

/// Acknowledges at once; loading and spawning continue in the provider's supervisor,
/// which reports `provider_started` or `provider_start_failed`.
async fn start_provider(ctx: &Arc<HostContext>, payload: &[u8]) -> Handled {
    let command: StartProviderCommand =
        decode("provider.start", "a StartProviderCommand", payload)?;
    check_host(ctx, &command.host_id)?;
    check_provider_id("provider.start", &command.provider_id)?;
    if command.provider_ref.is_empty() {
        return Err(CtlError::MissingField {
            op: "provider.start",
            field: "provider_ref",
        });
    }
    let spec = ProviderSpec {
        provider_id: command.provider_id,
        provider_ref: command.provider_ref,
        config: command.config,
        annotations: command.annotations.unwrap_or_default(),
        generation: 0,
    };
    ctx.providers.start(spec).await?;
    reply(&CtlResponse::success("successfully started provider"))
}

/// Replies as soon as the stop is under way, as 1.x does (wash and the official client
/// wait 2 s for the reply); the staged stop (request, SIGTERM, SIGKILL) continues in the
/// supervisor, which publishes `provider_stopped` when the process is gone.
async fn stop_provider(ctx: &HostContext, payload: &[u8]) -> Handled {
    let command: StopProviderCommand = decode("provider.stop", "a StopProviderCommand", payload)?;
    check_host(ctx, &command.host_id)?;
    check_provider_id("provider.stop", &command.provider_id)?;
    if !ctx.providers.stop(&command.provider_id).await {
        return Err(CtlError::NotRunning);
    }
    reply(&CtlResponse::success("successfully stopped provider"))
}

async fn provider_logs(ctx: &HostContext, payload: &[u8]) -> Handled {
    let request: ProviderLogsRequest = decode(
        "provider.logs",
        "a ProviderLogsRequest {\"provider_id\"}",
        payload,
    )?;
    check_provider_id("provider.logs", &request.provider_id)?;
    let logs = ctx
        .providers
        .logs(&request.provider_id)
        .await
        .ok_or(CtlError::NotRunning)?;
    reply(&CtlResponse::ok(ProviderLogs {
        follow_subject: log_lines(
            &ctx.config.ctl_prefix,
            &ctx.config.lattice,
            &ctx.identity.id,
            &request.provider_id,
        ),
        provider_id: request.provider_id,
        lines: logs.tail(request.tail),
    }))
}

/// Bids only if every constraint matches a label, the ID is not running here and this
/// host can load the reference; otherwise stays silent, as the 1.x host does.
async fn provider_auction(ctx: &HostContext, payload: &[u8]) -> Handled {
    let request: ProviderAuctionRequest =
        decode("provider.auction", "a ProviderAuctionRequest", payload)?;
    let loadable = match ctx.config.builtins.check(&request.provider_ref) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => ctx
            .artifacts
            .can_load(&request.provider_ref)
            .map_err(|e| e.to_string()),
        Err(refused) => Err(refused.to_string()),
    };
    if let Err(reason) = loadable {
        tracing::debug!(provider_ref = %request.provider_ref, %reason, "not bidding");
        return Ok((None, AfterReply::Nothing));
    }
    let labels = ctx.labels.labels().await?;
    let fits = request
        .constraints
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    if !fits || ctx.providers.is_running(&request.provider_id).await {
        return Ok((None, AfterReply::Nothing));
    }
    reply(&CtlResponse::ok(ProviderAuctionAck {
        host_id: ctx.identity.id.clone(),
        provider_ref: request.provider_ref,
        provider_id: request.provider_id,
        constraints: request.constraints,
    }))
}

/// Acknowledges at once (with a warning text when the reference differs from the
/// running one); loading, compiling and serving continue in the component table, which
/// reports `component_scaled` or `component_scale_failed`.
async fn scale_component(ctx: &HostContext, payload: &[u8]) -> Handled {
    let command: ScaleComponentCommand =
        decode("component.scale", "a ScaleComponentCommand", payload)?;
    check_host(ctx, &command.host_id)?;
    check_component_id(&command.component_id)?;
    if command.max_instances > 0 && command.component_ref.is_empty() {
        return Err(CtlError::MissingField {
            op: "component.scale",
            field: "component_ref",
        });
    }
    let allow_update = command.allow_update;
    let spec = ComponentSpec::from_scale(command).map_err(|e| CtlError::Invalid {
        op: "component.scale",
        reason: e.to_string(),
    })?;
    let message = ctx.components.scale(spec, allow_update).await;
    reply(&CtlResponse::<()>::success(&message))
}

async fn update_component(ctx: &HostContext, payload: &[u8]) -> Handled {
    let command: UpdateComponentCommand =
        decode("component.update", "an UpdateComponentCommand", payload)?;
    check_host(ctx, &command.host_id)?;
    check_component_id(&command.component_id)?;
    match ctx.components.update(command).await {
        Ok(message) => reply(&CtlResponse::<()>::success(&message)),
        Err(reason) => Err(CtlError::Invalid {
            op: "component.update",
            reason,
        }),
    }
}

/// Bids like the provider auction: the labels fit, the ID does not run here and this
/// host can load the reference.
async fn component_auction(ctx: &HostContext, payload: &[u8]) -> Handled {
    let request: ComponentAuctionRequest =
        decode("component.auction", "a ComponentAuctionRequest", payload)?;
    if ctx.artifacts.can_load(&request.component_ref).is_err() {
        return Ok((None, AfterReply::Nothing));
    }
    let labels = ctx.labels.labels().await?;
    let fits = request
        .constraints
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    if !fits || ctx.components.is_running(&request.component_id).await {
        return Ok((None, AfterReply::Nothing));
    }
    reply(&CtlResponse::ok(ComponentAuctionAck {
        component_ref: request.component_ref,
        component_id: request.component_id,
        host_id: ctx.identity.id.clone(),
        constraints: request.constraints,
    }))
}

fn check_component_id(id: &str) -> Result<(), CtlError> {
    if id.is_empty() {
        return Err(CtlError::MissingField {
            op: "component.scale",
            field: "component_id",
        });
    }
    if !is_subject_token(id) {
        return Err(CtlError::Invalid {
            op: "component.scale",
            reason: format!("component ID `{id}` must be one NATS subject token"),
        });
    }
    Ok(())
}
