//! One function per control operation: decode, validate, act, build the reply.

use lattice_proto::CtlResponse;
use lattice_proto::ctl::{HostLabel, HostLabelIdentifier, StopHostCommand};
use lattice_proto::events::{Event, LabelsChanged};
use lattice_proto::subjects::CtlOp;
use serde::Serialize;

use super::error::decode;
use super::{AfterReply, CtlError};
use crate::HostContext;
use crate::identity::is_reserved_label;

type Handled = Result<(Vec<u8>, AfterReply), CtlError>;

fn reply<T: Serialize>(response: &CtlResponse<T>) -> Handled {
    let body = serde_json::to_vec(response).expect("replies always encode");
    Ok((body, AfterReply::Nothing))
}

pub(super) async fn dispatch(ctx: &HostContext, op: CtlOp, payload: &[u8]) -> Handled {
    match op {
        CtlOp::HostPing => reply(&CtlResponse::ok(ctx.host_description().await?)),
        CtlOp::HostGet => reply(&CtlResponse::ok(ctx.inventory().await?)),
        CtlOp::HostStop => stop_host(ctx, payload),
        CtlOp::LabelPut => put_label(ctx, payload).await,
        CtlOp::LabelDel => del_label(ctx, payload).await,
        CtlOp::Component { op } => Err(CtlError::ComponentsUnsupported(op)),
        _ => Err(CtlError::Unsupported),
    }
}

fn stop_host(ctx: &HostContext, payload: &[u8]) -> Handled {
    let command: StopHostCommand = if payload.iter().all(u8::is_ascii_whitespace) {
        StopHostCommand::default()
    } else {
        decode("host.stop", "a StopHostCommand", payload)?
    };
    if !command.host_id.is_empty() && command.host_id != ctx.identity.id {
        return Err(CtlError::WrongHost {
            requested: command.host_id,
            actual: ctx.identity.id.clone(),
        });
    }
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
    let labels = ctx.state.put_label(label.key, label.value).await?;
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
    match ctx.state.del_label(label.key).await? {
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
