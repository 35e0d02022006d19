//! `--feature` (`WASMCLOUD_EXPERIMENTAL_FEATURES`): the official host's experimental
//! features. The builtin providers are on by default in lattice, so their names are
//! accepted and change nothing; the other 1.9.2 features are refused by name.

use lattice_host::BuiltinKind;

/// 1.9.2 features lattice does not implement yet, with what is missing.
const NOT_YET: &[(&str, &str)] = &[
    ("wasmcloud-messaging-v3", "wasmcloud:messaging@0.3.0"),
    ("workload-identity-auth", "workload identity (SPIFFE)"),
    ("workload-identity-interface", "workload identity (SPIFFE)"),
];

/// Accepts the builtin feature names; refuses the others, naming each.
pub(crate) fn check(features: &[String]) -> anyhow::Result<()> {
    let mut refused = Vec::new();
    for feature in features.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
        if BuiltinKind::ALL.iter().any(|b| b.feature() == feature) {
            continue;
        }
        match NOT_YET.iter().find(|(name, _)| *name == feature) {
            Some((name, missing)) => refused.push(format!(
                "--feature {name} (WASMCLOUD_EXPERIMENTAL_FEATURES) is not supported yet: {missing}"
            )),
            None => refused.push(format!(
                "--feature {feature} (WASMCLOUD_EXPERIMENTAL_FEATURES) is not a feature of wasmCloud 1.9.2 (known: {}, {})",
                BuiltinKind::ALL.map(BuiltinKind::feature).join(", "),
                NOT_YET.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )),
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "this host cannot honour these official settings, so it does not start:\n  {}",
        refused.join("\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_features_are_accepted_and_the_others_refused_by_name() {
        let builtins: Vec<String> = BuiltinKind::ALL
            .iter()
            .map(|b| b.feature().into())
            .collect();
        check(&builtins).unwrap();
        check(&[String::new()]).unwrap();
        let error = check(&["workload-identity-auth".into(), "teleport".into()])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--feature workload-identity-auth (WASMCLOUD_EXPERIMENTAL_FEATURES) is not supported yet: workload identity"),
            "{error}"
        );
        assert!(
            error.contains("--feature teleport (WASMCLOUD_EXPERIMENTAL_FEATURES) is not a feature"),
            "{error}"
        );
    }
}
