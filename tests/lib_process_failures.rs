//! The `examples-process` library when something fails around it: a panic in a drop, an
//! error on its way out of `main`, a signal in the middle of a start, a fork server that
//! was killed or asked too much, a pid that was reused, no `/proc`. Each test runs in a
//! single-threaded process of its own (see `harness::isolated`), so it may fork.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_ipc::sync::Event;
use examples_process::{
    DeferTermination, Failure, Process, StartMethod, active_children, moving_to_child,
    stop_forkserver,
};
use harness::isolated::run_isolated;
use harness::{isolated_tests, skipped};
use nix::libc;

fn main() -> ExitCode {
    // Children started with spawn or forkserver run this program again: run their
    // target, not the tests.
    examples_process::main_guard();
    run_isolated(isolated_tests![
        guards_dropped_in_any_order_let_the_signals_through,
        a_drop_that_panics_in_start_still_lets_the_child_run,
        a_handle_dropped_after_a_failure_ends_its_child,
        a_moved_handle_never_signals_a_process_that_took_its_pid,
        a_forkserver_refuses_too_many_descriptors_and_serves_on,
        a_killed_forkserver_is_replaced_on_the_next_start,
        a_signal_during_start_neither_fails_it_nor_loses_the_child,
        a_spawned_child_inherits_no_other_descriptor,
        without_proc_start_says_what_is_missing,
        main_guard_trusts_only_a_sealed_launch,
        main_guard_refuses_a_role_in_a_set_user_id_program,
    ])
}

const PATIENCE: Duration = Duration::from_secs(10);

fn blocked_signals() -> nix::sys::signal::SigSet {
    let mut now = nix::sys::signal::SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        None,
        Some(&mut now),
    )
    .unwrap();
    now
}

/// Two guards dropped in the order they were made (before, the second restored the mask
/// the first had set, and the signals stayed blocked for good).
fn guards_dropped_in_any_order_let_the_signals_through() {
    use nix::sys::signal::Signal::SIGTERM;
    assert!(!blocked_signals().contains(SIGTERM));
    let first = DeferTermination::new().unwrap();
    let second = DeferTermination::new().unwrap();
    drop(first);
    assert!(blocked_signals().contains(SIGTERM), "still held: the second guard lives");
    drop(second);
    assert!(!blocked_signals().contains(SIGTERM), "let through once both are gone");
}

/// Panics in the parent only, when `start` drops the parent's copy of the target.
struct PanicsInTheParent;

impl Drop for PanicsInTheParent {
    fn drop(&mut self) {
        if moving_to_child().is_some() {
            panic!("a drop that fails");
        }
    }
}

/// A `Drop` that panics while `start` drops the parent's copy of the target (before,
/// the child waited at its gate for ever).
fn a_drop_that_panics_in_start_still_lets_the_child_run() {
    let value = PanicsInTheParent;
    let mut child = Process::new(move || drop(value));
    std::panic::set_hook(Box::new(|_| {})); // the panic is the point: no report
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child.start()));
    let _ = std::panic::take_hook();
    assert!(started.is_err(), "the panic reaches the caller");
    assert_eq!(child.join_timeout(PATIENCE).unwrap(), Some(0), "the child ran to its end");
}

/// An error on its way out of `main` (a `Failure` made by `?`): the handles dropped then
/// end their children instead of waiting for them (before, a child waiting for the
/// parent kept the program waiting for ever).
fn a_handle_dropped_after_a_failure_ends_its_child() {
    let mut child = Process::new(|| sleep(Duration::from_secs(600)));
    child.start().unwrap();
    let started = Instant::now();
    let outcome: Result<(), Failure> = (|| {
        let _handle = child; // dropped as `?` returns, after the `Failure` is made
        Err(std::io::Error::other("something failed"))?;
        Ok(())
    })();
    assert!(outcome.is_err());
    assert!(started.elapsed() < PATIENCE, "the drop waited for the child");
    assert!(active_children().is_empty(), "it was ended and reaped");
}

/// A handle moved into another child and used there after its process ended: the
/// parent does not reap that process while the holder lives, so its pid cannot go to a
/// new process that the holder would signal (before, the parent reaped it, the pid was
/// reused, and `terminate()` killed the stranger).
fn a_moved_handle_never_signals_a_process_that_took_its_pid() {
    let mut first = Process::new(|| {});
    first.start().unwrap();
    let old_pid = first.pid().unwrap();
    let go = Event::shared().unwrap();
    let mut holder = Process::new({
        let go = go.clone();
        move || {
            assert!(go.wait(Some(PATIENCE)));
            first.terminate().expect("terminate");
            first.kill().expect("kill");
            assert!(!first.is_alive(), "it ended long ago");
        }
    });
    holder.start().unwrap();
    sleep(Duration::from_millis(100)); // `first` has exited by now
    active_children(); // reaps every child it may reap
    // Ask the kernel to give that pid to the next process, where it lets us.
    if std::fs::write("/proc/sys/kernel/ns_last_pid", (old_pid - 1).to_string()).is_err() {
        skipped("the pid-reuse check", "/proc/sys/kernel/ns_last_pid is not writable here");
        go.set();
        assert_eq!(holder.join().unwrap(), 0);
        return;
    }
    let mut stranger = Process::new(|| sleep(Duration::from_secs(600)));
    stranger.start().unwrap();
    go.set();
    assert_eq!(holder.join_timeout(PATIENCE).unwrap(), Some(0));
    assert!(stranger.is_alive(), "the process that took the pid was signalled");
    assert_ne!(stranger.pid(), Some(old_pid), "the pid was free while its holder lived");
    stranger.kill().unwrap();
    stranger.join().unwrap();
    // The holder has been reaped: now the parent reaps `first` too.
    active_children();
    let stat = std::fs::read_to_string(format!("/proc/{old_pid}/stat"));
    assert!(stat.is_err(), "{old_pid} is still a zombie: {stat:?}");
}

fn sleep_ms(ms: u64) {
    sleep(Duration::from_millis(ms));
}

/// A request with more descriptors than a message can carry: an error for that start,
/// while the server and the children it runs carry on (before, any send error dropped
/// the server, killing its children and leaving it a zombie).
fn a_forkserver_refuses_too_many_descriptors_and_serves_on() {
    let mut running = Process::call(sleep_ms, 2000).with_start_method(StartMethod::Forkserver);
    running.start().unwrap();
    let mut greedy = Process::call(sleep_ms, 0).with_start_method(StartMethod::Forkserver);
    for _ in 0..300 {
        greedy = greedy.pass_fd(std::fs::File::open("/dev/null").unwrap().into());
    }
    let err = greedy.start().unwrap_err();
    assert!(err.to_string().contains("descriptors"), "{err}");
    assert!(running.is_alive(), "the server's child was killed with it");
    let mut next = Process::call(sleep_ms, 0).with_start_method(StartMethod::Forkserver);
    next.start().unwrap();
    assert_eq!(next.join().unwrap(), 0);
    running.kill().unwrap();
    assert_eq!(running.join().unwrap(), -9);
    stop_forkserver();
}

/// The pids of the fork servers of this process: its children that are not `Process`
/// children.
fn forkservers() -> Vec<i32> {
    let me = std::process::id().to_string();
    let children = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap();
    children.split_whitespace().map(|p| p.parse().unwrap()).collect()
}

/// A fork server killed from outside: the next start starts a new one and succeeds, and
/// the old one is reaped (before, that start failed, and the old server stayed a zombie).
fn a_killed_forkserver_is_replaced_on_the_next_start() {
    examples_process::ensure_forkserver().unwrap();
    let servers = forkservers();
    assert_eq!(servers.len(), 1, "{servers:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(servers[0]), nix::sys::signal::SIGKILL)
        .unwrap();
    sleep(Duration::from_millis(50)); // it is dead, not yet reaped
    let mut child = Process::call(sleep_ms, 0).with_start_method(StartMethod::Forkserver);
    child.start().expect("a new fork server starts on this same call");
    assert_eq!(child.join().unwrap(), 0);
    let now = forkservers();
    assert_eq!(now.len(), 1, "the old server is reaped: {now:?}");
    assert_ne!(now[0], servers[0]);
    stop_forkserver();
}

extern "C" fn on_alarm(_: libc::c_int) {}

/// Signals arriving all through `start` (a handler without `SA_RESTART`, so that every
/// blocking call returns EINTR): each start succeeds, and every child has its handle
/// (before, EINTR failed the start while the child ran on).
fn a_signal_during_start_neither_fails_it_nor_loses_the_child() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(SigHandler::Handler(on_alarm), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler does nothing.
    unsafe { sigaction(Signal::SIGALRM, &action) }.unwrap();
    let every = libc::timeval { tv_sec: 0, tv_usec: 200 };
    let timer = libc::itimerval { it_interval: every, it_value: every };
    // SAFETY: sets this process's real-time interval timer; `timer` is a valid value.
    assert_eq!(unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) }, 0);
    for method in [StartMethod::Forkserver, StartMethod::Spawn, StartMethod::Fork] {
        for _ in 0..20 {
            let mut child = Process::call(sleep_ms, 0).with_start_method(method);
            child.start().unwrap_or_else(|e| panic!("{method}: {e}"));
            assert_eq!(child.join().unwrap(), 0);
        }
    }
    let off = libc::itimerval {
        it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 },
        it_value: libc::timeval { tv_sec: 0, tv_usec: 0 },
    };
    // SAFETY: as above: stops the timer.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &off, std::ptr::null_mut()) };
    stop_forkserver();
}

/// A pipe whose ends are not close-on-exec, as C code or another library may leave
/// them: a spawned child must not inherit the write end, or the reader would wait for
/// end-of-file as long as the child lives (before, it did).
fn a_spawned_child_inherits_no_other_descriptor() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let mut ends = [0; 2];
        // SAFETY: `pipe` fills the two descriptors it makes (no O_CLOEXEC on purpose).
        assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
        // SAFETY: both were just made by `pipe` and are owned here alone.
        let (reader, writer) =
            unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
        let mut child = Process::call(sleep_ms, 3000).with_start_method(method);
        child.start().unwrap();
        drop(writer);
        let started = Instant::now();
        let mut rest = Vec::new();
        std::fs::File::from(reader).read_to_end(&mut rest).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "{method}: the child held the pipe");
        child.kill().unwrap();
        child.join().unwrap();
    }
    stop_forkserver();
}

/// With no `/proc` (a namespace where it is hidden): `start` fails with an error that
/// says so (before: "No such file or directory", nothing about `/proc`).
fn without_proc_start_says_what_is_missing() {
    // SAFETY: system calls that affect only this test's own process (its own mount
    // namespace), with valid NUL-terminated strings.
    let hidden = unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
            && libc::mount(
                c"none".as_ptr(),
                c"/proc".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) == 0
    };
    if !hidden {
        skipped("the no-/proc check", "this test cannot make a mount namespace here");
        return;
    }
    for method in StartMethod::ALL {
        let err = Process::call(sleep_ms, 0).with_start_method(method).start().unwrap_err();
        assert!(err.to_string().contains("/proc"), "{method}: {err}");
    }
}

/// A role in the environment that points at a descriptor that is not a sealed memfd:
/// the program refuses it, with one line, and runs nothing.
fn main_guard_trusts_only_a_sealed_launch() {
    let file = std::fs::File::open("/dev/null").unwrap();
    let fd = file.as_raw_fd();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.env("EXAMPLES_PROCESS_ROLE", format!("child:{fd}:"));
    // SAFETY: clears close-on-exec on a descriptor this process owns, in the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            libc::fcntl(fd, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a sealed memfd"), "{stderr}");
    assert!(out.stdout.is_empty(), "it ran something: {}", String::from_utf8_lossy(&out.stdout));
}

/// A program running set-user-ID (here: a copy of this test program, owned by root,
/// with the set-user-ID bit, run by `nobody`) never follows a role from its environment,
/// which the user who started it controls. Needs root to make such a copy; says
/// "skipped" otherwise.
fn main_guard_refuses_a_role_in_a_set_user_id_program() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if rustix::process::geteuid().as_raw() != 0 {
        skipped("the set-user-ID check", "it needs root, to make a set-user-ID program");
        return;
    }
    let dir = harness::make_private_dir("setuid"); // then opened to the user it runs as
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("setuid-test");
    std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let out = std::process::Command::new(&copy)
        .env("EXAMPLES_PROCESS_ROLE", "child:0:")
        .uid(65534)
        .gid(65534)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("set-user-ID"), "{stderr}");
    assert!(out.stdout.is_empty(), "it ran something: {}", String::from_utf8_lossy(&out.stdout));
}
