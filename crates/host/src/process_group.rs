//! Child-process hygiene shared by everything the host spawns.
//!
//! Children run in their own process group (so a Ctrl-C at the terminal reaches only
//! the host, which then stops them in order) and, on Linux, get a parent-death signal
//! so they never outlive a host that is killed outright.
//!
//! The parent-death signal fires when the *thread* that spawned the child exits. Spawn
//! only from async tasks on runtime worker threads (which live as long as the runtime),
//! never from `spawn_blocking`, whose threads exit when idle.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Puts the child in a new process group and, on Linux, arranges SIGKILL on parent death.
pub(crate) fn isolate(cmd: &mut tokio::process::Command) {
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    set_parent_death_signal(cmd);
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut tokio::process::Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent may have died between fork and prctl: then nobody would signal us.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other(
                    "parent exited before the child started",
                ));
            }
            Ok(())
        });
    }
}

/// Sends `signal` to the process group led by `pid` (a child started with [`isolate`]).
pub(crate) fn signal_group(pid: u32, signal: Signal) -> nix::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| nix::errno::Errno::ESRCH)?;
    killpg(Pid::from_raw(pid), signal)
}
