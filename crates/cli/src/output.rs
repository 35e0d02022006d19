//! Rendering results as text tables or JSON.

use lattice_proto::ctl::{Host, HostInventory};
use lattice_proto::events::{CloudEvent, Event};

use crate::args::OutputFormat;

/// Prints `value` as pretty JSON.
pub(crate) fn json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("values always encode")
    );
}

fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn hosts(format: OutputFormat, hosts: &[Host]) {
    if format == OutputFormat::Json {
        return json(&hosts);
    }
    if hosts.is_empty() {
        println!("No hosts answered.");
        return;
    }
    println!(
        "{:<58} {:<26} {:<12} VERSION",
        "HOST ID", "FRIENDLY NAME", "UPTIME"
    );
    for host in hosts {
        println!(
            "{:<58} {:<26} {:<12} {}",
            host.id,
            host.friendly_name,
            host.uptime_human
                .clone()
                .unwrap_or_else(|| format!("{}s", host.uptime_seconds)),
            host.version.as_deref().unwrap_or("-"),
        );
    }
}

pub(crate) fn inventories(format: OutputFormat, inventories: &[HostInventory]) {
    if format == OutputFormat::Json {
        return match inventories {
            [one] => json(one),
            many => json(&many),
        };
    }
    for (i, inv) in inventories.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("Host {} ({})", inv.host_id, inv.friendly_name);
        println!("  version {}, up {}", inv.version, inv.uptime_human);
        println!("  labels  {}", labels_text(&inv.labels));
        if inv.providers.is_empty() {
            println!("  no providers");
        } else {
            println!("  {:<24} {:<40} NAME", "PROVIDER ID", "REFERENCE");
            for p in &inv.providers {
                println!(
                    "  {:<24} {:<40} {}",
                    p.id,
                    p.image_ref.as_deref().unwrap_or("-"),
                    p.name.as_deref().unwrap_or("-")
                );
            }
        }
    }
}

/// One readable line for an event.
pub(crate) fn event_line(event: &CloudEvent) -> String {
    let time = event.time.as_deref().unwrap_or("-");
    let name = event.event_name();
    let detail = match event.decode() {
        Ok(Event::HostStarted(d)) => {
            format!("{} ({}) {}", d.id, d.friendly_name, labels_text(&d.labels))
        }
        Ok(Event::HostHeartbeat(d)) => format!(
            "{} ({}) up {}, {} providers",
            d.host_id,
            d.friendly_name,
            d.uptime_human,
            d.providers.len()
        ),
        Ok(Event::HostStopped(_)) => event.source.clone(),
        Ok(Event::LabelsChanged(d)) => format!("{} {}", d.host_id, labels_text(&d.labels)),
        Ok(Event::ProviderStarted(d)) => {
            format!("{} from {} on {}", d.provider_id, d.image_ref, d.host_id)
        }
        Ok(Event::ProviderStartFailed(d)) => {
            format!("{} on {}: {}", d.provider_id, d.host_id, d.error)
        }
        Ok(Event::ProviderStopped(d)) => {
            format!("{} on {} ({})", d.provider_id, d.host_id, d.reason)
        }
        Ok(
            Event::HealthCheckPassed(d) | Event::HealthCheckFailed(d) | Event::HealthCheckStatus(d),
        ) => {
            format!("{} on {}", d.provider_id, d.host_id)
        }
        Ok(Event::Other { data, .. }) => data.to_string(),
        Err(e) => format!("(undecodable data: {e}) {}", event.data),
    };
    format!("{time} {name:<22} {detail}")
}
