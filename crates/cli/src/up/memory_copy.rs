//! Non-temporal copies for resetting component memory.
//!
//! When an instance ends, wasmtime resets its pool slot's linear memory to the
//! component's image with glibc's `memcpy`: 8.5 MB for a componentize-js hello world,
//! 12 MB for a componentize-py one, on every request. glibc copies around the cache
//! (non-temporal stores) only above `x86_non_temporal_threshold`, which it derives from
//! the cache size the CPU reports: 240 MiB on the machines we measured, so every reset
//! went through the cache, reading each destination line before writing it and evicting
//! what the next request needs. With the threshold at 1 MiB the reset writes around the
//! cache (docs/benchmarks.md, "Resetting memory around the cache").
//!
//! glibc reads its tunables only when a process starts, so `lattice up` re-executes
//! itself once, first thing, before any thread, file or child exists: the same binary,
//! arguments, name, process id and environment, with the threshold added to
//! `GLIBC_TUNABLES` (and `LATTICE_REEXECUTED_FOR_TUNABLES=1`, so that it happens at most
//! once). Providers inherit neither: their environment is cleared.

use std::ffi::{OsStr, OsString};

use clap::Args;

/// The tunable, as `GLIBC_TUNABLES` names it.
const TUNABLE: &str = "glibc.cpu.x86_non_temporal_threshold";
/// Copies of this many bytes or more go around the cache.
const THRESHOLD: &str = "0x100000";
/// Set for the re-executed process, so that it never re-executes again.
const REEXECUTED: &str = "LATTICE_REEXECUTED_FOR_TUNABLES";
/// This very binary, even if its file was replaced since the process started.
const SELF: &str = "/proc/self/exe";

#[derive(Debug, Args)]
pub(crate) struct MemoryCopyArgs {
    /// Reset component memory with non-temporal copies, around the CPU cache (`true` or
    /// `false`; lattice addition, default true). On x86_64 Linux with glibc the host then
    /// starts by re-executing itself once (same process id) with
    /// GLIBC_TUNABLES=glibc.cpu.x86_non_temporal_threshold=0x100000 added, so copies of
    /// 1 MiB or more skip the cache; a GLIBC_TUNABLES that already sets that threshold is
    /// left as it is.
    #[arg(
        long,
        env = "LATTICE_NON_TEMPORAL_RESET",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    non_temporal_reset: bool,
}

/// How component memory is reset in this process, for the start-up log.
#[derive(Debug)]
pub(crate) enum MemoryCopy {
    /// Copies of 1 MiB or more go around the cache.
    AroundTheCache,
    /// `GLIBC_TUNABLES` set the threshold before lattice did: kept.
    ThresholdGiven(String),
    /// `--non-temporal-reset false`.
    Off,
    /// Not x86_64 Linux with glibc: no such tunable.
    NotSupported,
    /// The re-execution failed; the host runs on with glibc's default.
    ReexecFailed(String),
}

impl MemoryCopyArgs {
    /// Makes copies of 1 MiB or more non-temporal: returns what holds now, or re-executes
    /// the process (and does not return) when `GLIBC_TUNABLES` does not set the threshold
    /// yet. Call before any thread starts; `argv` is the command line as given.
    pub(crate) fn apply(&self, argv: &[OsString]) -> MemoryCopy {
        if !self.non_temporal_reset {
            return MemoryCopy::Off;
        }
        if !cfg!(all(
            target_os = "linux",
            target_env = "gnu",
            target_arch = "x86_64"
        )) {
            return MemoryCopy::NotSupported;
        }
        let current = std::env::var_os("GLIBC_TUNABLES");
        if let Some(given) = threshold_in(current.as_deref()) {
            return if given == THRESHOLD {
                keep_name(argv);
                MemoryCopy::AroundTheCache
            } else {
                MemoryCopy::ThresholdGiven(given)
            };
        }
        if std::env::var_os(REEXECUTED).is_some() {
            // Never a loop, whatever a glibc makes of the variable.
            return MemoryCopy::ReexecFailed(format!(
                "re-executed once already, yet GLIBC_TUNABLES does not set {TUNABLE}"
            ));
        }
        MemoryCopy::ReexecFailed(reexec(argv, &with_threshold(current.as_deref())))
    }
}

impl MemoryCopy {
    /// Logs what holds, once logging is up.
    pub(crate) fn log(&self) {
        match self {
            MemoryCopy::AroundTheCache => tracing::debug!(
                "component memory is reset with non-temporal copies ({TUNABLE}={THRESHOLD})"
            ),
            MemoryCopy::ThresholdGiven(given) => tracing::info!(
                "GLIBC_TUNABLES sets {TUNABLE}={given}; component memory resets copy by it"
            ),
            MemoryCopy::Off | MemoryCopy::NotSupported => {}
            MemoryCopy::ReexecFailed(error) => tracing::warn!(
                "cannot re-execute the host to reset component memory with non-temporal \
                 copies ({error}); it runs with glibc's default copies"
            ),
        }
    }
}

/// The threshold a `GLIBC_TUNABLES` value sets, if it sets one (the last one counts).
fn threshold_in(tunables: Option<&OsStr>) -> Option<String> {
    let tunables = tunables?.to_string_lossy();
    tunables
        .rsplit(':')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == TUNABLE)
        .map(|(_, value)| value.to_string())
}

/// `tunables` with the threshold added.
fn with_threshold(tunables: Option<&OsStr>) -> OsString {
    let mut value = OsString::new();
    if let Some(tunables) = tunables.filter(|t| !t.is_empty()) {
        value.push(tunables);
        value.push(":");
    }
    value.push(format!("{TUNABLE}={THRESHOLD}"));
    value
}

/// Replaces this process with `/proc/self/exe argv…` (this very binary, even if its file
/// was replaced since) and `GLIBC_TUNABLES=tunables`; returns only why that failed.
fn reexec(argv: &[OsString], tunables: &OsStr) -> String {
    use std::os::unix::process::CommandExt as _;
    let Some((arg0, args)) = argv.split_first() else {
        return "no command line".into();
    };
    std::process::Command::new(SELF)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .env(REEXECUTED, "1")
        .exec()
        .to_string()
}

/// Executed as `/proc/self/exe`, the process is named `exe`: give it back the name it
/// was started under (`lattice`, or `wasmcloud` through a link of that name), which
/// `ps`, `pgrep` and `top` show.
fn keep_name(argv: &[OsString]) {
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    if comm.trim_end() != "exe" {
        return;
    }
    let Some(name) = argv
        .first()
        .and_then(|arg0| std::path::Path::new(arg0).file_name())
    else {
        return;
    };
    // The kernel keeps the first 15 bytes.
    let _ = std::fs::write("/proc/self/comm", name.as_encoded_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_added_to_what_glibc_tunables_holds() {
        assert_eq!(
            with_threshold(None),
            "glibc.cpu.x86_non_temporal_threshold=0x100000"
        );
        assert_eq!(
            with_threshold(Some(OsStr::new(""))),
            "glibc.cpu.x86_non_temporal_threshold=0x100000"
        );
        assert_eq!(
            with_threshold(Some(OsStr::new("glibc.malloc.arena_max=2"))),
            "glibc.malloc.arena_max=2:glibc.cpu.x86_non_temporal_threshold=0x100000"
        );
    }

    #[test]
    fn a_threshold_already_set_is_found() {
        assert_eq!(threshold_in(None), None);
        assert_eq!(
            threshold_in(Some(OsStr::new("glibc.malloc.arena_max=2"))),
            None
        );
        assert_eq!(
            threshold_in(Some(OsStr::new(
                "glibc.malloc.arena_max=2:glibc.cpu.x86_non_temporal_threshold=0x4040"
            ))),
            Some("0x4040".into())
        );
        assert_eq!(
            threshold_in(Some(OsStr::new(&with_threshold(Some(OsStr::new("a=1")))))),
            Some(THRESHOLD.into())
        );
    }
}
