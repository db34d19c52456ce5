//! The processes of one run, found by process group in `/proc`, and reaped when they
//! were left to the test process.

use std::fmt;
use std::fs;
use std::sync::Once;

use nix::sys::prctl;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpid};

/// One process of a run's group, as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its process id.
    pub pid: i32,
    /// Its parent's process id.
    pub ppid: i32,
    /// `R`, `S`, `D`, `Z` (zombie), …
    pub state: char,
    /// The executable's name, as the kernel keeps it (at most 15 bytes).
    pub comm: String,
}

impl Member {
    /// Whether it has exited and waits to be reaped.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.is_zombie() { "zombie" } else { "process" };
        write!(f, "{what} {} ({}, parent {})", self.pid, self.comm, self.ppid)
    }
}

/// Makes the test process adopt the orphans of every process it starts.
pub(crate) fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    });
}

/// Every process whose process group is `group`, zombies included.
pub(crate) fn members(group: Pid) -> Vec<Member> {
    let Ok(proc) = fs::read_dir("/proc") else { return Vec::new() };
    proc.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            // A process can end between the listing and this read: then it is gone.
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let mut rest = stat[close + 1..].split_whitespace();
            let state = rest.next()?.chars().next()?;
            let ppid = rest.next()?.parse().ok()?;
            let pgrp: i32 = rest.next()?.parse().ok()?;
            let comm = stat[open + 1..close].to_string();
            (pgrp == group.as_raw()).then_some(Member { pid, ppid, state, comm })
        })
        .collect()
}

/// Reaps the zombies of `group` that were handed to the test process when their parent
/// died. The binary itself (pid `group`) is left to its `Child` handle.
pub(crate) fn reap_orphans(group: Pid) {
    let me = getpid().as_raw();
    for m in members(group) {
        if m.is_zombie() && m.ppid == me && m.pid != group.as_raw() {
            let _ = waitpid(Pid::from_raw(m.pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

pub(crate) fn describe(members: &[Member]) -> String {
    members.iter().map(Member::to_string).collect::<Vec<_>>().join(", ")
}
