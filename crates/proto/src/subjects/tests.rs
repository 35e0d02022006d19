use super::*;

const HOST: &str = "NBIC6OTK35CLH2R7LJYCDGL6UIH5K7GJNONAHY2KIQBQOZMYZPLQ2WDC";

fn subjects() -> CtlSubjects {
    CtlSubjects::new(DEFAULT_CTL_PREFIX, "default")
}

#[test]
fn builders_round_trip_through_parse() {
    let s = subjects();
    let cases = [
        (s.host_ping(), CtlOp::HostPing),
        (s.host_get(HOST), CtlOp::HostGet),
        (s.host_stop(HOST), CtlOp::HostStop),
        (s.label_put(HOST), CtlOp::LabelPut),
        (s.label_del(HOST), CtlOp::LabelDel),
        (s.provider_start(HOST), CtlOp::ProviderStart),
        (s.provider_stop(HOST), CtlOp::ProviderStop),
        (s.provider_logs(HOST), CtlOp::ProviderLogs),
        (s.provider_auction(), CtlOp::ProviderAuction),
        (s.component_auction(), CtlOp::ComponentAuction),
        (s.component_scale(HOST), CtlOp::ComponentScale),
        (s.component_update(HOST), CtlOp::ComponentUpdate),
        (s.component_describe(HOST), CtlOp::ComponentDescribe),
        (s.claims_get(), CtlOp::ClaimsGet),
        (s.registry_put(), CtlOp::RegistryPut),
    ];
    for (subject, op) in cases {
        assert_eq!(s.parse(&subject), Ok(op), "{subject}");
    }
    assert_eq!(
        s.parse("wasmbus.ctl.v1.default.config.put.redis"),
        Ok(CtlOp::ConfigPut {
            name: "redis".into()
        })
    );
}

#[test]
fn unknown_and_overlong_subjects_are_unsupported() {
    let s = subjects();
    for bad in [
        format!("wasmbus.ctl.v1.default.host.frob.{HOST}"),
        format!("wasmbus.ctl.v1.default.host.get.{HOST}.extra"),
        "wasmbus.ctl.v1.default.host".to_string(),
        "wasmbus.ctl.v1.other.host.ping".to_string(),
        "wasmbus.ctl.v1.defaultx.host.ping".to_string(),
    ] {
        assert!(s.parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn every_subscription_subject_parses_when_wildcards_are_filled() {
    let s = subjects();
    let all = [
        CtlGroup::Host,
        CtlGroup::Label,
        CtlGroup::Provider,
        CtlGroup::ProviderAuction,
        CtlGroup::Component,
        CtlGroup::Link,
        CtlGroup::Config,
        CtlGroup::Claims,
        CtlGroup::Registry,
    ];
    for sub in s.subscriptions(HOST, &all) {
        let filled = sub
            .subject
            .replace(".*.", ".get.")
            .replace("label.get.", "label.put.")
            .replace("provider.get.", "provider.start.")
            .replace("component.get.", "component.scale.")
            .replace("link.*", "link.get")
            .replace("config.>", "config.get.x");
        assert!(s.parse(&filled).is_ok(), "{} -> {filled}", sub.subject);
    }
}

#[test]
fn queue_groups_match_the_spec() {
    let s = subjects();
    let subs = s.subscriptions(HOST, &[CtlGroup::Link, CtlGroup::Config]);
    assert_eq!(subs[0].subject, "wasmbus.ctl.v1.default.link.*");
    assert_eq!(
        subs[0].queue_group.as_deref(),
        Some("wasmbus.ctl.v1.default.link")
    );
    assert_eq!(
        subs[1].queue_group.as_deref(),
        Some("wasmbus.ctl.v1.default.config")
    );
}

#[test]
fn subject_tokens() {
    assert!(is_subject_token("redis-defaults"));
    assert!(!is_subject_token("a.b"));
    assert!(!is_subject_token(""));
    assert!(!is_subject_token("a b"));
}

/// Whether `subject` matches the NATS `pattern` (`*` one token, `>` the rest).
fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (token, Some(s)) if token == s => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

#[test]
fn log_lines_live_under_the_ctl_prefix_and_match_no_ctl_subscription() {
    let subject = log_lines("wasmbus.ctl", "default", HOST, "kv");
    assert_eq!(subject, format!("wasmbus.ctl.v1.default.logs.{HOST}.kv"));
    assert_eq!(
        log_lines("acme.ctl", "prod", HOST, "kv"),
        format!("acme.ctl.v1.prod.logs.{HOST}.kv")
    );
    assert!(matches("wasmbus.ctl.v1.default.>", &subject));
    assert!(!matches("wasmbus.evt.>", &subject));
    assert!(subjects().parse(&subject).is_err());
    let ours = subjects().subscriptions(
        HOST,
        &[
            CtlGroup::Host,
            CtlGroup::Label,
            CtlGroup::Provider,
            CtlGroup::ProviderAuction,
            CtlGroup::Component,
            CtlGroup::Link,
            CtlGroup::Config,
            CtlGroup::Claims,
            CtlGroup::Registry,
        ],
    );
    // What the 1.x host subscribes to, under the same base.
    let official = [
        "provider.*.{host}",
        "host.*.{host}",
        "label.*.{host}",
        "component.*.{host}",
        "link.*",
        "config.>",
        "claims.get",
        "registry.put",
        "host.ping",
        "provider.auction",
        "component.auction",
    ]
    .map(|tail| format!("wasmbus.ctl.v1.default.{}", tail.replace("{host}", HOST)));
    for pattern in ours
        .iter()
        .map(|s| s.subject.as_str())
        .chain(official.iter().map(String::as_str))
    {
        assert!(matches(pattern, &pattern.replace('*', "x")), "{pattern}");
        assert!(!matches(pattern, &subject), "{subject} matches {pattern}");
    }
}

#[test]
fn provider_subjects() {
    let p = ProviderSubjects::new("default");
    assert_eq!(p.health("kv"), "wasmbus.rpc.default.kv.health");
    assert_eq!(p.shutdown("kv"), "wasmbus.rpc.default.kv.default.shutdown");
    assert_eq!(
        EventSubjects::new("default").event("host_started"),
        "wasmbus.evt.default.host_started"
    );
}
