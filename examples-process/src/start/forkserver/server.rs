//! The fork server's loop. It runs one thread for its whole life, so each `fork` is
//! safe; it ends when the process that started it ends (or closes the socket), and its
//! children die with it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::prctl;
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

use super::{Answer, Request};
use crate::output::program_name;
use crate::process::{exit_child, pidfd_open};
use crate::reduction;
use crate::start::{ROLE_VARIABLE, child_role, keep_only, read_launch, run_launch};

/// One child of the server: the pidfd it watches and the socket it reports on.
struct Kid {
    pid: Pid,
    pidfd: OwnedFd,
    status: OwnedFd,
}

/// Serves requests on `control` for the process `parent` until it ends.
pub(crate) fn serve(control: OwnedFd, parent: i32) -> io::Result<()> {
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
            report_end(kids.swap_remove(i));
        }
        if request && let Some(kid) = take_request(&control, &parent_fd, &kids)? {
            kids.push(kid);
        }
    }
}

/// Reaps a child that ended and sends its exit code to its parent.
fn report_end(kid: Kid) {
    let code = loop {
        match waitpid(kid.pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, signal, _)) => break -(signal as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break -libc::SIGKILL,
        }
    };
    // The parent may be gone; then nobody needs the answer.
    let _ = reduction::send_fds(&kid.status, &Answer::Exited(code).encode(), &[]);
}

/// Reads one request and forks its child. A request that is not one of ours (no byte,
/// too few descriptors) is dropped, with its descriptors; one that carried too many is
/// answered with an error on its socket, if it brought one.
fn take_request(control: &OwnedFd, parent_fd: &OwnedFd, kids: &[Kid]) -> io::Result<Option<Kid>> {
    let mut byte = [0_u8; 1];
    let (got, mut fds) = match reduction::recv_fds(control, &mut byte) {
        Ok(received) => received,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None), // cut short
        Err(e) => return Err(e),
    };
    if got == 0 {
        exit_child(0); // the parent closed its end
    }
    let Some(request) = Request::from_byte(byte[0]).filter(|_| fds.len() >= 2) else {
        return Ok(None);
    };
    let passed = fds.split_off(2);
    let memfd = fds.pop().expect("two");
    let status = fds.pop().expect("two");
    Ok(fork_kid(status, memfd, passed, request, control, parent_fd, kids))
}

/// Forks one child for a request. In the child: drop the server's descriptors, tie its
/// life to the server's, run the launch. In the server: answer with the pid and a pidfd.
fn fork_kid(
    status: OwnedFd,
    memfd: OwnedFd,
    passed: Vec<OwnedFd>,
    request: Request,
    control: &OwnedFd,
    parent_fd: &OwnedFd,
    kids: &[Kid],
) -> Option<Kid> {
    let server = getpid();
    // SAFETY: the server runs one thread: no lock can be held by a thread that the child
    // would not have.
    match unsafe { fork() } {
        Err(e) => {
            let _ = reduction::send_fds(&status, &Answer::Failed(e as i32).encode(), &[]);
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
            let outcome = match request {
                Request::Exec => exec_self(memfd, passed),
                Request::Run => read_launch(memfd).and_then(|launch| run_launch(launch, passed)),
            };
            if let Err(e) = outcome {
                eprintln!("{}: cannot run the forkserver child: {e}", program_name());
            }
            exit_child(1)
        }
        Ok(ForkResult::Parent { child }) => {
            let answer = match pidfd_open(child) {
                Ok(pidfd) => {
                    let started = Answer::Started(child.as_raw()).encode();
                    reduction::send_fds(&status, &started, &[pidfd.as_fd()]).map(|_| pidfd)
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

/// In a child of the fork server: become this program run again (spawn), with the
/// launch and the passed descriptors kept open and no other. Returns only on failure.
fn exec_self(memfd: OwnedFd, passed: Vec<OwnedFd>) -> io::Result<()> {
    let numbers: Vec<RawFd> = passed.iter().map(AsRawFd::as_raw_fd).collect();
    let mut keep = numbers.clone();
    keep.push(memfd.as_raw_fd());
    keep_only(&keep)?;
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
