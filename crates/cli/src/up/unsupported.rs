//! The official flags (and variables) that lattice does not implement yet, accepted by
//! the parser only so that `lattice up` can refuse them by name (see `official.rs`).

use clap::Args;

/// Hidden; every field is one `Fate::NotYet` row of the official table.
#[derive(Debug, Default, Args)]
pub(crate) struct Unsupported {
    #[arg(long, env = "WASMCLOUD_FLAME_GRAPH", hide = true)]
    flame_graph: Option<String>,
}

impl Unsupported {
    /// Whether the official flag `flag` (or its variable) was given a value that asks
    /// for something (a switch set to `false` asks for nothing).
    pub(crate) fn given(&self, flag: &str) -> bool {
        let value = match flag {
            "flame-graph" => &self.flame_graph,
            _ => return false,
        };
        value.as_deref().is_some_and(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "false" | "0" | "no" | "off"
            )
        })
    }
}
