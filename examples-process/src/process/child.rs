//! What a parent keeps about each child it started: its pid and pidfd, its exit code
//! once reaped, and who holds its handle.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{OnceLock, Weak};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::signal::{Signal, kill};
use nix::sys::time::TimeSpec;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;

use parking_lot::Mutex;

use crate::current_pid;
use crate::start::{self, Served};

/// One started child, shared between its `Process` handle and the table that
/// `active_children` reads, so whichever reaps it first records the exit code for both.
///
/// It holds no file descriptor (a child forked later would inherit it): its pid is
/// enough. Until this process reaps it, the kernel keeps that pid for it, even after
/// it exits (a zombie), so signalling and waiting by pid cannot hit another process;
/// every use of the pid happens under the `exitcode` lock, which the reaping holds.
pub(super) struct Child {
    pub(super) pid: Pid,
    pub(super) name: String,
    pub(super) daemon: bool,
    pub(super) parent: Pid,
    pub(super) exitcode: Mutex<Option<i32>>,
    /// A pidfd, opened only if `sentinel` is asked for.
    pub(super) sentinel: OnceLock<OwnedFd>,
    /// The child the handle was moved into, if it was (see `held`).
    pub(super) holder: OnceLock<Weak<Child>>,
    /// A child of a fork server: its pidfd and the socket its exit code comes on.
    pub(super) served: Option<Served>,
    /// Started by spawn or a fork server: it shares no memory with this process (see
    /// `reap`).
    pub(super) launched: bool,
}

impl Child {
    /// Whether this process started it (only the parent can wait for a child).
    pub(super) fn is_ours(&self) -> bool {
        self.parent.as_raw() == current_pid()
    }

    /// An error unless this process started it: only the parent can join a child.
    pub(super) fn check_ours(&self) -> io::Result<()> {
        if self.is_ours() {
            return Ok(());
        }
        Err(io::Error::other(format!(
            "can only join a child process; {} was started by pid {}",
            self.name, self.parent
        )))
    }

    /// Runs `f` with the pid while it still names this child: `None` once reaped.
    pub(super) fn with_pid<R>(
        &self,
        f: impl FnOnce(Pid) -> nix::Result<R>,
    ) -> io::Result<Option<R>> {
        let code = self.exitcode.lock();
        if code.is_some() {
            return Ok(None);
        }
        let result = f(self.pid).map(Some).map_err(io::Error::from);
        drop(code);
        result
    }

    /// The exit code if the child has ended (reaping it the first time), else `None`.
    pub(super) fn reap(&self) -> io::Result<Option<i32>> {
        self.check_ours()?;
        if self.held() {
            return Ok(None);
        }
        let mut exitcode = self.exitcode.lock();
        let known = exitcode.is_some();
        if let (None, Some(served)) = (*exitcode, &self.served) {
            *exitcode = start::served_exit_code(&served.status)?;
        } else if exitcode.is_none() {
            *exitcode = loop {
                match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, status)) => break Some(status),
                    Ok(WaitStatus::Signaled(_, signal, _)) => break Some(-(signal as i32)),
                    Ok(WaitStatus::StillAlive) => break None,
                    Ok(_) | Err(Errno::EINTR) => continue, // stopped/continued, or interrupted
                    Err(e) => return Err(e.into()),
                }
            };
        }
        let code = *exitcode;
        drop(exitcode); // settled: ending the program below holds no lock
        // Killed by SIGPIPE in a program that follows the stdout rule, a child found the
        // output closed. A forked child has told the tree's root already (shared
        // memory); a launched one could not, so its parent ends as it did.
        let sigpipe = Some(-(Signal::SIGPIPE as i32));
        if !known && code == sigpipe && self.launched && crate::output::installed() {
            crate::output::end_as_stdout_closed();
        }
        Ok(code)
    }

    /// Sleeps until the child has exited, without reaping it (`reap` does that, under
    /// the lock), so that a concurrent `reap` elsewhere cannot take its status away.
    pub(super) fn wait_exited(&self) -> io::Result<()> {
        if self.served.is_some() {
            return self.wait_end(None).map(drop);
        }
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        loop {
            match waitid(Id::Pid(self.pid), flags) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                // Reaped meanwhile (by `active_children` on another thread): fine.
                Err(Errno::ECHILD) if self.exitcode.lock().is_some() => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sleeps until the child has ended (or `timeout` passes): returns whether it has.
    /// For the parent of a fork server's child, "ended" means its exit code has come.
    pub(super) fn wait_end(&self, timeout: Option<Duration>) -> io::Result<bool> {
        if self.exitcode.lock().is_some() {
            return Ok(true);
        }
        match &self.served {
            Some(served) if self.is_ours() => wait_readable(served.status.as_fd(), timeout),
            Some(served) => wait_readable(served.pidfd.as_fd(), timeout),
            None => match self.with_pid(pidfd_open)? {
                Some(pidfd) => wait_readable(pidfd.as_fd(), timeout),
                None => Ok(true),
            },
        }
    }

    /// Sends `signal`. By pid: in the parent the pid is this child's until it reaps it
    /// (checked under the lock); in a process the handle was moved into, the parent does
    /// not reap it while that process lives (see `held`), so the pid is still its own.
    pub(super) fn signal(&self, signal: Signal) -> io::Result<()> {
        if let Some(served) = &self.served {
            // A pidfd names this process and no other, whoever reaps it.
            let signal = rustix::process::Signal::from_named_raw(signal as i32)
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
            return match rustix::process::pidfd_send_signal(&served.pidfd, signal) {
                Err(rustix::io::Errno::SRCH) => Ok(()),
                other => other.map_err(io::Error::from),
            };
        }
        match self.with_pid(|pid| kill(pid, signal)) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether the handle was moved into another child of this process that has not
    /// been reaped yet: then this child stays unreaped too (a zombie once it exits), so
    /// that its pid, which that process signals and polls, cannot go to another process.
    pub(super) fn held(&self) -> bool {
        let holder = self.holder.get().and_then(Weak::upgrade);
        holder.is_some_and(|holder| holder.exitcode.lock().is_none())
    }
}

pub(crate) fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid.as_raw()).ok_or(Errno::EINVAL)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| Errno::from_raw(e.raw_os_error()))
}

/// Sleeps until the pidfd is readable (the child ended) or the timeout passes. A
/// timeout too large to add to the clock (`Duration::MAX`) means no timeout.
pub(super) fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline.map(|d| TimeSpec::from(d.saturating_duration_since(Instant::now())));
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match ppoll(&mut fds, left, None) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
