//! Spawn: this program run again, as the child.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::unistd::Pid;

use super::forkserver::{self, Served};
use super::{Launch, child_role, launch_memfd, on_main_thread, spawn_self};

/// Starts this program again as the child of `launch`; `passed` stay open in it.
/// Returns its pid, and its record if a fork server started it.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that started the child ends, not the
/// process. So only the main thread, which lasts as long as the process, starts a
/// spawned child itself; any other thread asks the fork server to (the server watches
/// this process, not a thread, and its children die with it).
pub(crate) fn spawn(launch: &Launch, passed: &[OwnedFd]) -> io::Result<(Pid, Option<Served>)> {
    if !on_main_thread() {
        return forkserver::start(launch, passed, true).map(|served| (served.pid, Some(served)));
    }
    let memfd = launch_memfd(launch)?;
    let mut keep: Vec<RawFd> = passed.iter().map(AsRawFd::as_raw_fd).collect();
    let role = child_role(memfd.as_raw_fd(), &keep);
    keep.push(memfd.as_raw_fd());
    let pid = spawn_self(role, keep, true)?; // the memfd stays open until the child has it
    Ok((pid, None))
}
