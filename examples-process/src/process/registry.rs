//! Who this process is and which children it has: the registries behind
//! `current_process`, `parent_process`, `active_children` and `passed_fds`.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::current_pid;
use crate::handover::Gate;
use crate::start::Launch;

use super::ProcessInfo;
use super::child::Child;

/// The calling process: `MainProcess` in the program that was run, the child's name
/// inside a child.
///
/// ```
/// let me = examples_process::current_process();
/// assert_eq!(me.name, "MainProcess");
/// assert_eq!(me.pid, std::process::id() as i32);
/// ```
pub fn current_process() -> ProcessInfo {
    CURRENT.lock().current()
}

/// The process that started this one (CPython: `parent_process()`), with the name it
/// had then; `None` in the program's first process.
///
/// ```
/// use examples_process::{Process, current_process, parent_process};
///
/// assert_eq!(parent_process(), None); // the main process has none
/// let me = current_process();
/// let mut child = Process::new(move || {
///     let parent = parent_process().expect("a child has a parent");
///     assert_eq!((parent.name.as_str(), parent.pid), ("MainProcess", me.pid));
/// });
/// child.start()?;
/// assert_eq!(child.join()?, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn parent_process() -> Option<ProcessInfo> {
    CURRENT.lock().parent.clone()
}

/// The children this process started that are still running. Like CPython, it reaps
/// the ones that have ended (their handles still report the exit code).
///
/// ```
/// use std::time::Duration;
/// use examples_process::{Process, active_children};
///
/// let mut quick = Process::new(|| {});
/// let mut slow = Process::new(|| std::thread::sleep(Duration::from_millis(300)));
/// quick.start()?;
/// slow.start()?;
/// quick.join()?;
/// let names: Vec<String> = active_children().into_iter().map(|c| c.name).collect();
/// assert_eq!(names, ["Process-2"]);
/// slow.join()?;
/// assert!(active_children().is_empty());
/// assert_eq!(quick.exitcode(), Some(0)); // still known after active_children reaped
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn active_children() -> Vec<ProcessInfo> {
    reap_handed_over();
    let mut children = CHILDREN.lock();
    let alive: Vec<Arc<Child>> = children
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|c| !c.held() && matches!(c.reap(), Ok(None)))
        .collect();
    *children = alive.iter().map(Arc::downgrade).collect();
    alive
        .iter()
        .map(|c| ProcessInfo {
            name: c.name.clone(),
            pid: c.pid.as_raw(),
            daemon: c.daemon,
            exitcode: None,
        })
        .collect()
}

/// Who this process is, for names: `MainProcess` (no name, identity `[]`), or a child.
pub(super) struct Identity {
    /// This process, if it is a child started by `Process` (else it is `MainProcess`).
    pub(super) me: Option<ProcessInfo>,
    /// The process that started this one.
    pub(super) parent: Option<ProcessInfo>,
    pub(super) identity: Vec<u32>,
    pub(super) created: u32,
    /// Where children wait for this process to finish starting them.
    pub(super) gate: Option<Gate>,
}

impl Identity {
    pub(super) fn next_child_identity(&mut self) -> Vec<u32> {
        self.created += 1;
        let mut id = self.identity.clone();
        id.push(self.created);
        id
    }

    /// This process as `current_process` reports it.
    pub(super) fn current(&self) -> ProcessInfo {
        let main = || ProcessInfo {
            name: "MainProcess".into(),
            pid: current_pid(),
            daemon: false,
            exitcode: None,
        };
        self.me.clone().map_or_else(main, |me| ProcessInfo { pid: current_pid(), ..me })
    }

    /// What a child of this process, `me` with `identity`, will be (made in the parent,
    /// before `fork`, so that a forked child allocates nothing to become it).
    pub(super) fn for_child(&self, me: ProcessInfo, identity: &[u32], parent_pid: i32) -> Self {
        Identity {
            parent: Some(ProcessInfo { pid: parent_pid, ..self.current() }),
            me: Some(me),
            identity: identity.to_vec(),
            created: 0,
            gate: None,
        }
    }

    /// Becomes `child` (see [`for_child`](Self::for_child)), keeping the gate. What
    /// this process was is forgotten, not dropped: in a forked child, freeing it would
    /// write to pages still shared with the parent (a page fault each) for memory that
    /// goes when the child exits.
    pub(super) fn become_child(&mut self, mut child: Identity) {
        child.gate = self.gate.take();
        std::mem::forget(std::mem::replace(self, child));
    }
}

pub(super) static CURRENT: Mutex<Identity> =
    Mutex::new(Identity { me: None, parent: None, identity: Vec::new(), created: 0, gate: None });
/// The children started by this process whose handles still exist.
pub(super) static CHILDREN: Mutex<Vec<Weak<Child>>> = Mutex::new(Vec::new());
/// Children whose handles were moved into another child: that child decides when they
/// end, and this process reaps them.
pub(super) static HANDED_OVER: Mutex<Vec<Arc<Child>>> = Mutex::new(Vec::new());

/// Reaps the handed-over children that have ended; never waits.
pub(super) fn reap_handed_over() {
    HANDED_OVER.lock().retain(|c| matches!(c.reap(), Ok(None)));
}

/// Descriptors passed to this process by its parent with `pass_fd`, until taken.
pub(super) static PASSED: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// Takes the file descriptors that the parent handed to this child with
/// [`Process::pass_fd`](super::Process::pass_fd), in the order they were passed (CPython: a `Connection` or
/// socket in the target's arguments). Empty in the main process, and after the first
/// call.
pub fn passed_fds() -> Vec<OwnedFd> {
    std::mem::take(&mut *PASSED.lock())
}

/// In a child started by spawn or a fork server: become the process `launch` describes.
pub(crate) fn become_launched(launch: &Launch, passed: Vec<OwnedFd>) {
    let me = ProcessInfo {
        name: launch.name.clone(),
        pid: current_pid(),
        daemon: launch.daemon,
        exitcode: None,
    };
    let mut current = CURRENT.lock();
    let child = current.for_child(me, &launch.identity, launch.parent_pid);
    current.become_child(child);
    if let Some(parent) = &mut current.parent {
        parent.name = launch.parent_name.clone();
        parent.daemon = launch.parent_daemon;
    }
    drop(current);
    CHILDREN.lock().clear(); // a fork server's children are not ours
    *PASSED.lock() = passed;
}
