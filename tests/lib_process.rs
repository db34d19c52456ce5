//! The `examples-process` library's own tests: the `Process` handle's promises, each
//! checked across real processes. Each test runs in a single-threaded process of its
//! own (see `harness::isolated`), so it may fork.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::thread::sleep;
use std::time::Duration;

use examples_ipc::shared::SharedMemory;
use examples_process::{
    Process, Run, StartMethod, active_children, current_pid, current_process, moving_to_child,
    parent_process, passed_fds, stop_forkserver,
};
use harness::isolated::run_isolated;
use harness::isolated_tests;

fn main() -> ExitCode {
    // Children started with spawn or forkserver run this program again: run their
    // target, not the tests.
    examples_process::main_guard();
    run_isolated(isolated_tests![
        names_count_processes_and_nest_in_children,
        exit_codes_follow_cpython,
        join_timeout_and_is_alive,
        a_huge_timeout_means_no_timeout,
        terminate_and_kill_give_minus_the_signal,
        dropping_a_daemon_terminates_it,
        dropping_a_handle_waits_for_the_child,
        active_children_lists_the_running_ones,
        the_child_runs_after_the_parent_dropped_its_copy,
        current_pid_is_right_in_every_process,
        a_handle_moved_into_a_child,
        start_refuses_a_second_thread_and_a_second_start,
        from_run_names_after_the_type,
        a_handle_dropped_while_panicking_ends_its_child,
        children_started_while_signals_are_held_can_be_terminated,
        a_child_inherits_no_descriptor_from_its_siblings,
        daemon_is_set_before_start_only,
        current_and_parent_process_as_cpython_reports_them,
        a_closed_handle_answers_nothing,
        every_start_method_names_and_exits_as_cpython,
        every_start_method_terminates_and_kills,
        every_start_method_joins_with_timeouts_and_lists_children,
        every_start_method_drops_as_fork_does,
        spawn_and_forkserver_start_from_a_threaded_program,
        spawned_children_see_fresh_globals,
        descriptors_reach_every_kind_of_child,
        no_child_outlives_its_parent_whatever_the_method,
        a_closure_cannot_be_spawned,
        a_timeline_records_threads_and_children,
        end_as_stdout_closed_ends_by_sigpipe,
        a_launched_child_whose_output_closed_ends_its_parent_so,
    ])
}

const LONG: Duration = Duration::from_secs(60);

fn names_count_processes_and_nest_in_children() {
    assert_eq!(current_process().name, "MainProcess");
    let first = Process::new(|| {});
    let mut second = Process::new(|| {
        assert_eq!(current_process().name, "Process-2");
        assert_eq!(Process::new(|| {}).name(), "Process-2:1");
    });
    assert_eq!((first.name(), second.name()), ("Process-1", "Process-2"));
    second.start().unwrap();
    assert_eq!(second.join().unwrap(), 0);
    assert_eq!(Process::new(|| {}).with_name("worker").name(), "worker");
}

fn exit_codes_follow_cpython() {
    let mut ok = Process::new(|| {});
    let mut panics = Process::new(|| {
        std::panic::set_hook(Box::new(|_| {})); // a quiet panic: the exit code is the point
        panic!("on purpose")
    });
    let mut exits = Process::new(|| std::process::exit(7));
    for p in [&mut ok, &mut panics, &mut exits] {
        p.start().unwrap();
    }
    assert_eq!([ok.join().unwrap(), panics.join().unwrap(), exits.join().unwrap()], [0, 1, 7]);
    assert_eq!(ok.join().unwrap(), 0, "joining again gives the same code");
    assert_eq!(panics.exitcode(), Some(1));
}

fn join_timeout_and_is_alive() {
    let mut p = Process::new(|| sleep(Duration::from_millis(300)));
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), None);
    p.start().unwrap();
    assert_eq!(p.join_timeout(Duration::from_millis(10)).unwrap(), None);
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None, "no exit code while it runs");
    assert_eq!(p.join_timeout(LONG).unwrap(), Some(0));
    assert!(!p.is_alive());
}

fn a_huge_timeout_means_no_timeout() {
    let mut p = Process::new(|| sleep(Duration::from_millis(20)));
    p.start().unwrap();
    assert_eq!(p.join_timeout(Duration::MAX).unwrap(), Some(0));
    assert!(p.wait_ended(Duration::MAX).unwrap());
}

fn terminate_and_kill_give_minus_the_signal() {
    let mut t = Process::new(|| sleep(LONG));
    let mut k = Process::new(|| sleep(LONG));
    t.start().unwrap();
    k.start().unwrap();
    t.terminate().unwrap();
    k.kill().unwrap();
    assert_eq!((t.join().unwrap(), k.join().unwrap()), (-15, -9));
    t.terminate().unwrap(); // reaped already: nothing to signal, no error
    assert!(Process::new(|| {}).terminate().is_err(), "not started");
}

fn dropping_a_daemon_terminates_it() {
    let mut p = Process::new(|| sleep(LONG)).with_daemon(true);
    p.start().unwrap();
    let started = std::time::Instant::now();
    drop(p); // SIGTERM and reap; the runner fails the test if a process is left
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn dropping_a_handle_waits_for_the_child() {
    let done = SharedMemory::new(AtomicU32::new(0)).unwrap();
    let mut p = Process::new({
        let done = done.clone();
        move || {
            sleep(Duration::from_millis(100));
            done.store(1, SeqCst);
        }
    });
    p.start().unwrap();
    drop(p);
    assert_eq!(done.load(SeqCst), 1, "the drop waited for the child to finish");
}

fn active_children_lists_the_running_ones() {
    assert!(active_children().is_empty(), "none before any start");
    let mut quick = Process::new(|| {});
    let mut slow = Process::new(|| sleep(Duration::from_millis(300)));
    quick.start().unwrap();
    slow.start().unwrap();
    quick.join().unwrap();
    let running: Vec<String> = active_children().into_iter().map(|c| c.name).collect();
    assert_eq!(running, ["Process-2"]);
    assert_eq!(active_children()[0].pid, slow.pid().unwrap());
    slow.join().unwrap();
    assert!(active_children().is_empty());
}

/// Records, in shared memory, that the parent's copy was dropped and by whom.
struct Witness(SharedMemory<AtomicU32>);

impl Drop for Witness {
    fn drop(&mut self) {
        if let Some(child) = moving_to_child() {
            self.0.store(child as u32, SeqCst);
        }
    }
}

fn the_child_runs_after_the_parent_dropped_its_copy() {
    let dropped_for = SharedMemory::new(AtomicU32::new(0)).unwrap();
    let witness = Witness(dropped_for.clone());
    let mut p = Process::new(move || {
        let seen = witness.0.load(SeqCst);
        assert_eq!(seen, current_pid() as u32, "the parent had handed it over first");
        std::mem::forget(witness); // the child's drop is not the one under test
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(dropped_for.load(SeqCst), p.pid().unwrap() as u32);
    assert_eq!(moving_to_child(), None, "only during start");
}

fn current_pid_is_right_in_every_process() {
    let parent = current_pid();
    assert_eq!(parent, std::process::id() as i32);
    let mut p = Process::new(move || {
        assert_eq!(current_pid(), std::process::id() as i32);
        assert_ne!(current_pid(), parent);
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    // A raw fork resets the cache too.
    // SAFETY: single-threaded; the child only compares numbers and leaves with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let right = current_pid() == std::process::id() as i32;
            // SAFETY: leaves at once.
            unsafe { nix::libc::_exit(if right { 0 } else { 1 }) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
    }
}

fn a_handle_moved_into_a_child() {
    // A sleeping grandchild-to-be is started here, then its handle moves into `owner`.
    let mut sleeper = Process::new(|| sleep(LONG));
    sleeper.start().unwrap();
    let sleeper_pid = sleeper.pid().unwrap();
    let mut owner = Process::new(move || {
        assert!(sleeper.is_alive(), "the parent's copy did not end it");
        assert!(sleeper.join().is_err(), "only the parent can join it");
        sleeper.kill().unwrap(); // any holder can signal it
        assert!(sleeper.wait_ended(LONG).unwrap());
        assert!(!sleeper.is_alive());
    });
    owner.start().unwrap(); // drops this process's copy of `sleeper`: no wait, no kill
    assert_eq!(owner.join().unwrap(), 0);
    // This process still reaped the sleeper: it is not among the children, and the
    // runner fails the test if a zombie is left.
    assert!(active_children().iter().all(|c| c.pid != sleeper_pid));
}

fn start_refuses_a_second_thread_and_a_second_start() {
    let mut p = Process::new(|| {});
    p.start().unwrap();
    assert!(p.start().unwrap_err().to_string().contains("twice"));
    p.join().unwrap();
    let helper = std::thread::spawn(|| sleep(Duration::from_millis(300)));
    let err = Process::new(|| {}).start().unwrap_err();
    assert!(err.to_string().contains("refusing to fork"), "{err}");
    helper.join().unwrap();
}

struct Clock {
    ticks: u32,
}

impl Run for Clock {
    fn run(&mut self) {
        self.ticks += 1;
        assert_eq!(self.ticks, 1);
    }
}

fn from_run_names_after_the_type() {
    let mut p = Process::from_run(Clock { ticks: 0 });
    assert_eq!(p.name(), "Clock-1");
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
}

fn a_handle_dropped_while_panicking_ends_its_child() {
    // The child would wait for ever; the failing code must not wait for it.
    let started = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(|| {
        let mut child = Process::new(|| sleep(LONG));
        child.start().unwrap();
        std::panic::set_hook(Box::new(|_| {})); // quiet: the panic is on purpose
        panic!("something failed while the child ran");
    });
    let _ = std::panic::take_hook();
    assert!(outcome.is_err());
    assert!(started.elapsed() < Duration::from_secs(10), "the drop did not wait for the child");
    // The runner fails the test if the child is left running or unreaped.
}

fn children_started_while_signals_are_held_can_be_terminated() {
    let hold = examples_process::DeferTermination::new().unwrap();
    let mut child = Process::new(|| sleep(LONG));
    child.start().unwrap();
    child.terminate().unwrap();
    assert_eq!(child.join_timeout(Duration::from_secs(10)).unwrap(), Some(-15));
    let mut daemon = Process::new(|| sleep(LONG)).with_daemon(true);
    daemon.start().unwrap();
    let started = std::time::Instant::now();
    drop(daemon);
    assert!(started.elapsed() < Duration::from_millis(900), "SIGTERM acted at once");
    drop(hold);
}

fn a_child_inherits_no_descriptor_from_its_siblings() {
    fn open_fds() -> u32 {
        std::fs::read_dir("/proc/self/fd").unwrap().count() as u32 - 1 // minus read_dir's own
    }
    let counts = SharedMemory::new([const { AtomicU32::new(0) }; 20]).unwrap();
    let mut running = Vec::new();
    for k in 0..20 {
        let counts = counts.clone();
        let mut p = Process::new(move || {
            counts[k].store(open_fds(), SeqCst);
            sleep(Duration::from_millis(200)); // the later ones start while this runs
        });
        p.start().unwrap();
        running.push(p);
    }
    running.iter().for_each(|p| assert_eq!(p.join().unwrap(), 0));
    let counts = counts.each_ref().map(|c| c.load(SeqCst));
    assert!(counts.iter().all(|&n| n == counts[0]), "the 20th child holds more: {counts:?}");
}

fn daemon_is_set_before_start_only() {
    let mut p = Process::new(|| {});
    p.set_daemon(true).unwrap();
    p.start().unwrap();
    let err = p.set_daemon(false).unwrap_err();
    assert!(err.to_string().contains("process has already started"), "{err}");
    assert!(p.is_daemon(), "unchanged");
    std::panic::set_hook(Box::new(|_| {})); // quiet: the panic is on purpose
    let builder = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.with_daemon(false)));
    let _ = std::panic::take_hook();
    assert!(builder.is_err(), "the builder form panics on a started process");
}

fn current_and_parent_process_as_cpython_reports_them() {
    let main = current_process();
    assert_eq!((main.name.as_str(), main.daemon, main.exitcode), ("MainProcess", false, None));
    assert_eq!(parent_process(), None);
    let main_pid = main.pid;
    let mut child = Process::new(move || {
        let me = current_process();
        assert_eq!((me.name.as_str(), me.daemon, me.exitcode), ("worker", true, None));
        let parent = parent_process().unwrap();
        assert_eq!((parent.name.as_str(), parent.pid), ("MainProcess", main_pid));
        // A grandchild's parent is this child, under its own name.
        let mut grandchild = Process::new(move || {
            let parent = parent_process().unwrap();
            assert_eq!((parent.name.as_str(), parent.pid, parent.daemon), ("worker", me.pid, true));
        });
        grandchild.start().unwrap();
        assert_eq!(grandchild.join().unwrap(), 0);
    })
    .with_name("worker")
    .with_daemon(true);
    child.start().unwrap();
    let listed = active_children();
    assert!(listed.iter().any(|c| c.name == "worker" && c.daemon && c.exitcode.is_none()));
    assert_eq!(child.join().unwrap(), 0);
}

fn a_closed_handle_answers_nothing() {
    let mut p = Process::new(|| sleep(Duration::from_millis(100)));
    p.start().unwrap();
    assert!(p.close().unwrap_err().to_string().contains("still running"));
    assert_eq!(p.join().unwrap(), 0);
    p.close().unwrap();
    for err in [p.join().unwrap_err(), p.terminate().unwrap_err(), p.start().unwrap_err()] {
        assert!(err.to_string().contains("process object is closed"), "{err}");
    }
    assert_eq!((p.pid(), p.exitcode(), p.is_alive()), (None, None, false));
    let mut never_started = Process::new(|| {});
    never_started.close().unwrap(); // nothing to release: fine, as in CPython
}

// ---- start methods ------------------------------------------------------------------

/// Each test runs its body for every method, then stops the fork server so that the
/// runner finds nothing left of the test's process group.
fn for_each_method(body: impl Fn(StartMethod)) {
    for method in StartMethod::ALL {
        body(method);
    }
    stop_forkserver();
}

fn check_identity((name, parent_pid): (String, i32)) {
    let me = current_process();
    assert_eq!(me.name, name);
    assert_eq!(me.pid, std::process::id() as i32);
    let parent = parent_process().expect("a child has a parent");
    assert_eq!((parent.name.as_str(), parent.pid), ("MainProcess", parent_pid));
}

fn check_counted_name(parent_pid: i32) {
    let name = current_process().name;
    check_identity((name.clone(), parent_pid));
    assert!(name.starts_with("Process-"), "{name}");
    // Its own children are numbered under it, as in CPython: Process-N:1.
    assert_eq!(Process::new(|| {}).name(), format!("{name}:1"));
}

fn exit_with(code: i32) {
    std::process::exit(code);
}

fn panic_quietly(_: ()) {
    std::panic::set_hook(Box::new(|_| {}));
    panic!("on purpose");
}

fn sleep_ms(ms: u64) {
    sleep(Duration::from_millis(ms));
}

fn every_start_method_names_and_exits_as_cpython() {
    for_each_method(|method| {
        let me = current_pid();
        let mut named = Process::call(check_identity, (format!("{method}-child"), me))
            .with_name(format!("{method}-child"))
            .with_start_method(method);
        assert_eq!(named.start_method(), method);
        named.start().unwrap();
        assert_eq!(named.join().unwrap(), 0, "{method}: the child's checks failed");
        let mut counted = Process::call(check_counted_name, me).with_start_method(method);
        assert!(counted.name().starts_with("Process-"), "{}", counted.name());
        counted.start().unwrap();
        assert_eq!(counted.join().unwrap(), 0, "{method}: a counted name is the child's too");
        for (code, mut p) in [
            (0, Process::call(exit_with, 0)),
            (3, Process::call(exit_with, 3)),
            (1, Process::call(panic_quietly, ())),
        ] {
            p = p.with_start_method(method);
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), code, "{method}");
            assert_eq!(p.exitcode(), Some(code), "{method}");
        }
    });
}

fn every_start_method_terminates_and_kills() {
    for_each_method(|method| {
        let mut a = Process::call(sleep_ms, 60_000).with_start_method(method);
        let mut b = Process::call(sleep_ms, 60_000).with_start_method(method);
        a.start().unwrap();
        b.start().unwrap();
        assert!(a.is_alive() && b.is_alive());
        a.terminate().unwrap();
        b.kill().unwrap();
        assert_eq!((a.join().unwrap(), b.join().unwrap()), (-15, -9), "{method}");
        a.terminate().unwrap(); // ended: nothing to do, no error
        assert!(!a.is_alive());
    });
}

fn every_start_method_joins_with_timeouts_and_lists_children() {
    for_each_method(|method| {
        let mut p = Process::call(sleep_ms, 300).with_start_method(method);
        p.start().unwrap();
        assert_eq!(p.join_timeout(Duration::from_millis(10)).unwrap(), None, "{method}");
        let listed = active_children();
        assert!(listed.iter().any(|c| Some(c.pid) == p.pid()), "{method}: {listed:?}");
        assert!(p.sentinel().is_some());
        assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), Some(0), "{method}");
        assert!(active_children().is_empty(), "{method}");
        p.close().unwrap();
    });
}

fn every_start_method_drops_as_fork_does() {
    for_each_method(|method| {
        // A daemon is terminated when its handle goes; a non-daemon is waited for.
        let mut daemon =
            Process::call(sleep_ms, 60_000).with_daemon(true).with_start_method(method);
        daemon.start().unwrap();
        let started = std::time::Instant::now();
        drop(daemon);
        assert!(started.elapsed() < Duration::from_secs(10), "{method}");
        let mut plain = Process::call(sleep_ms, 200).with_start_method(method);
        plain.start().unwrap();
        let started = std::time::Instant::now();
        drop(plain);
        assert!(started.elapsed() >= Duration::from_millis(150), "{method}: the drop waited");
    });
}

fn spawn_and_forkserver_start_from_a_threaded_program() {
    let helper = std::thread::spawn(|| sleep(Duration::from_millis(1500)));
    let err = Process::call(sleep_ms, 0).start().unwrap_err().to_string();
    assert!(err.contains("Spawn") && err.contains("Forkserver"), "names the others: {err}");
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let mut p = Process::call(exit_with, 7).with_start_method(method);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 7, "{method}");
    }
    // And from another thread than the main one: the child lives on after that thread
    // has ended (its handle is forgotten there; the child reports through a pipe).
    let (mut reader, writer) = std::io::pipe().unwrap();
    let writer = std::os::fd::OwnedFd::from(writer);
    let from_thread = std::thread::spawn(move || {
        let mut p = Process::call(nap_then_write, 300)
            .pass_fd(writer)
            .with_start_method(StartMethod::Spawn);
        p.start().unwrap();
        std::mem::forget(p); // a handle stays on its thread
    });
    from_thread.join().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reader, &mut text).unwrap();
    assert_eq!(text, "done", "not killed when the thread that started it ended");
    helper.join().unwrap();
    stop_forkserver();
}

fn nap_then_write(ms: u64) {
    sleep(Duration::from_millis(ms));
    let fd = passed_fds().pop().unwrap();
    std::io::Write::write_all(&mut std::fs::File::from(fd), b"done").unwrap();
}

static GLOBAL: AtomicU32 = AtomicU32::new(0);

fn exit_with_global(_: ()) {
    std::process::exit(GLOBAL.load(SeqCst) as i32);
}

fn spawned_children_see_fresh_globals() {
    GLOBAL.store(42, SeqCst);
    for_each_method(|method| {
        let mut p = Process::call(exit_with_global, ()).with_start_method(method);
        p.start().unwrap();
        let expected = if method == StartMethod::Fork { 42 } else { 0 };
        assert_eq!(p.join().unwrap(), expected, "{method}");
    });
}

fn write_and_exit(text: String) {
    use std::io::Write;
    let mut fds = passed_fds();
    assert_eq!(fds.len(), 1);
    std::fs::File::from(fds.remove(0)).write_all(text.as_bytes()).unwrap();
    assert!(passed_fds().is_empty(), "taken once");
}

fn descriptors_reach_every_kind_of_child() {
    use std::io::Read;
    for_each_method(|method| {
        let (mut reader, writer) = std::io::pipe().unwrap();
        let mut p = Process::call(write_and_exit, format!("hello from {method}"))
            .pass_fd(writer.into())
            .with_start_method(method);
        p.start().unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap(); // end-of-file: the parent's copy is closed
        assert_eq!(text, format!("hello from {method}"));
        assert_eq!(p.join().unwrap(), 0);
    });
}

fn start_and_report((method, slot, on_thread): (String, usize, bool)) {
    let start = move || {
        let mut grandchild =
            Process::call(sleep_ms, 60_000).with_start_method(method.parse().unwrap());
        grandchild.start().unwrap();
        REPORT.get().unwrap()[slot].store(grandchild.pid().unwrap() as u32, SeqCst);
        std::mem::forget(grandchild); // whatever happens to this thread, the child goes on
    };
    if on_thread {
        std::thread::spawn(start).join().unwrap(); // the starting thread has ended
    } else {
        start();
    }
    sleep(LONG);
}

static REPORT: std::sync::OnceLock<SharedMemory<[AtomicU32; 5]>> = std::sync::OnceLock::new();

fn no_child_outlives_its_parent_whatever_the_method() {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let report =
        REPORT.get_or_init(|| SharedMemory::new([const { AtomicU32::new(0) }; 5]).unwrap());
    // Orphans come to this process, which reaps them, instead of to the test runner.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let cases = StartMethod::ALL
        .into_iter()
        .map(|m| (m, false))
        .chain([(StartMethod::Spawn, true), (StartMethod::Forkserver, true)]);
    for (slot, (method, on_thread)) in cases.enumerate() {
        // A forked child starts a grandchild with `method` (from its main thread, or
        // from a thread that then ends), then is killed.
        let mut child = Process::call(start_and_report, (method.to_string(), slot, on_thread));
        child.start().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while report[slot].load(SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "{method}: no grandchild");
            sleep(Duration::from_millis(5));
        }
        let pid = rustix::process::Pid::from_raw(report[slot].load(SeqCst) as i32).unwrap();
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).unwrap();
        child.kill().unwrap();
        assert_eq!(child.join().unwrap(), -9);
        let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&pidfd), PollFlags::POLLIN)];
        let ended = poll(&mut fds, PollTimeout::from(10_000_u16)).unwrap();
        assert_eq!(ended, 1, "{method}: the grandchild outlived its parent");
        // Reap the orphans: the grandchild, and the killed child's fork server.
        let any = nix::unistd::Pid::from_raw(-1);
        while let Ok(status) =
            nix::sys::wait::waitpid(any, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
        {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
    }
}

fn a_closure_cannot_be_spawned() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let mut p = Process::new(|| {}).with_start_method(method);
        let err = p.start().unwrap_err().to_string();
        assert!(err.contains("Process::call"), "{err}");
        assert!(p.pid().is_none());
        // Not started: it can still be forked.
        p = p.with_start_method(StartMethod::Fork);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    }
}

fn a_timeline_records_threads_and_children() {
    use examples_process::timeline::Timeline;
    let timeline = Timeline::recording().unwrap();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("helper".into())
            .spawn_scoped(s, || drop(timeline.span("in a thread")))
            .unwrap();
    });
    let mut child = Process::new({
        let timeline = timeline.clone();
        move || {
            let _span = timeline.span("in a child");
            timeline.mark("child mark");
        }
    });
    child.start().unwrap();
    let mut killed = Process::new({
        let timeline = timeline.clone();
        move || {
            let _span = timeline.span("cut off");
            sleep(LONG);
        }
    });
    child.join().unwrap(); // before the next child starts: the records' order is known
    killed.start().unwrap();
    while !timeline.records().iter().any(|r| r.label == "cut off") {
        sleep(Duration::from_millis(1));
    }
    killed.kill().unwrap();
    killed.join().unwrap();
    let records = timeline.records();
    let seen: Vec<(&str, &str, bool, bool)> = records
        .iter()
        .map(|r| (r.row.as_str(), r.label.as_str(), r.mark, r.end.is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            ("helper", "in a thread", false, true),
            ("Process-1", "in a child", false, true),
            ("Process-1", "child mark", true, false),
            ("Process-2", "cut off", false, false),
        ]
    );
    assert_ne!(records[0].tid, records[0].pid, "a thread's own id");
    assert_eq!(records[1].pid, child.pid().unwrap());
    assert!(records[2].start >= records[1].start);
    let shown = harness::svg::read(&timeline.svg("test")).unwrap();
    assert_eq!(shown.names().len(), 3, "{shown:?}");
    assert_eq!((shown.spans().len(), shown.marks, shown.cut), (3, 1, 1));
    assert_eq!(shown.mark_labels, ["child mark"]);
}

fn end_as_closed(_: ()) {
    examples_process::end_as_stdout_closed();
}

fn a_launched_child_whose_output_closed_ends_its_parent_so() {
    // A program that follows the stdout rule starts a child with spawn (forkserver's
    // children are launched the same way; a test of those would leave the program's
    // fork server to this test process); the child finds the output closed (killed by
    // SIGPIPE). The program ends the same way at the join, as it would if a forked
    // child had found it so (before, the join returned -13 and the program went on: it
    // exited with 3).
    let mut program = Process::new(|| {
        examples_process::exit_on_stdout_failure();
        let mut child = Process::call(end_as_closed, ()).with_start_method(StartMethod::Spawn);
        child.start().unwrap();
        let _ = child.join();
        std::process::exit(3);
    });
    program.start().unwrap();
    assert_eq!(program.join().unwrap(), -13);
}

fn end_as_stdout_closed_ends_by_sigpipe() {
    let mut child = Process::new(|| examples_process::end_as_stdout_closed());
    child.start().unwrap();
    assert_eq!(child.join().unwrap(), -13, "killed by SIGPIPE, as `cat` is");
}
