//! Rendering results as text tables or JSON.

use std::collections::BTreeMap;

use lattice_proto::ctl::{Host, HostInventory, ProviderDescription};
use lattice_proto::events::{CloudEvent, Event};

use crate::args::OutputFormat;

/// Prints `value` as pretty JSON.
pub(crate) fn json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("values always encode")
    );
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
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
        let uptime = host
            .uptime_human
            .clone()
            .unwrap_or_else(|| format!("{}s", host.uptime_seconds));
        let version = host.version.as_deref().unwrap_or("-");
        println!(
            "{:<58} {:<26} {uptime:<12} {version}",
            host.id, host.friendly_name
        );
    }
}

fn health_text(p: &ProviderDescription) -> &'static str {
    match p.healthy {
        Some(true) => "healthy",
        Some(false) => "unhealthy",
        None => "-",
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
        if inv.components.is_empty() {
            println!("  no components");
        } else {
            println!("  {:<20} {:>9}  REFERENCE", "COMPONENT ID", "MAX");
            for c in &inv.components {
                println!("  {:<20} {:>9}  {}", c.id, c.max_instances, c.image_ref);
            }
        }
        if inv.providers.is_empty() {
            println!("  no providers");
            continue;
        }
        println!(
            "  {:<20} {:<9} {:<9} {:>8} {:>8}  {:<22} REFERENCE",
            "PROVIDER ID", "STATE", "HEALTH", "RESTARTS", "PID", "LAST EXIT"
        );
        for p in &inv.providers {
            println!(
                "  {:<20} {:<9} {:<9} {:>8} {:>8}  {:<22} {}",
                p.id,
                p.state.as_deref().unwrap_or("-"),
                health_text(p),
                p.restarts.map_or("-".to_string(), |r| r.to_string()),
                p.pid.map_or("-".to_string(), |pid| pid.to_string()),
                p.last_exit.as_deref().unwrap_or("-"),
                p.image_ref.as_deref().unwrap_or("-"),
            );
        }
    }
}

pub(crate) fn links(links: &[lattice_proto::Link]) {
    if links.is_empty() {
        println!("No links.");
        return;
    }
    println!(
        "{:<20} {:<20} {:<10} {:<41} CONFIG (SOURCE / TARGET)",
        "SOURCE", "TARGET", "NAME", "INTERFACES"
    );
    for l in links {
        let interfaces = format!(
            "{}:{}/{}",
            l.wit_namespace,
            l.wit_package,
            l.interfaces.join(",")
        );
        println!(
            "{:<20} {:<20} {:<10} {:<41} {} / {}",
            l.source_id,
            l.target,
            l.name,
            interfaces,
            l.source_config.join(","),
            l.target_config.join(",")
        );
    }
}

/// One readable line for an event.
pub(crate) fn event_line(event: &CloudEvent) -> String {
    let time = event.time.as_deref().unwrap_or("-");
    let name = event.event_name();
    let detail = match event.decode() {
        Ok(Event::HostStarted(d)) => {
            format!(
                "{} ({}) {}",
                event.source,
                d.friendly_name,
                labels_text(&d.labels)
            )
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
            let exit = d.exit_status.map(|e| format!(", {e}")).unwrap_or_default();
            format!("{} on {} ({}{exit})", d.provider_id, d.host_id, d.reason)
        }
        Ok(Event::ProviderRestarted(d)) => format!(
            "{} on {} after {} ({}), restart {} in {} ms",
            d.provider_id, d.host_id, d.reason, d.exit_status, d.restarts, d.delay_ms
        ),
        Ok(Event::LinkdefSet(l)) => format!(
            "{} -> {} {}:{} ({})",
            l.source_id, l.target, l.wit_namespace, l.wit_package, l.name
        ),
        Ok(Event::LinkdefSetFailed(d)) => {
            format!("{} -> {}: {}", d.link.source_id, d.link.target, d.error)
        }
        Ok(Event::LinkdefDeleted(d)) => format!(
            "{} {}:{} ({})",
            d.source_id, d.wit_namespace, d.wit_package, d.name
        ),
        Ok(Event::ConfigSet(d) | Event::ConfigDeleted(d)) => d.config_name,
        Ok(
            Event::HealthCheckPassed(d) | Event::HealthCheckFailed(d) | Event::HealthCheckStatus(d),
        ) => {
            format!("{} on {}", d.provider_id, d.host_id)
        }
        Ok(Event::ComponentScaled(d)) => format!(
            "{} from {} on {}: max {} instances",
            d.component_id, d.image_ref, d.host_id, d.max_instances
        ),
        Ok(Event::ComponentScaleFailed(d)) => {
            format!("{} on {}: {}", d.component_id, d.host_id, d.error)
        }
        Ok(Event::ProviderLinkFailed(d)) => format!(
            "{} on {}: link {} -> {} {}:{} ({}): {}",
            d.provider_id,
            d.host_id,
            d.source_id,
            d.target,
            d.wit_namespace,
            d.wit_package,
            d.name,
            d.reason
        ),
        Ok(Event::ArtifactPullProgress(d)) => format!("{} on {}", pull_progress(&d), d.host_id),
        Ok(Event::ArtifactUnsigned(d)) => format!(
            "{} `{}` from {} on {} carries no signed claims",
            d.kind, d.id, d.reference, d.host_id
        ),
        Ok(Event::Other { data, .. }) => data.to_string(),
        Err(e) => format!("(undecodable data: {e}) {}", event.data),
    };
    format!("{time} {name:<22} {detail}")
}

/// One line for a download: `pulling ghcr.io/x:1: 3.1 of 6.5 MiB (47%), 12.0 MiB/s`.
pub(crate) fn pull_progress(d: &lattice_proto::events::ArtifactPullProgress) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = |bytes: u64| bytes as f64 / MIB;
    let percent = d
        .bytes
        .saturating_mul(100)
        .checked_div(d.total)
        .map(|p| format!(" ({p}%)"))
        .unwrap_or_default();
    format!(
        "{} {}: {:.1} of {:.1} MiB{percent}, {:.1} MiB/s",
        if d.done { "pulled" } else { "pulling" },
        d.reference,
        mib(d.bytes),
        mib(d.total),
        mib(d.bytes_per_second)
    )
}
