//! The program's side of the fork server: start it, ask it for children, hear how they
//! end.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Once;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use nix::libc;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::signal::{Signal, kill};
use nix::sys::time::TimeSpec;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::{Answer, Request};
use crate::reduction::{self, MAX_FDS};
use crate::start::{Launch, launch_memfd, spawn_self};

/// The fork server this process uses, and which process started it (a forked child
/// inherits the record but needs a server of its own, tied to its own life).
struct Server {
    owner: i32,
    pid: Pid,
    control: OwnedFd,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// How long the server may take to answer a request. It answers at once unless it is
/// stopped or stuck; then it is ended (with its children) rather than trusted.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

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
    let mut server = SERVER.lock();
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
        let pid = spawn_self(role, vec![theirs.as_raw_fd()], false)?;
        *server = Some(Server { owner: crate::current_pid(), pid, control });
        static AT_EXIT: Once = Once::new();
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
    let server = SERVER.lock().take();
    if let Some(server) = server.filter(|s| s.owner == crate::current_pid()) {
        retire(server);
    }
}

/// Ends the server and reaps it: it is our child and not reaped yet, so its pid is
/// still its own; the wait is short (SIGKILL cannot be held back).
fn retire(server: Server) {
    let _ = kill(server.pid, Signal::SIGKILL);
    while let Err(nix::errno::Errno::EINTR) = waitpid(server.pid, None) {}
}

/// At `exit`: end the server now rather than a moment after this process, so that
/// nothing of the program is left running once it has exited.
extern "C" fn stop_at_exit() {
    if let Some(mut guard) = SERVER.try_lock()
        && let Some(server) = guard.take()
        && server.owner == crate::current_pid()
    {
        retire(server);
    }
}

/// Asks the fork server for a child running `launch`, with `passed` open in it; with
/// `exec`, the child runs this program again (spawn) instead of running the target as a
/// fork of the server. A server that has died (killed from outside) is replaced and the
/// request sent again, as CPython's `forkserver` does; an error that is the request's
/// own (too many descriptors, say) leaves the server as it is.
pub(crate) fn start(launch: &Launch, passed: &[OwnedFd], exec: bool) -> io::Result<Served> {
    if passed.len() + 2 > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} descriptors passed: at most {}", passed.len(), MAX_FDS - 2),
        ));
    }
    let memfd = launch_memfd(launch)?;
    let (status, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let request = if exec { Request::Exec } else { Request::Run };
    let mut fds: Vec<BorrowedFd<'_>> = vec![theirs.as_fd(), memfd.as_fd()];
    fds.extend(passed.iter().map(AsFd::as_fd));
    {
        let mut guard = SERVER.lock();
        let mut attempt = 0;
        loop {
            let server = ensure_running(&mut guard)?;
            match reduction::send_fds(&server.control, &[request.byte()], &fds) {
                Ok(_) => break,
                Err(e) if server_is_gone(&e) && attempt == 0 => {
                    retire(guard.take().expect("running"));
                    attempt += 1; // a new server, once
                }
                Err(e) if server_is_gone(&e) => {
                    retire(guard.take().expect("running"));
                    return Err(io::Error::new(e.kind(), format!("the fork server is gone: {e}")));
                }
                Err(e) => return Err(e),
            }
        }
    }
    drop(theirs); // the server has its copy; its end-of-file must mean the server ended
    wait_for_answer(&status)?;
    let mut bytes = [0_u8; Answer::LEN];
    let (got, mut fds) = reduction::recv_fds(&status, &mut bytes)?;
    match (Answer::decode(&bytes[..got]), fds.pop()) {
        (Some(Answer::Started(pid)), Some(pidfd)) if pid > 0 => {
            Ok(Served { pid: Pid::from_raw(pid), pidfd, status })
        }
        (Some(Answer::Failed(errno)), _) => Err(io::Error::from_raw_os_error(errno)),
        _ if got == 0 => Err(io::Error::other("the fork server ended without an answer")),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "a bad answer from the fork server")),
    }
}

/// Whether a send failed because nobody reads the server's socket any more.
fn server_is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ECONNREFUSED)
    )
}

/// Waits for the server's answer on `status` (retrying after a signal, with the time
/// left). A server that does not answer in time is ended with its children, so that no
/// child it might still fork runs without a handle.
fn wait_for_answer(status: &OwnedFd) -> io::Result<()> {
    let deadline = Instant::now() + ANSWER_WITHIN;
    loop {
        let left = TimeSpec::from(deadline.saturating_duration_since(Instant::now()));
        let mut fds = [PollFd::new(status.as_fd(), PollFlags::POLLIN)];
        match ppoll(&mut fds, Some(left), None) {
            Ok(0) => break,
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(server) = SERVER.lock().take() {
        retire(server);
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the fork server did not answer in {ANSWER_WITHIN:?}; it was ended"),
    ))
}

/// Reads a served child's exit code if it has come; `Ok(None)` if not yet. If the
/// server itself ended first, the child was killed with it (`PR_SET_PDEATHSIG`): -9.
pub(crate) fn served_exit_code(status: &OwnedFd) -> io::Result<Option<i32>> {
    let mut bytes = [0_u8; Answer::LEN];
    match reduction::recv_fds_with(status, &mut bytes, true) {
        Ok((0, _)) => Ok(Some(-libc::SIGKILL)),
        Ok((got, _)) => match Answer::decode(&bytes[..got]) {
            Some(Answer::Exited(code)) => Ok(Some(code)),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a bad message from the fork server",
            )),
        },
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}
