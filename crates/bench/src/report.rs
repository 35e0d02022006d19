//! The markdown report, rendered from the JSON results.

use serde_json::Value;

struct Row {
    figure: &'static str,
    goal: &'static str,
    key: &'static str,
    unit: &'static str,
}

const TIMED: &[Row] = &[
    Row {
        figure: "start → running",
        goal: "p50 ≤ 20 ms",
        key: "start_to_running_ms",
        unit: "ms",
    },
    Row {
        figure: "start → healthy",
        goal: "p50 ≤ 50 ms",
        key: "start_to_healthy_ms",
        unit: "ms",
    },
    Row {
        figure: "crash → healthy again",
        goal: "p50 ≤ 100 ms",
        key: "crash_to_healthy_ms",
        unit: "ms",
    },
    Row {
        figure: "link propagation",
        goal: "p50 ≤ 5 ms, p99 ≤ 20 ms",
        key: "link_propagation_ms",
        unit: "ms",
    },
    Row {
        figure: "config propagation",
        goal: "p50 ≤ 10 ms",
        key: "config_propagation_ms",
        unit: "ms",
    },
];

fn timed(value: &Value, unit: &str) -> String {
    timed_to(value, unit, 1)
}

/// `p50 …, p99 … (n=…)` with `decimals` digits, or the error.
fn timed_to(value: &Value, unit: &str, decimals: usize) -> String {
    match (value.get("p50"), value.get("p99")) {
        (Some(p50), Some(p99)) => format!(
            "p50 {:.decimals$} {unit}, p99 {:.decimals$} {unit} (n={})",
            p50.as_f64().unwrap_or_default(),
            p99.as_f64().unwrap_or_default(),
            value["n"]
        ),
        _ => format!("— ({})", value["error"].as_str().unwrap_or("not measured")),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!("{:.1}×", b / a),
        _ => "—".to_string(),
    }
}

/// Renders `results` (as `main` builds them) as markdown.
pub(crate) fn markdown(results: &Value) -> String {
    let columns = results["columns"].as_array().cloned().unwrap_or_default();
    let compare = columns.len() > 1;
    let mut out = String::new();
    out.push_str(&format!(
        "Machine: {} cores, {}-{}. Command: `{}`\n\n",
        results["machine"]["cores"],
        results["machine"]["arch"].as_str().unwrap_or(""),
        results["machine"]["os"].as_str().unwrap_or(""),
        results["invocation"].as_str().unwrap_or("")
    ));
    for (i, column) in columns.iter().enumerate() {
        out.push_str(&format!(
            "Column {}: `{}`\n",
            i + 1,
            column["command"].as_str().unwrap_or("")
        ));
    }
    let sizes = &results["sizes"]["components"];
    if sizes.is_object() {
        out.push_str(&format!(
            "Components{}: cold scales ×{}, warm scales ×{}, host restarts ×{}, {} sequential calls per latency figure, {} s per throughput step, N = {}.\n",
            if sizes["quick"].as_bool() == Some(true) { " (--quick sizes)" } else { "" },
            sizes["cold_repeat"],
            sizes["warm_repeat"],
            sizes["restart_repeat"],
            sizes["calls"],
            sizes["throughput_window_s"],
            sizes["counts"]
                .as_array()
                .map(|c| c.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        ));
    }
    out.push('\n');
    let header = if compare {
        "| figure | goal | lattice | compared | compared / lattice (p50) |\n|---|---|---|---|---|\n"
    } else {
        "| figure | goal | lattice |\n|---|---|---|\n"
    };
    out.push_str(header);
    if results["sizes"].get("repeat").is_some() {
        providers(&columns, compare, &mut out);
    }
    if results["sizes"].get("components").is_some() {
        components(results, &columns, compare, &mut out);
    }
    out
}

/// One table row: the first column's value, and with a comparison the second's and
/// the ratio.
fn cells(compare: bool, values: Vec<String>, ratio_text: String, row: &str, goal: &str) -> String {
    if compare {
        format!(
            "| {row} | {goal} | {} | {} | {ratio_text} |\n",
            values[0],
            values.get(1).cloned().unwrap_or_default()
        )
    } else {
        format!("| {row} | {goal} | {} |\n", values[0])
    }
}

/// The component rows.
fn components(results: &Value, columns: &[Value], compare: bool, out: &mut String) {
    let sizes = &results["sizes"]["components"];
    let figure = |c: &Value, key: &str| c["figures"]["components"][key].clone();
    let large = columns[0]["figures"]["components"]["large"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, component) in large.iter().enumerate() {
        let name = component["name"].as_str().unwrap_or("?");
        let size = columns
            .iter()
            .find_map(|c| c["figures"]["components"]["large"][i]["bytes"].as_f64())
            .map_or(String::new(), |b| format!(", {:.1} MB", b / 1e6));
        for (what, goal, key) in [
            (
                "cold: fresh host, empty compile cache, bytes never seen",
                "—",
                "scale_cold_ms",
            ),
            (
                "warm: again after a scale to 0",
                "≤ 50 ms",
                "scale_warm_rescale_ms",
            ),
            (
                "warm: after a host restart with the same cache",
                "≤ 50 ms",
                "scale_warm_restart_ms",
            ),
        ] {
            let values: Vec<Value> = columns
                .iter()
                .map(|c| c["figures"]["components"]["large"][i][key].clone())
                .collect();
            let texts = values.iter().map(|v| timed_to(v, "ms", 1)).collect();
            let r = ratio(
                values[0]["p50"].as_f64(),
                values.get(1).and_then(|v| v["p50"].as_f64()),
            );
            let row = format!("component.scale → component_scaled, `{name}`{size}; {what}");
            out.push_str(&cells(compare, texts, r, &row, goal));
        }
    }
    let timed_rows: [(&str, &str, &str, usize); 7] = [
        (
            "TCP round trip between two threads, no NATS (the machine's floor; a NATS request → reply is two)",
            "—",
            "tcp_round_trip_ms",
            3,
        ),
        (
            "NATS request → reply, no host (the transport's floor)",
            "—",
            "nats_round_trip_ms",
            3,
        ),
        (
            "NATS request → reply, no host, raw blocking sockets (no client library)",
            "—",
            "nats_round_trip_raw_ms",
            3,
        ),
        (
            "wRPC call, 1 hop (`add`), from the raw-socket client",
            "—",
            "wrpc_one_hop_raw_ms",
            3,
        ),
        (
            "wRPC call, 1 hop (`add`)",
            "p50 ≤ 0.15 ms",
            "wrpc_one_hop_ms",
            3,
        ),
        (
            "wRPC call, 2 hops (`calc.double` → link → `math.add`), both on one host",
            "p50 ≤ 0.3 ms",
            "wrpc_two_hops_ms",
            3,
        ),
        (
            "wRPC call, 2 hops, `calc` on a second host (same machine)",
            "p50 ≤ 0.3 ms",
            "wrpc_two_hops_across_ms",
            3,
        ),
    ];
    for (row, goal, key, decimals) in timed_rows {
        let values: Vec<Value> = columns.iter().map(|c| figure(c, key)).collect();
        let texts = values.iter().map(|v| timed_to(v, "ms", decimals)).collect();
        let r = ratio(
            values[0]["p50"].as_f64(),
            values.get(1).and_then(|v| v["p50"].as_f64()),
        );
        out.push_str(&cells(compare, texts, r, row, goal));
    }
    let window = sizes["throughput_window_s"].as_f64().unwrap_or_default();
    let steps = sizes["concurrency"].as_array().cloned().unwrap_or_default();
    for (i, concurrency) in steps.iter().enumerate() {
        let step = |c: &Value| figure(c, "wrpc_throughput")[i].clone();
        let rate = |c: &Value| step(c)["calls_per_s"].as_f64();
        let texts = columns
            .iter()
            .map(|c| {
                let s = step(c);
                match rate(c) {
                    Some(r) => {
                        let mut text = format!(
                            "{r:.0}/s ({} calls in {:.1} s",
                            s["calls"],
                            s["seconds"].as_f64().unwrap_or_default()
                        );
                        if s["errors"].as_u64().unwrap_or(0) > 0 {
                            text.push_str(&format!(
                                ", {} errors: {}",
                                s["errors"],
                                s["first_error"].as_str().unwrap_or("")
                            ));
                        }
                        text.push(')');
                        text
                    }
                    None => format!(
                        "— ({})",
                        figure(c, "wrpc_throughput")["error"]
                            .as_str()
                            .unwrap_or("not measured")
                    ),
                }
            })
            .collect();
        let r = ratio(columns.get(1).and_then(rate), rate(&columns[0]));
        out.push_str(&cells(
            compare,
            texts,
            r,
            &format!("wRPC calls/s (`add`), concurrency {concurrency}, {window:.0} s"),
            "—",
        ));
    }
    let counts = sizes["counts"].as_array().cloned().unwrap_or_default();
    for (i, n) in counts.iter().enumerate() {
        let step = |c: &Value| figure(c, "many")[i].clone();
        let error = |c: &Value| {
            format!(
                "— ({})",
                step(c)["error"].as_str().unwrap_or("not measured")
            )
        };
        let per = |c: &Value| step(c)["per_component_bytes"].as_f64();
        let texts = columns
            .iter()
            .map(|c| match per(c) {
                Some(b) => format!(
                    "{:.0} KB ({:.0} KB after one call each; host {:.1} MB idle, {:.1} MB with the first component)",
                    b / 1e3,
                    step(c)["per_component_called_bytes"]
                        .as_f64()
                        .unwrap_or_default()
                        / 1e3,
                    step(c)["idle_rss_bytes"].as_f64().unwrap_or_default() / 1e6,
                    step(c)["first_rss_bytes"].as_f64().unwrap_or_default() / 1e6
                ),
                None => error(c),
            })
            .collect();
        let r = ratio(per(&columns[0]), columns.get(1).and_then(per));
        out.push_str(&cells(
            compare,
            texts,
            r,
            &format!("host memory (RSS) per running component, N = {n}"),
            "—",
        ));
        let time = |c: &Value| step(c)["all_scaled_ms"].as_f64();
        let texts = columns
            .iter()
            .map(|c| match time(c) {
                Some(t) => {
                    let s = step(c);
                    let mut text = format!(
                        "{}/{n} scaled in {:.2} s; {} answered a call",
                        s["scaled"],
                        t / 1e3,
                        s["answered"]
                    );
                    if let Some(failure) = s["first_failure"].as_str() {
                        text.push_str(&format!("; first failure: {failure}"));
                    }
                    text
                }
                None => error(c),
            })
            .collect();
        let r = ratio(time(&columns[0]), columns.get(1).and_then(time));
        out.push_str(&cells(
            compare,
            texts,
            r,
            &format!("{n} small components on one host"),
            "all scaled and answering",
        ));
    }
}

/// The provider rows.
fn providers(columns: &[Value], compare: bool, out: &mut String) {
    let figure = |column: &Value, key: &str| column["figures"][key].clone();
    let cells =
        |values, ratio_text, row: &str, goal: &str| cells(compare, values, ratio_text, row, goal);
    for row in TIMED {
        let values: Vec<Value> = columns.iter().map(|c| figure(c, row.key)).collect();
        let texts = values.iter().map(|v| timed(v, row.unit)).collect();
        let r = ratio(
            values[0]["p50"].as_f64(),
            values.get(1).and_then(|v| v["p50"].as_f64()),
        );
        out.push_str(&cells(texts, r, row.figure, row.goal));
    }
    // Host idle memory: from the first scale step (measured before any provider starts).
    let idle = |c: &Value| c["figures"]["scale"][0]["idle_rss_bytes"].as_f64();
    let idle_anon = |c: &Value| c["figures"]["scale"][0]["idle_anon_bytes"].as_f64();
    let texts = columns
        .iter()
        .map(|c| match (idle(c), idle_anon(c)) {
            (Some(rss), Some(anon)) => {
                format!(
                    "{:.1} MB ({:.1} MB allocated: RssAnon)",
                    rss / 1e6,
                    anon / 1e6
                )
            }
            (Some(rss), None) => format!("{:.1} MB", rss / 1e6),
            _ => "—".into(),
        })
        .collect();
    out.push_str(&cells(
        texts,
        ratio(idle(&columns[0]), columns.get(1).and_then(idle)),
        "host idle memory (RSS)",
        "≤ 10 MB",
    ));
    let archives = |c: &Value, k: &str| c["figures"]["archives"][k].as_f64();
    for (key, name, goal) in [
        (
            "one_archive_per_provider_anon_bytes",
            "host memory per provider (allocated: RssAnon), 10 providers from one archive",
            "≤ 100 KB",
        ),
        (
            "distinct_archives_per_provider_anon_bytes",
            "host memory per provider (allocated: RssAnon), 10 providers from 10 distinct archives",
            "≤ 100 KB",
        ),
        (
            "one_archive_per_further_provider_bytes",
            "host RSS per provider after the first, one archive",
            "≤ 100 KB",
        ),
        (
            "distinct_archives_per_further_provider_bytes",
            "host RSS per provider after the first, 10 distinct archives",
            "≤ 100 KB",
        ),
        (
            "one_archive_per_provider_bytes",
            "host RSS per provider (with the host's code paged in by the first starts), one archive",
            "—",
        ),
        (
            "distinct_archives_per_provider_bytes",
            "host RSS per provider (with the host's code paged in by the first starts), 10 distinct archives",
            "—",
        ),
    ] {
        let texts = columns
            .iter()
            .map(|c| match archives(c, key) {
                Some(b) => format!(
                    "{:.0} KB (archives of {:.1} MB)",
                    b / 1e3,
                    archives(c, "archive_bytes").unwrap_or_default() / 1e6
                ),
                None => format!(
                    "— ({})",
                    c["figures"]["archives"]["error"]
                        .as_str()
                        .unwrap_or("not measured")
                ),
            })
            .collect();
        let r = ratio(
            archives(&columns[0], key),
            columns.get(1).and_then(|c| archives(c, key)),
        );
        out.push_str(&cells(texts, r, name, goal));
    }
    let steps = columns[0]["figures"]["scale"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let n = &step["n"];
        let at = |c: &Value, k: &str| c["figures"]["scale"][i][k].as_f64();
        let texts = columns
            .iter()
            .map(|c| {
                at(c, "per_provider_bytes")
                    .map_or_else(|| err(c, i), |b| format!("{:.0} KB", b / 1e3))
            })
            .collect();
        let r = ratio(
            at(&columns[0], "per_provider_bytes"),
            columns.get(1).and_then(|c| at(c, "per_provider_bytes")),
        );
        out.push_str(&cells(
            texts,
            r,
            &format!("per-provider host overhead, N = {n}"),
            "≤ 100 KB",
        ));
        let texts = columns
            .iter()
            .map(|c| match (at(c, "healthy"), at(c, "all_healthy_ms"), at(c, "idle_cpu_percent")) {
                (Some(h), Some(t), Some(cpu)) => {
                    let get = c["figures"]["scale"][i]["host_get_ms"]["p50"].as_f64().unwrap_or_default();
                    format!("{h:.0} healthy in {:.2} s; idle CPU {cpu:.2} %; host.get p50 {get:.1} ms", t / 1e3)
                }
                _ => err(c, i),
            })
            .collect();
        let r = ratio(
            at(&columns[0], "all_healthy_ms"),
            columns.get(1).and_then(|c| at(c, "all_healthy_ms")),
        );
        out.push_str(&cells(
            texts,
            r,
            &format!("scale, N = {n}"),
            "all healthy; idle CPU < 2 %",
        ));
    }
    let tp = |c: &Value, k: &str| c["figures"]["control_throughput_per_s"][k].as_f64();
    for (key, name) in [
        ("link_put", "control throughput, link.put"),
        ("config_put", "control throughput, config.put"),
    ] {
        let texts = columns
            .iter()
            .map(|c| tp(c, key).map_or("—".into(), |v| format!("{v:.0}/s")))
            .collect();
        let r = ratio(
            columns.get(1).and_then(|c| tp(c, key)),
            tp(&columns[0], key),
        );
        out.push_str(&cells(texts, r, name, "≥ 2,000/s"));
    }
}

fn err(column: &Value, step: usize) -> String {
    format!(
        "— ({})",
        column["figures"]["scale"][step]["error"]
            .as_str()
            .unwrap_or("not measured")
    )
}
