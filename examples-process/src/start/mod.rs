//! Start methods: how a child comes to run its target. See [`StartMethod`].
//!
//! - `fork` is in `process.rs`: the child is a copy of the parent.
//! - [`spawn`]: runs this program again (`/proc/self/exe`), with an environment variable
//!   naming a sealed memfd that holds the child's [`Launch`]; [`main_guard`] at the top
//!   of `main` finds it, runs the target and exits. From any thread but the main one,
//!   the fork server does the `exec`.
//! - [`forkserver`]: a server spawned once (the same way, with another role), single
//!   threaded, forks a child for each request it gets over a socket.
//! - [`named`]: how the target is named across `exec`.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::str::FromStr;

use nix::libc;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getpid, getppid};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::output::program_name;
use crate::process::{become_launched, exit_child};

pub(crate) mod forkserver;
pub mod named;
mod spawn;

pub(crate) use forkserver::{Served, served_exit_code};
pub use forkserver::{ensure_forkserver, stop_forkserver};
pub(crate) use spawn::spawn;

use named::Named;

/// How [`Process::start`](crate::Process::start) makes the child, named as CPython
/// names its start methods (`multiprocessing.get_context("spawn")`).
///
/// | method | the child is | starts from a program running threads | target |
/// |---|---|---|---|
/// | `Fork` | a copy of the parent: its memory, globals, open files | no (an error) | any closure |
/// | `Spawn` | this program run again: fresh globals, no inherited files | yes | a function and serde arguments ([`Process::call`](crate::Process::call)) |
/// | `Forkserver` | a fork of a single-threaded server that was spawned once | yes | as for `Spawn` |
///
/// Spawn and forkserver need [`main_guard`] first in `main`. Everything else a
/// [`Process`](crate::Process) promises (names, exit codes, `-N` for a signal,
/// `terminate`/`kill`, no child outliving its parent, `active_children`) holds for all
/// three.
///
/// ```
/// use examples_process::StartMethod;
///
/// let method: StartMethod = "forkserver".parse()?;
/// assert_eq!(method, StartMethod::Forkserver);
/// assert_eq!(StartMethod::Spawn.to_string(), "spawn");
/// assert!("thread".parse::<StartMethod>().is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMethod {
    /// `fork()`: the default, as in CPython before 3.14 on Linux.
    #[default]
    Fork,
    /// Run this program again; the child runs only its target.
    Spawn,
    /// Ask a fork server, spawned on first use, to fork the child.
    Forkserver,
}

impl StartMethod {
    /// The three methods, in CPython's order.
    pub const ALL: [StartMethod; 3] =
        [StartMethod::Fork, StartMethod::Spawn, StartMethod::Forkserver];

    /// CPython's name for it: `fork`, `spawn`, `forkserver`.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StartMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        StartMethod::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown start method {s:?}: use fork, spawn or forkserver"))
    }
}

/// The counterpart of Python's `if __name__ == "__main__":`, called first in `main`.
///
/// A child started with [`StartMethod::Spawn`] or [`StartMethod::Forkserver`] runs this
/// program again from the top; in that process this call runs the child's target and
/// exits, so the rest of `main` never runs there. In the program you started, it
/// returns at once and `main` goes on. (In CPython the child imports the main module
/// without running the guarded block; `multiprocessing.freeze_support()` does this job
/// for frozen executables.)
///
/// Without it, a spawned child would run `main` again; [`Process::start`] refuses to
/// start anything in such a process, with a message saying to add this call.
///
/// What it trusts: the environment variable `EXAMPLES_PROCESS_ROLE` names a descriptor;
/// it is followed only if that descriptor is of the kind this library hands over (a
/// sealed memfd for a child, a sequenced-packet socket for a fork server), and never in
/// a program running set-user-ID or with raised capabilities (`AT_SECURE`), where the
/// environment may be someone else's. The function to run is found as
/// [`named`](crate::start::named) describes.
///
/// [`Process::start`]: crate::Process::start
pub fn main_guard() {
    let Some(role) = std::env::var_os(ROLE_VARIABLE) else { return };
    if let Err(e) = become_role(&role.to_string_lossy()) {
        eprintln!("{}: cannot run the spawned child: {e}", program_name());
        exit_child(1);
    }
}

/// Runs the role given by the parent, which never returns, or says why not.
fn become_role(role: &str) -> io::Result<()> {
    // SAFETY: `getauxval` reads the process's auxiliary vector; it has no preconditions.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return Err(io::Error::other(
            "refusing a role from the environment in a set-user-ID or privileged program",
        ));
    }
    let threads = std::fs::read_dir("/proc/self/task").map_err(proc_needed)?.count();
    if threads != 1 {
        return Err(io::Error::other(
            "main_guard() must be the first call in main, before any thread starts",
        ));
    }
    // SAFETY: the process runs one thread (checked just above), so nothing can read the
    // environment while it changes. The variable goes so that this child's own children
    // are not mistaken for spawned ones.
    unsafe { std::env::remove_var(ROLE_VARIABLE) };
    // `ps` would show "exe" (from /proc/self/exe): show the program's name.
    if let Ok(name) = std::ffi::CString::new(program_name()) {
        let _ = prctl::set_name(&name);
    }
    let bad = || io::Error::other(format!("bad role {role:?}"));
    // `child:<launch fd>:<passed fds>` or `forkserver:<control fd>:<parent pid>`.
    let mut parts = role.split(':');
    let (kind, fd, rest) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
    let fd: RawFd = fd.and_then(|fd| fd.parse().ok()).ok_or_else(bad)?;
    let fd = take_fd(fd)?;
    match kind {
        Some("child") => {
            let passed = rest
                .split(',')
                .filter(|n| !n.is_empty())
                .map(|n| n.parse::<RawFd>().map_err(|_| bad()).and_then(take_fd))
                .collect::<io::Result<Vec<_>>>()?;
            run_launch(read_launch(fd)?, passed)
        }
        Some("forkserver") => {
            if rustix::net::sockopt::socket_type(&fd)? != rustix::net::SocketType::SEQPACKET {
                return Err(io::Error::other("the fork server's descriptor is not its socket"));
            }
            forkserver::serve(fd, rest.parse().map_err(|_| bad())?)
        }
        _ => Err(bad()),
    }
}

/// Takes ownership of descriptor `fd`, which the parent kept open across `exec` for us,
/// after checking that it is open.
fn take_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::other(format!("bad descriptor {fd}")));
    }
    // SAFETY: `F_GETFD` only asks about the descriptor; it fails if it is not open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(io::Error::other(format!("descriptor {fd} is not open")));
    }
    // SAFETY: open (checked above), kept open across exec for this process to take, and
    // taken once: the role is read once and the variable removed.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Errors if this process was spawned and `main` skipped [`main_guard`].
pub(crate) fn check_guarded() -> io::Result<()> {
    // Read once: the variable is there from the start or never (`main_guard`, first
    // thing in `main`, removes it), and reading the environment at every start took the
    // environment's lock, a page fault in every parent after its first fork.
    static SPAWNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *SPAWNED.get_or_init(|| std::env::var_os(ROLE_VARIABLE).is_some()) {
        return Err(io::Error::other(
            "this process was started with spawn or forkserver, but main() did not call \
             examples_process::main_guard() first; without it the child runs main again",
        ));
    }
    Ok(())
}

const ROLE_VARIABLE: &str = "EXAMPLES_PROCESS_ROLE";

/// What a missing `/proc` means here, as an error that says so.
pub(crate) fn proc_needed(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("this needs /proc, which is not readable here (is it mounted?): {e}"),
    )
}

// ---- targets that cross exec ----------------------------------------------------

/// The kind of [`Named`] record a `Process::call` target is.
const CALL: u64 = 1;

/// What a `Process::call` target's function returns: `Err` if its arguments could not
/// be decoded.
type CallOutcome = Result<(), String>;

/// A target as it travels: the record of the function that runs it, and its arguments.
#[derive(Serialize, Deserialize)]
pub(crate) struct Portable {
    entry: isize,
    #[serde(with = "serde_bytes")]
    args: Vec<u8>,
}

impl Portable {
    /// `f(args)` as a target that can cross `exec`. `F` is a function item or a closure
    /// that captures nothing: zero bytes, so nothing of it needs to travel.
    pub(crate) fn new<A, F>(_f: F, args: &A) -> io::Result<Self>
    where
        A: Serialize + DeserializeOwned,
        F: Fn(A) + Copy + 'static,
    {
        let args = postcard::to_stdvec(args)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Portable { entry: CallWith::<A, F>::NAMED.offset(), args })
    }

    /// Runs the target here, in the child: exit code 0, or 1 if it panicked, its
    /// arguments could not be decoded, or its record was not found.
    pub(crate) fn run(self) -> ! {
        let Some(named) = Named::<CallOutcome>::find(self.entry, CALL) else {
            eprintln!("{}: the target's record was not found", program_name());
            exit_child(1)
        };
        match panic::catch_unwind(AssertUnwindSafe(|| named.call(&self.args))) {
            Ok(Ok(())) => exit_child(0),
            Ok(Err(e)) => {
                eprintln!("{}: cannot decode the target's arguments: {e}", program_name());
                exit_child(1)
            }
            Err(_) => exit_child(1), // the panic hook has said what happened
        }
    }
}

/// The record for `F` with arguments `A`, made by the compiler in read-only data.
struct CallWith<A, F>(std::marker::PhantomData<(A, F)>);

impl<A: DeserializeOwned, F: Fn(A) + Copy + 'static> CallWith<A, F> {
    const NAMED: &'static Named<CallOutcome> = &Named::new(CALL, call_with::<A, F>);
}

fn call_with<A: DeserializeOwned, F: Fn(A) + Copy>(args: &[u8]) -> CallOutcome {
    let args: A = postcard::from_bytes(args).map_err(|e| e.to_string())?;
    // SAFETY: `F` is the type of the function given to `Process::call`, so a value of
    // it existed.
    let f = unsafe { named::conjure::<F>() };
    f(args);
    Ok(())
}

/// Everything a spawned or forkserver child needs to become the process its parent
/// started.
#[derive(Serialize, Deserialize)]
pub(crate) struct Launch {
    pub(crate) name: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) parent_name: String,
    pub(crate) parent_pid: i32,
    pub(crate) parent_daemon: bool,
    pub(crate) target: Portable,
    /// Whether the parent called `exit_on_stdout_failure`: a forked child inherits that
    /// with the parent's memory; a spawned one is told.
    stdout_rule: bool,
}

impl Launch {
    pub(crate) fn new(name: String, identity: Vec<u32>, daemon: bool, target: Portable) -> Self {
        let parent = crate::current_process();
        Launch {
            name,
            identity,
            daemon,
            parent_name: parent.name,
            parent_pid: parent.pid,
            parent_daemon: parent.daemon,
            target,
            stdout_rule: crate::output::installed(),
        }
    }
}

/// In the child: become the process described, then run its target.
fn run_launch(launch: Launch, passed: Vec<OwnedFd>) -> io::Result<()> {
    become_launched(&launch, passed);
    if launch.stdout_rule {
        crate::exit_on_stdout_failure();
    }
    launch.target.run()
}

/// The most bytes a launch may take: a name, an identity and the target's arguments.
const MAX_LAUNCH: u64 = 64 << 20;

/// Reads the launch from its memfd, which must be sealed against writing (as
/// `launch_memfd` leaves it): proof that it is the one the parent made and that nobody
/// changed it since.
fn read_launch(fd: OwnedFd) -> io::Result<Launch> {
    use rustix::fs::SealFlags;
    let sealed = rustix::fs::fcntl_get_seals(&fd)
        .is_ok_and(|seals| seals.contains(SealFlags::WRITE | SealFlags::GROW | SealFlags::SEAL));
    if !sealed {
        return Err(io::Error::other("the launch descriptor is not a sealed memfd"));
    }
    let mut file = File::from(fd);
    file.rewind()?; // the parent's writes moved the shared offset to the end
    let mut bytes = Vec::new();
    file.take(MAX_LAUNCH).read_to_end(&mut bytes)?;
    postcard::from_bytes(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The launch, written to a memfd the child can read (any size, no pipe to fill), then
/// sealed: nobody can change it afterwards.
fn launch_memfd(launch: &Launch) -> io::Result<OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let bytes = postcard::to_stdvec(launch).map_err(io::Error::other)?;
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let mut file = File::from(rustix::fs::memfd_create("examples-process-launch", flags)?);
    file.write_all(&bytes)?;
    let seals = SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL;
    rustix::fs::fcntl_add_seals(&file, seals)?;
    Ok(file.into())
}

/// The role of a spawned child: where its launch is, and the descriptors passed to it.
fn child_role(launch: RawFd, passed: &[RawFd]) -> String {
    let passed: Vec<String> = passed.iter().map(RawFd::to_string).collect();
    format!("child:{launch}:{}", passed.join(","))
}

/// Runs `/proc/self/exe` with `role`, keeping `keep` open in it and no other
/// descriptor but standard input, output and error; with `tied`, it gets SIGKILL when
/// this thread ends (so only the main thread may ask for that). Returns its pid.
fn spawn_self(role: String, keep: Vec<RawFd>, tied: bool) -> io::Result<Pid> {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let parent = getpid();
    let mut command = Command::new("/proc/self/exe");
    command.arg0(arg0).env(ROLE_VARIABLE, role);
    // SAFETY: the closure runs in the forked child before `exec` and makes only
    // async-signal-safe calls (close_range, fcntl, prctl, getppid); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            keep_only(&keep)?;
            if tied {
                prctl::set_pdeathsig(Signal::SIGKILL)?;
            }
            if getppid() != parent {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe)); // orphaned
            }
            Ok(())
        })
    };
    let child = command.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => proc_needed(e),
        _ => e,
    })?;
    Ok(Pid::from_raw(child.id() as i32)) // std's handle does not wait: we do
}

/// Before an `exec`: every descriptor from 3 up is closed by the `exec`, but `keep`.
/// A spawned child inherits nothing else (a pipe end it held would keep its reader
/// from ever seeing end-of-file). Async-signal-safe: system calls only.
fn keep_only(keep: &[RawFd]) -> io::Result<()> {
    // SAFETY: system calls on descriptor numbers; marking a descriptor close-on-exec or
    // clearing that mark changes nothing else in this process.
    unsafe {
        let everything = libc::c_uint::MAX;
        if libc::syscall(libc::SYS_close_range, 3, everything, libc::CLOSE_RANGE_CLOEXEC) != 0 {
            // Older kernels (before 5.11): one descriptor at a time, up to the limit.
            let most = libc::sysconf(libc::_SC_OPEN_MAX).clamp(256, 1 << 20) as RawFd;
            for fd in 3..most {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        for &fd in keep {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

fn on_main_thread() -> bool {
    rustix::thread::gettid() == rustix::process::getpid()
}
