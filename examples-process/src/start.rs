//! Start methods: how a child comes to run its target. See [`StartMethod`].
//!
//! - `fork` is in `process.rs`: the child is a copy of the parent.
//! - `spawn` runs this program again (`/proc/self/exe`), with an environment variable
//!   naming a memfd that holds the child's [`Launch`]; [`main_guard`] at the top of
//!   `main` finds it, runs the target and exits. From any thread but the main one, the
//!   fork server does the `exec` (see [`spawn`] for why).
//! - `forkserver` spawns a server once (the same way, with another role); the server
//!   is single-threaded and forks a child for each request it gets over a socket.
//!
//! A target crosses `exec` as two code offsets (its function and the trampoline that
//! decodes its arguments) from an anchor function of this library, which is valid
//! because the new process runs the same executable file (`/proc/self/exe`, even if the
//! file has since been replaced on disk), mapped elsewhere but laid out the same.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::str::FromStr;
use std::sync::Mutex;

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::prctl;
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::output::program_name;
use crate::process::{become_launched, exit_child, lock, pidfd_open};

/// How [`Process::start`](crate::Process::start) makes the child, named as CPython
/// names its start methods (`multiprocessing.get_context("spawn")`).
///
/// | method | the child is | starts from a program running threads | target |
/// |---|---|---|---|
/// | `Fork` | a copy of the parent: its memory, globals, open files | no (an error) | any closure |
/// | `Spawn` | this program run again: fresh globals, no inherited files | yes | `fn` + serde arguments ([`Process::call`](crate::Process::call)) |
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
/// [`Process::start`]: crate::Process::start
pub fn main_guard() {
    let Some(role) = std::env::var_os(ROLE_VARIABLE) else { return };
    let outcome = (|| -> io::Result<()> {
        if std::fs::read_dir("/proc/self/task")?.count() != 1 {
            return Err(io::Error::other(
                "main_guard() must be the first call in main, before any thread starts",
            ));
        }
        // SAFETY: the process runs one thread (checked just above), so nothing can read
        // the environment while it changes. The variable goes so that this child's own
        // children are not mistaken for spawned ones.
        unsafe { std::env::remove_var(ROLE_VARIABLE) };
        // `ps` would show "exe" (from /proc/self/exe): show the program's name.
        if let Ok(name) = std::ffi::CString::new(program_name()) {
            let _ = prctl::set_name(&name);
        }
        let role = role.to_string_lossy();
        let bad = || io::Error::other(format!("bad role {role:?}"));
        // `child:<launch fd>:<passed fds>` or `forkserver:<control fd>:<parent pid>`.
        let mut parts = role.split(':');
        let (kind, fd, rest) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        let fd: RawFd = fd.and_then(|fd| fd.parse().ok()).ok_or_else(bad)?;
        // SAFETY: the parent kept this descriptor open across exec for us to take.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        match kind {
            Some("child") => {
                let numbers = rest.split(',').filter(|n| !n.is_empty());
                let passed = numbers
                    .map(|n| n.parse::<RawFd>().map_err(|_| bad()))
                    // SAFETY: kept open across exec for us, one per `pass_fd`.
                    .map(|n| n.map(|n| unsafe { OwnedFd::from_raw_fd(n) }))
                    .collect::<io::Result<Vec<_>>>()?;
                run_launch(read_launch(fd)?, passed)
            }
            Some("forkserver") => serve_forks(fd, rest.parse().map_err(|_| bad())?),
            _ => Err(bad()),
        }
    })();
    if let Err(e) = outcome {
        eprintln!("{}: cannot run the spawned child: {e}", program_name());
        exit_child(1);
    }
}

/// Errors if this process was spawned and `main` skipped [`main_guard`].
pub(crate) fn check_guarded() -> io::Result<()> {
    if std::env::var_os(ROLE_VARIABLE).is_some() {
        return Err(io::Error::other(
            "this process was started with spawn or forkserver, but main() did not call \
             examples_process::main_guard() first; without it the child runs main again",
        ));
    }
    Ok(())
}

const ROLE_VARIABLE: &str = "EXAMPLES_PROCESS_ROLE";

// ---- targets that cross exec ----------------------------------------------------

/// A function's address as an offset in this executable, valid in any process that
/// runs the same executable file (a fork, or this program run again), wherever it is
/// mapped. [`Process::call`](crate::Process::call) and the process pool send their
/// targets this way.
///
/// ```
/// use examples_process::{code_address, code_offset};
///
/// fn double(x: u32) -> u32 { 2 * x }
///
/// let offset = code_offset(double as fn(u32) -> u32 as usize);
/// // SAFETY: the offset came from an `fn(u32) -> u32` of this same executable.
/// let f: fn(u32) -> u32 = unsafe { std::mem::transmute(code_address(offset)) };
/// assert_eq!(f(21), 42);
/// ```
pub fn code_offset(address: usize) -> isize {
    address.wrapping_sub(anchor as fn() -> u32 as usize) as isize
}

/// The address, in this process, of the function at `offset` (from [`code_offset`]).
///
/// # Safety
///
/// `offset` must come from `code_offset` in a process running this same executable
/// file; the address is only as good as that. Calling it as a function needs the type
/// it had there.
pub unsafe fn code_address(offset: isize) -> usize {
    (anchor as fn() -> u32 as usize).wrapping_add(offset as usize)
}

/// The point the offsets count from.
#[inline(never)]
fn anchor() -> u32 {
    0x5eed
}

/// A second point: its offset, sent with every launch, tells the child that it runs the
/// same layout.
#[inline(never)]
fn check_point() -> u32 {
    0xc0de
}

/// A target as it travels: `fn(A)` and the trampoline that decodes an `A` for it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Portable {
    trampoline: isize,
    func: isize,
    args: Vec<u8>,
}

type Trampoline = fn(usize, &[u8]) -> Result<(), String>;

impl Portable {
    pub(crate) fn new<A: Serialize + DeserializeOwned>(f: fn(A), args: &A) -> io::Result<Self> {
        let args = postcard::to_stdvec(args)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let trampoline: Trampoline = call_with::<A>;
        Ok(Portable {
            trampoline: code_offset(trampoline as usize),
            func: code_offset(f as usize),
            args,
        })
    }

    /// Runs the target here, in the child: exit code 0, or 1 if it panicked or its
    /// arguments could not be decoded.
    pub(crate) fn run(self) -> ! {
        // SAFETY: the offsets were taken in a process running this executable (the
        // check point agreed, see `run_launch`, or this is a fork), and
        // `trampoline` is an instance `call_with::<A>` taken with `func: fn(A)`.
        let trampoline: Trampoline = unsafe { std::mem::transmute(code_address(self.trampoline)) };
        let func = unsafe { code_address(self.func) };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| trampoline(func, &self.args)));
        match outcome {
            Ok(Ok(())) => exit_child(0),
            Ok(Err(e)) => {
                eprintln!("{}: cannot decode the target's arguments: {e}", program_name());
                exit_child(1)
            }
            Err(_) => exit_child(1), // the panic hook has said what happened
        }
    }
}

fn call_with<A: DeserializeOwned>(func: usize, args: &[u8]) -> Result<(), String> {
    let args: A = postcard::from_bytes(args).map_err(|e| e.to_string())?;
    // SAFETY: `func` is the address of an `fn(A)`, resolved in this process from an
    // offset taken together with this instance of `call_with::<A>`.
    let f: fn(A) = unsafe { std::mem::transmute(func) };
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
    check: isize,
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
            check: code_offset(check_point as fn() -> u32 as usize),
        }
    }
}

/// In the child: become the process described, then run its target.
fn run_launch(launch: Launch, passed: Vec<OwnedFd>) -> io::Result<()> {
    if launch.check != code_offset(check_point as fn() -> u32 as usize) {
        return Err(io::Error::other("the parent runs a different executable"));
    }
    become_launched(&launch, passed);
    if launch.stdout_rule {
        crate::exit_on_stdout_failure();
    }
    launch.target.run()
}

fn read_launch(fd: OwnedFd) -> io::Result<Launch> {
    let mut file = File::from(fd);
    file.rewind()?; // the parent's writes moved the shared offset to the end
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    postcard::from_bytes(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The launch, written to a memfd the child can read (any size, no pipe to fill).
fn launch_memfd(launch: &Launch) -> io::Result<OwnedFd> {
    let bytes = postcard::to_stdvec(launch).map_err(io::Error::other)?;
    let fd = rustix::fs::memfd_create("examples-process-launch", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(&bytes)?;
    Ok(file.into())
}

// ---- spawn --------------------------------------------------------------------------

/// Starts this program again as the child of `launch`; `passed` stay open in it.
/// Returns its pid, and its record if a fork server started it.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that started the child ends, not the
/// process. So only the main thread, which lasts as long as the process, starts a
/// spawned child itself; any other thread asks the fork server to (the server watches
/// this process, not a thread, and its children die with it).
pub(crate) fn spawn(launch: &Launch, passed: &[OwnedFd]) -> io::Result<(Pid, Option<Served>)> {
    if !on_main_thread() {
        return forkserver(launch, passed, true).map(|served| (served.pid, Some(served)));
    }
    let memfd = launch_memfd(launch)?;
    let mut keep: Vec<RawFd> = passed.iter().map(AsRawFd::as_raw_fd).collect();
    let role = child_role(memfd.as_raw_fd(), &keep);
    keep.push(memfd.as_raw_fd());
    let pid = run_self(role, keep, true)?; // the memfd stays open until the child has it
    Ok((pid, None))
}

fn on_main_thread() -> bool {
    rustix::thread::gettid() == rustix::process::getpid()
}

/// The role of a spawned child: where its launch is, and the descriptors passed to it.
fn child_role(launch: RawFd, passed: &[RawFd]) -> String {
    let passed: Vec<String> = passed.iter().map(RawFd::to_string).collect();
    format!("child:{launch}:{}", passed.join(","))
}

/// Runs `/proc/self/exe` with `role`, keeping `keep` open in it; with `tied`, it gets
/// SIGKILL when this thread ends (so only the main thread may ask for that). Returns
/// its pid.
fn run_self(role: String, keep: Vec<RawFd>, tied: bool) -> io::Result<Pid> {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let parent = getpid();
    let mut command = Command::new("/proc/self/exe");
    command.arg0(arg0).env(ROLE_VARIABLE, role);
    // SAFETY: the closure runs in the forked child before `exec` and makes only
    // async-signal-safe calls (fcntl, prctl, getppid); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            for &fd in &keep {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
            }
            if tied {
                prctl::set_pdeathsig(Signal::SIGKILL)?;
            }
            if getppid() != parent {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe)); // orphaned
            }
            Ok(())
        })
    };
    let child = command.spawn()?;
    Ok(Pid::from_raw(child.id() as i32)) // std's handle does not wait: we do
}

// ---- forkserver: the client side ----------------------------------------------------

/// The fork server this process uses, and which process started it (a forked child
/// inherits the record but needs a server of its own, tied to its own life).
struct Server {
    owner: i32,
    pid: Pid,
    control: OwnedFd,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// A child that a fork server started: its pidfd (for signals) and the socket on which
/// the server sends its exit code.
pub(crate) struct Served {
    pub(crate) pid: Pid,
    pub(crate) pidfd: OwnedFd,
    pub(crate) status: OwnedFd,
}

/// Starts the fork server now, if this process has none (CPython:
/// `multiprocessing.forkserver.ensure_running()`). [`Process::start`] does it on first
/// use; calling it early takes the server's start-up time out of the first child's.
///
/// [`Process::start`]: crate::Process::start
pub fn ensure_forkserver() -> io::Result<()> {
    let mut server = lock(&SERVER);
    ensure_running(&mut server).map(|_| ())
}

fn ensure_running(server: &mut Option<Server>) -> io::Result<&Server> {
    if server.as_ref().is_some_and(|s| s.owner != crate::current_pid()) {
        *server = None; // inherited from the process we were forked from: not ours
    }
    if server.is_none() {
        let (control, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        // Not tied to this thread: the server watches this process through a pidfd.
        let role = format!("forkserver:{}:{}", theirs.as_raw_fd(), crate::current_pid());
        let pid = run_self(role, vec![theirs.as_raw_fd()], false)?;
        *server = Some(Server { owner: crate::current_pid(), pid, control });
        static AT_EXIT: std::sync::Once = std::sync::Once::new();
        // SAFETY: registers a plain function; `exit` calls it once.
        AT_EXIT.call_once(|| unsafe {
            libc::atexit(stop_at_exit);
        });
    }
    Ok(server.as_ref().expect("set above"))
}

/// Stops this process's fork server, if it has one, and reaps it. A program need not:
/// the server ends when the program does (see [`ensure_forkserver`]). Children the
/// server started and that still run are killed with it (`PR_SET_PDEATHSIG`).
pub fn stop_forkserver() {
    let server = lock(&SERVER).take();
    if let Some(server) = server.filter(|s| s.owner == crate::current_pid()) {
        stop(&server);
    }
}

fn stop(server: &Server) {
    // Our child, not yet reaped: the pid is still the server's.
    let _ = nix::sys::signal::kill(server.pid, Signal::SIGKILL);
    let _ = waitpid(server.pid, None);
}

/// At `exit`: end the server now rather than a moment after this process, so that
/// nothing of the program is left running once it has exited.
extern "C" fn stop_at_exit() {
    if let Ok(mut guard) = SERVER.try_lock()
        && let Some(server) = guard.take()
        && server.owner == crate::current_pid()
    {
        stop(&server);
    }
}

/// Asks the fork server for a child running `launch`, with `passed` open in it; with
/// `exec`, the child runs this program again (spawn) instead of running the target as a
/// fork of the server.
pub(crate) fn forkserver(launch: &Launch, passed: &[OwnedFd], exec: bool) -> io::Result<Served> {
    let memfd = launch_memfd(launch)?;
    let (status, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    {
        let mut guard = lock(&SERVER);
        let server = ensure_running(&mut guard)?;
        let mut fds = vec![theirs.as_fd(), memfd.as_fd()];
        fds.extend(passed.iter().map(AsFd::as_fd));
        let request = if exec { b"X" } else { b"R" };
        if let Err(e) = send_with_fds(&server.control, request, &fds) {
            // The server is gone (killed from outside?): reap it, and start afresh next time.
            let _ = waitpid(server.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            *guard = None;
            return Err(io::Error::new(e.kind(), format!("the fork server is gone: {e}")));
        }
    }
    drop(theirs); // the server has its copy; its end-of-file must mean the server ended
    // The server answers at once: a pid and a pidfd, or why it could not fork.
    let mut fds = [PollFd::new(status.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::from(10_000_u16))? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the fork server did not answer in 10 s",
        ));
    }
    let mut message = [0_u8; 5];
    let (got, pidfd) = recv_with_fd(&status, &mut message, RecvFlags::empty())?;
    let value = i32::from_ne_bytes(message[1..5].try_into().expect("4 bytes"));
    match (got, message[0], pidfd) {
        (5, b'P', Some(pidfd)) => Ok(Served { pid: Pid::from_raw(value), pidfd, status }),
        (5, b'E', _) => Err(io::Error::from_raw_os_error(value)),
        _ => Err(io::Error::other("the fork server ended without an answer")),
    }
}

/// Reads a served child's exit code if it has come; `Ok(None)` if not yet. If the
/// server itself ended first, the child was killed with it (`PR_SET_PDEATHSIG`): -9.
pub(crate) fn served_exit_code(status: &OwnedFd) -> io::Result<Option<i32>> {
    let mut message = [0_u8; 5];
    match recv_with_fd(status, &mut message, RecvFlags::DONTWAIT) {
        Ok((5, _)) if message[0] == b'X' => {
            Ok(Some(i32::from_ne_bytes(message[1..5].try_into().expect("4 bytes"))))
        }
        Ok((0, _)) => Ok(Some(-libc::SIGKILL)),
        Ok(_) => {
            Err(io::Error::new(io::ErrorKind::InvalidData, "a bad message from the fork server"))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

fn send_with_fds(
    socket: impl AsFd,
    bytes: &[u8],
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> io::Result<()> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    rustix::net::sendmsg(socket, &[IoSlice::new(bytes)], &mut control, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// Receives one message (a seqpacket: all of it or nothing) and the descriptors it
/// carries; returns its length and the first descriptor.
fn recv_with_fds(
    socket: impl AsFd,
    buf: &mut [u8],
    flags: RecvFlags,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match rustix::net::recvmsg(
            &socket,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            flags | RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?.bytes,
        }
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    Ok((got, fds))
}

fn recv_with_fd(
    socket: impl AsFd,
    buf: &mut [u8],
    flags: RecvFlags,
) -> io::Result<(usize, Option<OwnedFd>)> {
    let (got, fds) = recv_with_fds(socket, buf, flags)?;
    Ok((got, fds.into_iter().next()))
}

/// In a child of the fork server: become this program run again (spawn), with the
/// launch and the passed descriptors kept open. Returns only on failure.
fn exec_self(memfd: OwnedFd, passed: Vec<OwnedFd>) -> io::Result<()> {
    let numbers: Vec<RawFd> = passed.iter().map(AsRawFd::as_raw_fd).collect();
    for fd in numbers.iter().chain([&memfd.as_raw_fd()]) {
        // SAFETY: clears close-on-exec on descriptors this process owns.
        if unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    let role = child_role(memfd.as_raw_fd(), &numbers);
    let arg0 = std::env::args_os().next().unwrap_or_default();
    // `exec` replaces this process; the Command's fork is not wanted here: we are the
    // fork. So build the call by hand.
    let path = c"/proc/self/exe";
    let arg0 = std::ffi::CString::new(arg0.into_encoded_bytes()).map_err(io::Error::other)?;
    // SAFETY: the fork server's child runs one thread: nothing reads the environment
    // while it changes.
    unsafe { std::env::set_var(ROLE_VARIABLE, role) };
    let env: Vec<std::ffi::CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut pair = k.into_encoded_bytes();
            pair.push(b'=');
            pair.extend(v.into_encoded_bytes());
            std::ffi::CString::new(pair).ok()
        })
        .collect();
    let error = nix::unistd::execve(path, &[arg0], &env).unwrap_err();
    Err(error.into())
}

/// The most descriptors one request may carry: the status socket, the launch, and
/// those passed with `pass_fd`.
const MAX_FDS: usize = 64;

// ---- forkserver: the server ---------------------------------------------------------

/// One child of the server: the pidfd it watches and the socket it reports on.
struct Kid {
    pid: Pid,
    pidfd: OwnedFd,
    status: OwnedFd,
}

/// The fork server's loop. It runs one thread for its whole life, so each `fork` is
/// safe; it ends when the process that started it ends (or closes the socket), and its
/// children die with it.
fn serve_forks(control: OwnedFd, parent: i32) -> io::Result<()> {
    let parent_fd = match pidfd_open(Pid::from_raw(parent)) {
        Ok(fd) if getppid().as_raw() == parent => fd,
        // The parent ended before it could be watched: nothing to serve.
        Ok(_) | Err(nix::errno::Errno::ESRCH) => exit_child(0),
        Err(e) => return Err(e.into()),
    };
    // Ctrl-C reaches the whole foreground group: the parent decides what happens to
    // its children, as CPython's fork server ignores SIGINT too.
    // SAFETY: setting a disposition to SIG_IGN installs no handler code.
    unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) }.map_err(io::Error::from)?;
    let mut kids: Vec<Kid> = Vec::new();
    loop {
        let mut polls = vec![
            PollFd::new(control.as_fd(), PollFlags::POLLIN),
            PollFd::new(parent_fd.as_fd(), PollFlags::POLLIN),
        ];
        polls.extend(kids.iter().map(|k| PollFd::new(k.pidfd.as_fd(), PollFlags::POLLIN)));
        match poll(&mut polls, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let ready = |p: &PollFd| p.revents().is_some_and(|r| !r.is_empty());
        if ready(&polls[1]) {
            exit_child(0); // the parent has ended; our children get SIGKILL
        }
        let ended: Vec<usize> = (0..kids.len()).filter(|&i| ready(&polls[i + 2])).collect();
        let request = ready(&polls[0]);
        drop(polls);
        for i in ended.into_iter().rev() {
            let kid = kids.swap_remove(i);
            let code = loop {
                match waitpid(kid.pid, None) {
                    Ok(WaitStatus::Exited(_, code)) => break code,
                    Ok(WaitStatus::Signaled(_, signal, _)) => break -(signal as i32),
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break -libc::SIGKILL,
                }
            };
            let mut message = [b'X', 0, 0, 0, 0];
            message[1..].copy_from_slice(&code.to_ne_bytes());
            let _ = send_with_fds(&kid.status, &message, &[]); // the parent may be gone
        }
        if request {
            let mut byte = [0_u8; 1];
            let (got, mut fds) = recv_with_fds(&control, &mut byte, RecvFlags::empty())?;
            if got == 0 {
                exit_child(0); // the parent closed its end
            }
            if fds.len() < 2 {
                continue; // not a request of ours
            }
            let passed = fds.split_off(2);
            let memfd = fds.pop().expect("two");
            let status = fds.pop().expect("two");
            let exec = byte[0] == b'X';
            if let Some(kid) = fork_kid(status, memfd, passed, exec, &control, &parent_fd, &kids) {
                kids.push(kid);
            }
        }
    }
}

/// Forks one child for a request. In the child: drop the server's descriptors, tie its
/// life to the server's, run the launch. In the server: answer with the pid and a pidfd.
fn fork_kid(
    status: OwnedFd,
    memfd: OwnedFd,
    passed: Vec<OwnedFd>,
    exec: bool,
    control: &OwnedFd,
    parent_fd: &OwnedFd,
    kids: &[Kid],
) -> Option<Kid> {
    let server = getpid();
    // SAFETY: the server runs one thread: no lock can be held by a thread that the child
    // would not have.
    match unsafe { fork() } {
        Err(e) => {
            let mut message = [b'E', 0, 0, 0, 0];
            message[1..].copy_from_slice(&(e as i32).to_ne_bytes());
            let _ = send_with_fds(&status, &message, &[]);
            None
        }
        Ok(ForkResult::Child) => {
            // The server's descriptors are not ours: a sibling's status socket held here
            // would keep its parent from seeing the server end.
            for fd in [control.as_raw_fd(), parent_fd.as_raw_fd(), status.as_raw_fd()]
                .into_iter()
                .chain(kids.iter().flat_map(|k| [k.pidfd.as_raw_fd(), k.status.as_raw_fd()]))
            {
                // SAFETY: these belong to the server's records, which this child never
                // uses or drops (it leaves with `_exit`).
                unsafe { libc::close(fd) };
            }
            // SAFETY: restoring the default disposition installs no handler code.
            let _ = unsafe { signal(Signal::SIGINT, SigHandler::SigDfl) };
            let _ = prctl::set_pdeathsig(Signal::SIGKILL);
            if getppid() != server {
                exit_child(-1);
            }
            let outcome = if exec {
                exec_self(memfd, passed)
            } else {
                read_launch(memfd).and_then(|launch| run_launch(launch, passed))
            };
            if let Err(e) = outcome {
                eprintln!("{}: cannot run the forkserver child: {e}", program_name());
            }
            exit_child(1)
        }
        Ok(ForkResult::Parent { child }) => {
            let answer = match pidfd_open(child) {
                Ok(pidfd) => {
                    let mut message = [b'P', 0, 0, 0, 0];
                    message[1..].copy_from_slice(&child.as_raw().to_ne_bytes());
                    send_with_fds(&status, &message, &[pidfd.as_fd()]).map(|()| pidfd)
                }
                Err(e) => Err(e.into()),
            };
            match answer {
                Ok(pidfd) => Some(Kid { pid: child, pidfd, status }),
                Err(_) => {
                    // Nobody can supervise it: end it now rather than leave it running.
                    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                    let _ = waitpid(child, None);
                    None
                }
            }
        }
    }
}
