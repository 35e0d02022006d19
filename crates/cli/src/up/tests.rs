//! Unit tests of `lattice up`'s flag handling.

use super::*;
use crate::args::Cli;
use clap::Parser as _;
use lattice_proto::{Level, OtelProtocol};

fn try_parse(args: &[&str]) -> Result<(GlobalArgs, UpArgs), clap::Error> {
    let cli = Cli::try_parse_from(args)?;
    match cli.command {
        crate::args::Command::Up(up) => Ok((cli.global, *up)),
        _ => unreachable!("parsed `up`"),
    }
}

fn parse(args: &[&str]) -> (GlobalArgs, UpArgs) {
    try_parse(args).unwrap()
}

/// The host config for `lattice up ARGS` (global flags may come after `up`), with no
/// `WASMCLOUD_LABEL_*` variables.
fn config_of(args: &[&str]) -> anyhow::Result<HostConfig> {
    let mut argv = vec!["lattice", "up"];
    argv.extend_from_slice(args);
    let (global, up) = try_parse(&argv)?;
    up.host_config(&global, std::iter::empty())
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

#[test]
fn official_flags_build_the_config() {
    let (global, up) = parse(&[
        "lattice",
        "up",
        "--nats-host",
        "10.1.2.3",
        "--nats-port",
        "4333",
        "--rpc-port",
        "5555",
        "-x",
        "prod",
        "--label",
        "zone=eu",
        "--heartbeat-interval-seconds",
        "5",
        "--rpc-timeout-ms",
        "750",
        "--log-level",
        "debug",
        "--provider-shutdown-delay",
        "100",
        "--wasmcloud-js-domain",
        "edge",
    ]);
    assert!(up.nats_explicit(&global));
    let config = up.host_config(&global, std::iter::empty()).unwrap();
    assert_eq!(config.ctl_nats.url, "nats://10.1.2.3:4333");
    assert_eq!(config.rpc_nats.url, "nats://10.1.2.3:5555");
    assert_eq!(config.lattice, "prod");
    assert_eq!(config.labels["zone"], "eu");
    assert_eq!(config.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(config.rpc_timeout, Duration::from_millis(750));
    assert_eq!(config.log_level, Level::Debug);
    assert_eq!(config.providers.shutdown_grace, Duration::from_millis(100));
    assert_eq!(config.js_domain.as_deref(), Some("edge"));
    config.validate().unwrap();
}

#[test]
fn no_address_means_the_embedded_default() {
    let (global, up) = parse(&["lattice", "up"]);
    assert!(!up.nats_explicit(&global));
    let config = up.host_config(&global, std::iter::empty()).unwrap();
    assert_eq!(config.ctl_nats.url, "nats://127.0.0.1:4222");
}

fn jwt(jwt: &str, seed: &str) -> NatsAuth {
    NatsAuth::Jwt {
        jwt: jwt.into(),
        seed: seed.into(),
    }
}

fn creds(path: &str) -> NatsAuth {
    NatsAuth::CredsFile(path.into())
}

#[test]
fn connection_credentials_win_over_the_nats_ones() {
    let generic_jwt = ["--nats-jwt", "NJ", "--nats-seed", "NS"];
    let c = config_of(&[&generic_jwt[..], &["--ctl-creds", "/ctl.creds"]].concat()).unwrap();
    assert_eq!(c.ctl_nats.auth, creds("/ctl.creds"));
    assert_eq!(c.rpc_nats.auth, jwt("NJ", "NS"));

    let c = config_of(&[&generic_jwt[..], &["--rpc-creds", "/rpc.creds"]].concat()).unwrap();
    assert_eq!(c.ctl_nats.auth, jwt("NJ", "NS"));
    assert_eq!(c.rpc_nats.auth, creds("/rpc.creds"));

    let c = config_of(&[
        "--nats-creds",
        "/nats.creds",
        "--ctl-jwt",
        "CJ",
        "--ctl-seed",
        "CS",
    ])
    .unwrap();
    assert_eq!(c.ctl_nats.auth, jwt("CJ", "CS"));
    assert_eq!(c.rpc_nats.auth, creds("/nats.creds"));

    let c =
        config_of(&[&generic_jwt[..], &["--rpc-jwt", "RJ", "--rpc-seed", "RS"]].concat()).unwrap();
    assert_eq!(c.rpc_nats.auth, jwt("RJ", "RS"));

    let c = config_of(&[]).unwrap();
    assert_eq!(c.ctl_nats.auth, NatsAuth::Anonymous);
    assert_eq!(c.rpc_nats.auth, NatsAuth::Anonymous);
}

#[test]
fn a_creds_file_conflicts_with_its_own_jwt_and_seed() {
    for args in [
        &["--nats-creds", "/n", "--nats-seed", "S"][..],
        &["--ctl-creds", "/c", "--ctl-jwt", "J", "--ctl-seed", "S"],
        &["--rpc-creds", "/r", "--rpc-seed", "S"],
    ] {
        let err = config_of(args).unwrap_err().to_string();
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
    }
    assert!(
        config_of(&["--nats-jwt", "eyJ"]).is_err(),
        "a JWT needs a seed"
    );
}

#[test]
fn nats_url_keeps_its_scheme_and_credentials() {
    let c = config_of(&["--nats-url", "tls://user:pass@nats.example:4222"]).unwrap();
    assert_eq!(c.ctl_nats.url, "tls://user:pass@nats.example:4222");
    assert_eq!(c.rpc_nats.url, "tls://user:pass@nats.example:4222");
    assert_eq!(c.ctl_nats.auth, NatsAuth::Anonymous);
    c.validate().unwrap();

    let c = config_of(&[
        "--nats-url",
        "nats://user:p%40ss@127.0.0.1:4222",
        "--rpc-port",
        "5555",
        "--ctl-host",
        "10.0.0.9",
    ])
    .unwrap();
    assert_eq!(c.ctl_nats.url, "nats://user:p%40ss@10.0.0.9:4222");
    assert_eq!(c.rpc_nats.url, "nats://user:p%40ss@127.0.0.1:5555");
    assert_eq!(c.ctl_nats.display_url(), "nats://user:***@10.0.0.9:4222");

    let c = config_of(&["--nats-url", "nats.example:4999"]).unwrap();
    assert_eq!(c.ctl_nats.url, "nats://nats.example:4999");
    let c = config_of(&["--nats-url", "nats://a:4999", "--nats-host", "b"]).unwrap();
    assert_eq!(
        c.ctl_nats.url, "nats://b:4999",
        "--nats-host replaces the URL's host"
    );
    let c = config_of(&["--nats-host", "::1"]).unwrap();
    assert_eq!(c.ctl_nats.url, "nats://[::1]:4222");
}

#[test]
fn tls_flags_require_tls_per_connection() {
    let c = config_of(&["--nats-url", "nats://u:p@h:4222", "--rpc-tls"]).unwrap();
    assert_eq!(c.ctl_nats.url, "nats://u:p@h:4222");
    assert_eq!(c.rpc_nats.url, "tls://u:p@h:4222");
    let c = config_of(&["--nats-url", "ws://h:8080", "--ctl-tls"]).unwrap();
    assert_eq!(c.ctl_nats.url, "wss://h:8080/");
}

#[test]
fn url_credentials_and_a_creds_file_are_refused_together() {
    let c = config_of(&["--nats-url", "nats://u:p@h", "--rpc-creds", "/r.creds"]).unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(
        err.contains("rpc connection") && err.contains("u:***@h"),
        "{err}"
    );
}

#[test]
fn bad_addresses_name_the_flag_and_hide_the_password() {
    for (args, says) in [
        (
            &["--nats-url", "http://u:secret@h"][..],
            "unknown scheme `http`",
        ),
        (
            &["--nats-url", "nats://u:secret@a:1,nats://b:2"],
            "one server URL",
        ),
        (&["--nats-url", "nats://u:secret@h:99999"], "invalid port"),
        (&["--ctl-host", "a b"], "invalid --ctl-host `a b`"),
    ] {
        let err = format!("{:#}", config_of(args).unwrap_err());
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("secret"), "{err}");
        if args[0] == "--nats-url" {
            assert!(err.contains("invalid --nats-url `"), "{err}");
        }
    }
}

#[test]
fn log_levels_are_the_official_ones() {
    for (given, level) in [
        ("1", Level::Error),
        ("2", Level::Warn),
        ("3", Level::Info),
        ("4", Level::Debug),
        ("5", Level::Trace),
        ("WARN", Level::Warn),
    ] {
        let c = config_of(&["--log-level", given]).unwrap();
        assert_eq!(c.log_level, level, "{given}");
    }
    let c = config_of(&["--structured-log-level", "trace"]).unwrap();
    assert_eq!(c.log_level, Level::Trace);
    let err = config_of(&["--log-level", "critical"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--log-level") && err.contains("`critical`"),
        "{err}"
    );
}

#[test]
fn labels_follow_the_official_rules() {
    let err = config_of(&["--label", "a=b=c"]).unwrap_err().to_string();
    assert!(
        err.contains("--label") && err.contains("invalid label format `a=b=c`"),
        "{err}"
    );
    let c = config_of(&["-l", "hostcore.os=plan9", "-l", "zone="]).unwrap();
    assert_eq!(c.labels["hostcore.os"], "plan9");
    assert_eq!(c.labels["zone"], "");
    c.validate().unwrap();
}

#[test]
fn env_labels_are_read_and_flags_win() {
    let env = vars(&[
        ("WASMCLOUD_LABEL_zone", "env"),
        ("WASMCLOUD_LABEL_team", "blue=green"),
        ("WASMCLOUD_LABEL_hostcore.arch", "riscv"),
        ("WASMCLOUD_LABEL_", "empty key"),
        ("HOME", "/root"),
    ]);
    let flags = [("zone".to_string(), "cli".to_string())];
    let got = labels(&flags, env.into_iter());
    let want = [
        ("zone", "cli"),
        ("team", "blue=green"),
        ("hostcore.arch", "riscv"),
        ("", "empty key"),
    ];
    let want: BTreeMap<_, _> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn env_labels_skip_variables_that_are_not_utf8() {
    use std::os::unix::ffi::OsStringExt as _;
    let env = vec![
        (
            OsString::from("WASMCLOUD_LABEL_bad"),
            OsString::from_vec(vec![0xff]),
        ),
        (OsString::from_vec(vec![0xff]), OsString::from("x")),
        (OsString::from("WASMCLOUD_LABEL_ok"), OsString::from("1")),
    ];
    let got = labels_from_env(env.into_iter());
    assert_eq!(got, BTreeMap::from([("ok".to_string(), "1".to_string())]));
}

/// The arguments `lattice up` takes, its own and the global ones (`--lattice`,
/// `--ctl-topic-prefix`, …: `lattice up` takes them).
fn up_arguments() -> Vec<clap::Arg> {
    use clap::CommandFactory as _;
    let cli = Cli::command();
    let up = cli
        .get_subcommands()
        .find(|c| c.get_name() == "up")
        .expect("lattice up exists");
    up.get_arguments()
        .chain(cli.get_arguments())
        .cloned()
        .collect()
}

/// The flags `lattice up` takes, by long name.
fn up_flags() -> Vec<String> {
    up_arguments()
        .iter()
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| !matches!(l.as_str(), "help" | "version"))
        .collect()
}

#[test]
fn every_flag_of_up_has_a_decided_fate_and_every_official_flag_is_parsed() {
    let flags = up_flags();
    for flag in &flags {
        let official = super::official::OFFICIAL.iter().any(|o| o.flag == flag);
        let ours = super::official::LATTICE_ADDITIONS.contains(&flag.as_str());
        assert!(
            official || ours,
            "--{flag} is neither in the official table nor a lattice addition: decide its fate in up/official.rs"
        );
    }
    for official in super::official::OFFICIAL {
        assert!(
            flags.iter().any(|f| f == official.flag),
            "the official --{} is not parsed by `lattice up`",
            official.flag
        );
        // Its variable sets it: clap reads that variable for that flag.
        assert_eq!(
            up_flag_env(official.flag).as_deref(),
            official.env,
            "the variable of --{}",
            official.flag
        );
    }
}

/// The variable clap reads for the flag `--{long}` of `lattice up` (or a global one).
fn up_flag_env(long: &str) -> Option<String> {
    up_arguments()
        .iter()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|env| env.to_string_lossy().into_owned())
}

#[test]
fn registry_flags_fill_the_oci_settings() {
    let config = config_of(&[
        "--nats-url",
        "nats://127.0.0.1:4222",
        "--allow-latest",
        "--allowed-insecure",
        "localhost:5000,registry.lan:5001",
        "--oci-registry",
        "ghcr.io",
        "--oci-user",
        "robot",
        "--oci-password",
        "hunter2",
        "--oci-cache-size",
        "512MiB",
        "--data-dir",
        "/srv/lattice",
    ])
    .unwrap();
    assert!(config.oci.allow_latest);
    assert_eq!(
        config.oci.allowed_insecure,
        ["localhost:5000", "registry.lan:5001"]
    );
    assert_eq!(
        config.oci.credentials["ghcr.io"],
        lattice_artifacts::Credential::Basic {
            username: "robot".into(),
            password: "hunter2".into()
        }
    );
    assert!(
        !format!("{:?}", config.oci).contains("hunter2"),
        "the password never prints"
    );
    assert_eq!(config.oci.cache.max_bytes, 512 << 20);
    assert_eq!(
        config.oci.cache.dir,
        std::path::Path::new("/srv/lattice/oci")
    );

    let defaults = config_of(&["--nats-url", "nats://127.0.0.1:4222"]).unwrap();
    assert!(!defaults.oci.allow_latest);
    assert!(defaults.oci.credentials.is_empty());
    assert_eq!(defaults.oci.cache.max_bytes, 10 << 30);
    // A user without the registry it belongs to is refused by the parser.
    assert!(try_parse(&["lattice", "up", "--oci-user", "robot"]).is_err());
    assert!(super::trust::parse_size("12XB").is_err());
}

#[test]
fn observability_flags_fill_the_otel_config_as_1_9_2_does() {
    let base = ["--nats-url", "nats://127.0.0.1:4222"];
    let config = config_of(&[&base[..], &["--enable-observability"]].concat()).unwrap();
    assert!(config.otel.enable_observability);
    assert_eq!(config.otel.enable_traces, None);
    assert_eq!(config.otel.protocol, OtelProtocol::Http);
    assert_eq!(config.otel.trace_level, Level::Info);

    let config = config_of(
        &[
            &base[..],
            &[
                "--enable-traces",
                "true",
                "--enable-logs",
                "false",
                "--override-observability-endpoint",
                "http://collector:4318",
                "--override-metrics-endpoint",
                "http://metrics:4318/v1/metrics",
                "--observability-protocol",
                "grpc",
                "--trace-level",
                "5",
                "--tls-ca-path",
                "/etc/ca.pem",
            ],
        ]
        .concat(),
    )
    .unwrap();
    let otel = &config.otel;
    assert!(!otel.enable_observability);
    assert_eq!(
        (otel.enable_traces, otel.enable_metrics, otel.enable_logs),
        (Some(true), None, Some(false))
    );
    assert_eq!(
        otel.observability_endpoint.as_deref(),
        Some("http://collector:4318")
    );
    assert_eq!(
        otel.metrics_endpoint.as_deref(),
        Some("http://metrics:4318/v1/metrics")
    );
    assert_eq!(otel.protocol, OtelProtocol::Grpc);
    assert_eq!(otel.trace_level, Level::Trace);
    assert_eq!(otel.additional_ca_paths, vec![PathBuf::from("/etc/ca.pem")]);
    assert_eq!(
        otel.traces_sampler, None,
        "the host never sets the sampler for providers"
    );

    // The switch and the per-signal ones conflict, as in 1.9.2; protocols are http or grpc.
    assert!(
        try_parse(
            &[
                &["lattice", "up"][..],
                &base[..],
                &["--enable-observability", "--enable-traces", "true"]
            ]
            .concat()
        )
        .is_err()
    );
    assert!(
        try_parse(
            &[
                &["lattice", "up"][..],
                &base[..],
                &["--observability-protocol", "udp"]
            ]
            .concat()
        )
        .is_err()
    );
}

#[test]
fn the_config_service_flag_is_a_switch() {
    let base = ["--nats-url", "nats://127.0.0.1:4222"];
    assert!(!config_of(&base).unwrap().config_service);
    assert!(
        config_of(&[&base[..], &["--config-service-enabled"]].concat())
            .unwrap()
            .config_service
    );
}
