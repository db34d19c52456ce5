//! Starting a child: the fork (or the hand-over to a start method), the gate the child
//! waits at until the parent has dropped its copy of the target (if it has a `Drop`),
//! and the child's exit.

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid, fork, getppid};

use parking_lot::Mutex;

use crate::handover::{self, Gate};
use crate::start::{self, Launch, Portable, Served, StartMethod};
use crate::{current_pid, signals};

use super::child::Child;
use super::registry::{CHILDREN, CURRENT, HANDED_OVER, PASSED};
use super::{Process, ProcessInfo, Target};

impl Process {
    /// Forks the child, which runs the target and exits.
    ///
    /// Errors: started twice (CPython: "cannot start a process twice"), the calling
    /// process runs more than one thread, or the OS refused to fork; each message names
    /// the process and what failed.
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| panic!("the child fails"));
    /// p.start()?;
    /// assert!(p.start().is_err()); // cannot start a process twice
    /// assert_eq!(p.join()?, 1); // a panic is exit code 1, as an exception is in CPython
    ///
    /// let helper = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
    /// let err = Process::new(|| {}).start().unwrap_err(); // two threads now: no fork
    /// assert!(err.to_string().contains("refusing to fork"));
    /// helper.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(&mut self) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::other(format!("{}: process object is closed", self.name)));
        }
        let Some(target) = self.target.take() else {
            return Err(io::Error::other(format!("cannot start {} twice", self.name)));
        };
        if let Err(e) = start::check_guarded() {
            self.target = Some(target);
            return Err(io::Error::new(e.kind(), format!("cannot start {}: {e}", self.name)));
        }
        let why = match (self.method, target) {
            (StartMethod::Fork, target @ (Target::Closure { .. } | Target::Call(_))) => {
                return self.fork(target);
            }
            (_, Target::Call(portable)) => return self.launch(portable),
            (_, target @ Target::Unsendable(_)) => {
                let why = match &target {
                    Target::Unsendable(e) => format!("its arguments cannot be serialised: {e}"),
                    _ => String::new(),
                };
                self.target = Some(target);
                why
            }
            (_, target @ Target::Closure { .. }) => {
                self.target = Some(target);
                "a closure cannot cross exec; make the process with Process::call(f, args)".into()
            }
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot start {} with {}: {why}", self.name, self.method),
        ))
    }

    /// Starts the child with spawn or forkserver.
    fn launch(&mut self, portable: Portable) -> io::Result<()> {
        let launch = Launch::new(self.name.clone(), self.identity.clone(), self.daemon, portable);
        let started = match self.method {
            StartMethod::Spawn => start::spawn(&launch, &self.fds),
            _ => start::forkserver::start(&launch, &self.fds, false).map(|s| (s.pid, Some(s))),
        };
        let (pid, served) = started.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start {} with {}: {e}", self.name, self.method),
            )
        })?;
        self.fds.clear(); // the child has its copies
        self.record(pid, served);
        Ok(())
    }

    /// Keeps the started child's record, in the handle and in the table that
    /// `active_children` reads.
    fn record(&mut self, pid: Pid, served: Option<Served>) -> Arc<Child> {
        let child = Arc::new(Child {
            pid,
            name: self.name.clone(),
            daemon: self.daemon,
            parent: Pid::from_raw(current_pid()),
            exitcode: Mutex::new(None),
            sentinel: OnceLock::new(),
            holder: OnceLock::new(),
            served,
            launched: self.method != StartMethod::Fork,
        });
        // Only a weak reference: the table must not keep a child's record alive after
        // its handle is gone.
        let mut children = CHILDREN.lock();
        children.retain(|c| c.strong_count() > 0);
        children.push(Arc::downgrade(&child));
        drop(children);
        self.child = Some(Arc::clone(&child));
        child
    }

    /// The child's place at the gate, if it must wait at one: only if the parent has
    /// something to hand over, a closure that captured values with a `Drop` (skipping
    /// it saves the child a sleep and the parent a wake-up in most starts).
    fn gate_ticket(&self, target: &Target) -> io::Result<Option<handover::Ticket>> {
        if !matches!(target, Target::Closure { drops: true, .. }) {
            return Ok(None);
        }
        let mut current = CURRENT.lock();
        let gate = Gate::for_this_process(&mut current.gate)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", self.name)))?;
        Ok(Some(gate.next_ticket()))
    }

    /// Starts the child with fork.
    fn fork(&mut self, target: Target) -> io::Result<()> {
        if let Err(e) = wait_until_single_threaded() {
            self.target = Some(target);
            return Err(io::Error::new(e.kind(), format!("cannot start {}: {e}", self.name)));
        }
        // Anything still buffered would be printed twice: once by each process. (If
        // standard output has failed, there is nothing to save. Rust's standard error
        // is not buffered.)
        let _ = io::stdout().flush();
        let parent = Pid::from_raw(current_pid()); // cached: no system call
        let ticket = self.gate_ticket(&target)?;
        let me =
            ProcessInfo { name: self.name.clone(), pid: 0, daemon: self.daemon, exitcode: None };
        let mut child_identity = CURRENT.lock().for_child(me, &self.identity, parent.as_raw());
        // SAFETY: the process is single-threaded (checked above), so no lock can be
        // held by a thread that does not exist in the child.
        match unsafe { fork() } {
            Err(e) => {
                self.target = Some(target); // not started: it may be tried again
                Err(io::Error::new(
                    io::Error::from(e).kind(),
                    format!("cannot start {}: fork failed: {}", self.name, io::Error::from(e)),
                ))
            }
            Ok(ForkResult::Child) => {
                if let Some(me) = &mut child_identity.me {
                    me.pid = current_pid();
                }
                CURRENT.lock().become_child(child_identity);
                // The parent's children are not ours: forgotten (weak references: nothing
                // to close), not dropped, as in `become_child`.
                std::mem::forget(std::mem::take(&mut *CHILDREN.lock()));
                HANDED_OVER.lock().clear();
                signals::restore_in_child();
                // Die with the parent. If the parent died before this call, the signal
                // will never come: we were adopted, so check and leave.
                let _ = prctl::set_pdeathsig(Signal::SIGKILL);
                if getppid() != parent {
                    exit_child(-1);
                }
                // The parent drops its copy of the target first (see `moving_to_child`).
                if let Some(ticket) = ticket {
                    ticket.wait();
                }
                *PASSED.lock() = std::mem::take(&mut self.fds);
                match target {
                    Target::Closure { run, .. } => {
                        let outcome = panic::catch_unwind(AssertUnwindSafe(run));
                        exit_child(if outcome.is_ok() { 0 } else { 1 });
                    }
                    Target::Call(portable) => portable.run(),
                    Target::Unsendable(_) => unreachable!("refused before the fork"),
                }
            }
            Ok(ForkResult::Parent { child: pid }) => {
                self.record(pid, None);
                self.fds.clear(); // the child has its copies
                // What the target captured now belongs to the child: the parent's
                // copies are dropped, with `moving_to_child()` saying so, before the
                // child may run. The gate opens even if one of those drops panics (the
                // panic goes on to the caller, whose handle then ends the child).
                if ticket.is_some() {
                    let gate = OpenOnDrop(ticket);
                    handover::hand_over(pid.as_raw(), || drop(target));
                    drop(gate);
                } // else nothing it captured has a `Drop`: dropped as it goes
                Ok(())
            }
        }
    }
}

impl Target {
    /// A closure as a target, with whether what it captured has a `Drop`.
    pub(super) fn closure<F: FnOnce() + Send + 'static>(run: F) -> Target {
        Target::Closure { run: Box::new(run), drops: std::mem::needs_drop::<F>() }
    }
}

/// Opens a child's gate when dropped: after the parent's copies of the target are
/// dropped, or while a panic in one of those drops unwinds.
struct OpenOnDrop(Option<handover::Ticket>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        if let Some(ticket) = self.0.take() {
            ticket.open();
        }
    }
}

/// Leaves the child: flush what it printed (standard output; standard error is not
/// buffered), then `_exit` (no destructors, no atexit).
pub(crate) fn exit_child(code: i32) -> ! {
    let _ = io::stdout().flush();
    // SAFETY: `_exit` is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// Succeeds once this process runs one thread. A thread that was just joined can stay
/// listed for a moment while the kernel finishes its exit (`pthread_join` returns
/// before the thread is unlisted), so look again for a little while before refusing.
fn wait_until_single_threaded() -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(20);
    loop {
        // One `stat`: procfs counts a process's threads in its task directory's links
        // (threads + 2).
        let task = rustix::fs::stat("/proc/self/task").map_err(|e| {
            let why = format!("cannot count this process's threads ({e}), and fork needs one");
            start::proc_needed(io::Error::new(io::Error::from(e).kind(), why))
        })?;
        let threads = task.st_nlink.saturating_sub(2);
        if threads == 1 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "refusing to fork: this process runs {threads} threads; join them first, \
                 or start it with StartMethod::Spawn or StartMethod::Forkserver"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
