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
    match (value.get("p50"), value.get("p99")) {
        (Some(p50), Some(p99)) => format!(
            "p50 {:.1} {unit}, p99 {:.1} {unit} (n={})",
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
    out.push('\n');
    let header = if compare {
        "| figure | goal | lattice | compared | compared / lattice (p50) |\n|---|---|---|---|---|\n"
    } else {
        "| figure | goal | lattice |\n|---|---|---|\n"
    };
    out.push_str(header);
    let figure = |column: &Value, key: &str| column["figures"][key].clone();
    let cells = |values: Vec<String>, ratio_text: String, row: &str, goal: &str| -> String {
        if compare {
            format!(
                "| {row} | {goal} | {} | {} | {ratio_text} |\n",
                values[0],
                values.get(1).cloned().unwrap_or_default()
            )
        } else {
            format!("| {row} | {goal} | {} |\n", values[0])
        }
    };
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
    let texts = columns
        .iter()
        .map(|c| idle(c).map_or("—".into(), |b| format!("{:.1} MB", b / 1e6)))
        .collect();
    out.push_str(&cells(
        texts,
        ratio(idle(&columns[0]), columns.get(1).and_then(idle)),
        "host idle memory (RSS)",
        "≤ 10 MB",
    ));
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
    out
}

fn err(column: &Value, step: usize) -> String {
    format!(
        "— ({})",
        column["figures"]["scale"][step]["error"]
            .as_str()
            .unwrap_or("not measured")
    )
}
