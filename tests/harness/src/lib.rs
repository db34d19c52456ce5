//! Runs an example binary the way a user would and checks that it cleaned up after
//! itself; helps tests assert on what it did.
//!
//! - [`run`] starts the binary in a process group of its own, with no standard input,
//!   a private `TMPDIR`, and waits at most [`TIMEOUT`]. A run that hangs has its whole
//!   group killed and fails the test with the binary's name and the output so far. A
//!   run that leaves anything behind fails too: a process of its group still running
//!   or not reaped (an orphan or a zombie), or a file in its `TMPDIR`.
//! - Every run gets a `/dev/shm` of its own (a mount namespace; see [`run_with_shm`]),
//!   which must be empty when it ends: a segment left there is that run's leak.
//! - [`stress`] runs a binary many times, alone; then [`fault_runs`] runs it with its standard output closed after one line, on
//!   `/dev/full`, and with at most 3 tasks, and checks that it ends at once, quietly or
//!   with one line, and leaves nothing behind.
//! - [`Running`] is a run in progress, for tests that signal a binary in the middle:
//!   wait for a line, send SIGINT, check that the whole tree is gone within a bound.
//! - [`Output`] holds the exit status and the output, with helpers to count lines,
//!   find their order, read `key=value` fields and mask pids.
//! - [`run_isolated`] is the `main` of the libraries' own tests that start processes:
//!   each test runs in a single-threaded forked child, with a timeout.
//!
//! The test process makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`): a
//! process whose parent died is adopted by the test instead of by PID 1, so the test
//! can see it, reap it and report it. Processes are told apart by process group, which
//! is the binary's pid; so runs on parallel test threads never see each other's.
//!
//! [`stress`] and [`Running::start_alone`] run while no other run of the same test binary
//! does (a lock in this crate), for the examples whose point is timing.
//!
//! Integration tests get a binary's path from Cargo: `env!("CARGO_BIN_EXE_<name>")`
//! (only for the test's own package). Tests never fork themselves: the test harness
//! runs them on several threads.

#![warn(missing_docs)]

mod faults;
pub mod isolated;
mod private_dir;
mod procs;
mod shm;
pub mod svg;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};
use std::time::{Duration, Instant};
use std::{fs, thread};

use nix::sys::signal::kill;
use nix::unistd::Pid;

pub use faults::{FAULT_TIMEOUT, Fault, Setup, fault_runs, fault_runs_with, run_under, skipped};
pub use isolated::run_isolated;
pub use nix::sys::signal::Signal;
pub use private_dir::{PrivateDir, make_private_dir};
pub use procs::Member;
use shm::PrivateShm;

/// How long a run may take before it counts as a hang. Generous: it bounds a hang, it
/// does not measure speed.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Ordinary runs share this lock; runs that must not share the machine take it alone.
static RUNS: RwLock<()> = RwLock::new(());

/// What a finished run printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    /// The binary's file name, for messages.
    pub name: String,
    /// How the binary ended.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

/// Runs `bin` with `args` and waits for it (at most [`TIMEOUT`]).
pub fn run(bin: &str, args: &[&str]) -> Output {
    run_with_timeout(bin, args, TIMEOUT)
}

/// Runs `bin` with one argument that is not UTF-8 (the byte 0xFF), as a file name on
/// Linux may be; a binary must reject it as bad input, not panic.
pub fn run_with_non_utf8_argument(bin: &str) -> Output {
    let guard = RUNS.read().unwrap_or_else(PoisonError::into_inner);
    let setup = Setup { non_utf8_argument: true, ..Setup::default() };
    Running::spawn_with(bin, &[], Share::Shared { _guard: guard }, &setup).finish(TIMEOUT)
}

/// Runs `bin` with `args` and these environment variables set (after the harness's
/// own, so `TMPDIR` may be changed too).
pub fn run_with_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let guard = RUNS.read().unwrap_or_else(PoisonError::into_inner);
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let setup = Setup { env, ..Setup::default() };
    Running::spawn_with(bin, args, Share::Shared { _guard: guard }, &setup).finish(TIMEOUT)
}

/// Checks the command line of a binary that takes arguments: `--help` and `-h` print
/// its usage and exit 0; each of `bad`, and an argument that is not UTF-8, is a
/// one-line usage error with exit code 2 (see [`Output::assert_usage_error`]).
#[track_caller]
pub fn check_arguments(bin: &str, bad: &[&[&str]]) {
    for help in ["--help", "-h"] {
        run(bin, &[help]).assert_help();
    }
    for args in bad {
        run(bin, args).assert_usage_error();
    }
    run_with_non_utf8_argument(bin).assert_usage_error();
}

/// Runs `bin` with `args`, failing the test if it has not finished after `timeout`.
pub fn run_with_timeout(bin: &str, args: &[&str], timeout: Duration) -> Output {
    Running::start(bin, args).finish(timeout)
}

/// How many times [`stress`] runs each binary: `STRESS_RUNS` from the environment, or 2.
/// `STRESS_RUNS=50 cargo test --workspace stress` is the long version.
pub fn stress_runs() -> usize {
    match std::env::var("STRESS_RUNS") {
        Err(_) => 2,
        Ok(text) => match text.parse() {
            Ok(n @ 1..=100_000) => n,
            _ => panic!("STRESS_RUNS must be a whole number from 1 to 100000, not {text:?}"),
        },
    }
}

/// Runs `bin` [`stress_runs`] times, one run at a time and alone. Each run must exit
/// with code 0 (every example asserts its own invariants, so that means they held)
/// and leave nothing behind: no process, no file in its `TMPDIR` or its `/dev/shm`.
/// Then runs it once under each fault of [`fault_runs`].
pub fn stress(bin: &str, args: &[&str]) {
    stress_with(bin, args, Policy::Quiet);
}

/// What a run under a fault may do besides ending in time (see [`fault_runs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// An example that starts processes: it ends quietly on a closed standard output,
    /// with one line on a full disk (`examples_process::exit_on_stdout_failure`).
    Quiet,
    /// A std-only example: it may end as any Rust program does (a panic message, exit
    /// code 101), but within the time, leaving nothing behind.
    Std,
}

/// [`stress`] with the fault checks of `policy`.
#[track_caller]
pub fn stress_with(bin: &str, args: &[&str], policy: Policy) {
    let runs = stress_runs();
    for i in 1..=runs {
        let out = Running::start_alone(bin, args).finish(TIMEOUT);
        assert!(
            out.status.success(),
            "{} failed in run {i} of {runs} with {}\n{}",
            out.name,
            out.status,
            out.show()
        );
    }
    faults::fault_runs_with(bin, args, policy);
}

/// The three ways a user ends a program: Ctrl-C, `kill`, `kill -9`.
pub const SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL];

/// What [`interrupt`] saw.
#[derive(Debug)]
pub struct Interrupted {
    /// The signal sent.
    pub signal: Signal,
    /// The processes of the run alive when the signal was sent, the binary first.
    pub alive: Vec<Member>,
    /// The run's output and how long the whole tree took to go after the signal.
    pub gone: Gone,
}

/// Runs `bin` alone, waits for a line containing `line` (none if it is empty) and then for at least
/// `processes` live processes in its tree, sends `signal` to the binary only (as
/// `kill -INT PID` does), and fails the test unless the binary died of that signal and
/// every process of its tree was gone within `within`, leaving nothing behind.
#[track_caller]
pub fn interrupt(
    bin: &str,
    args: &[&str],
    line: &str,
    processes: usize,
    signal: Signal,
    within: Duration,
) -> Interrupted {
    let mut run = Running::start_alone(bin, args);
    if !line.is_empty() {
        run.wait_for_line(line);
    }
    let mut alive = run.wait_for_processes(processes);
    alive.sort_by_key(|m| m.pid != run.pid());
    run.signal(signal);
    let gone = run.wait_gone(within);
    assert_eq!(
        gone.output.signal(),
        Some(signal as i32),
        "{} was not ended by {signal} (it had {} processes)\n{}",
        gone.output.name,
        alive.len(),
        gone.output.show()
    );
    Interrupted { signal, alive, gone }
}

/// [`interrupt`] once for each of [`SIGNALS`], printing how long each tree took to go.
#[track_caller]
pub fn interrupt_each(
    bin: &str,
    args: &[&str],
    line: &str,
    processes: usize,
    within: Duration,
) -> Vec<Interrupted> {
    let name = Path::new(bin).file_name().unwrap_or_default().to_string_lossy().into_owned();
    SIGNALS
        .into_iter()
        .map(|signal| {
            let seen = interrupt(bin, args, line, processes, signal, within);
            println!(
                "{name}, {signal}: {} processes gone in {:?}",
                seen.alive.len(),
                seen.gone.after
            );
            seen
        })
        .collect()
}

/// [`stress`] for every binary of a package, after checking that `binaries` names
/// every `src/bin/*.rs` of the package at `manifest_dir`, so that a new example cannot
/// be left out.
pub fn stress_all(manifest_dir: &str, binaries: &[(&str, &[&str])]) {
    stress_all_with(
        manifest_dir,
        &binaries.iter().map(|&(b, a)| (b, a, Policy::Quiet)).collect::<Vec<_>>(),
    );
}

/// [`stress_all`] where each binary has its [`Policy`].
pub fn stress_all_with(manifest_dir: &str, binaries: &[(&str, &[&str], Policy)]) {
    let names: BTreeSet<String> = binaries
        .iter()
        .map(|(bin, _, _)| Path::new(bin).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let sources = Path::new(manifest_dir).join("src/bin");
    for entry in fs::read_dir(&sources).unwrap_or_else(|e| panic!("{sources:?}: {e}")) {
        let path = entry.expect("a directory entry").path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(names.contains(&stem), "the stress test does not run {stem} ({path:?})");
    }
    for &(bin, args, policy) in binaries {
        stress_with(bin, args, policy);
    }
}

/// Runs `bin` with `args` (at most [`TIMEOUT`]) in a `/dev/shm` of its own: `prepare`
/// may put files in it first, and `inspect` may read (and remove) what is there once
/// the run has ended, before the check that the run left nothing there. Both are given
/// the directory that the run sees as `/dev/shm` (the real `/dev/shm` where no mount
/// namespace can be made).
pub fn run_with_shm<R>(
    bin: &str,
    args: &[&str],
    prepare: impl FnOnce(&Path),
    inspect: impl FnOnce(&Path) -> R,
) -> (Output, R) {
    let guard = RUNS.read().unwrap_or_else(PoisonError::into_inner);
    let shm = PrivateShm::new();
    let dir = shm.as_ref().map_or_else(|| PathBuf::from("/dev/shm"), |s| s.path().to_path_buf());
    prepare(&dir);
    let run = Running::spawn_in(bin, args, Share::Shared { _guard: guard }, &Setup::default(), shm);
    let (mut inspect, mut inspected) = (Some(inspect), None);
    let out = run.finish_inspecting(TIMEOUT, Duration::ZERO, &mut || {
        inspected = inspect.take().map(|f| f(&dir));
    });
    (out, inspected.expect("inspected after the run"))
}

/// Which share of [`RUNS`] a run holds.
enum Share {
    Shared { _guard: RwLockReadGuard<'static, ()> },
    Alone { _guard: RwLockWriteGuard<'static, ()> },
}

/// A binary that is running, started by [`Running::start`].
pub struct Running {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    group: Pid,
    tmp: PathBuf,
    /// Its own `/dev/shm`, where one can be made.
    shm: Option<PrivateShm>,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: mpsc::Receiver<String>,
    _share: Share,
}

/// How a signalled run ended: its output, and how long the whole tree took to go.
#[derive(Debug)]
pub struct Gone {
    /// The run's output and exit status.
    pub output: Output,
    /// From the signal to the last process of the tree gone.
    pub after: Duration,
}

impl Running {
    /// Starts `bin` with `args` in a process group of its own, stdin closed, a private
    /// `TMPDIR`; standard output is read line by line as it comes.
    pub fn start(bin: &str, args: &[&str]) -> Running {
        let guard = RUNS.read().unwrap_or_else(PoisonError::into_inner);
        Running::spawn(bin, args, Share::Shared { _guard: guard })
    }

    /// Like [`Running::start`], but waits until no other run of this test binary is
    /// going on and runs alone.
    pub fn start_alone(bin: &str, args: &[&str]) -> Running {
        let guard = RUNS.write().unwrap_or_else(PoisonError::into_inner);
        Running::spawn(bin, args, Share::Alone { _guard: guard })
    }

    fn spawn(bin: &str, args: &[&str], share: Share) -> Running {
        Running::spawn_with(bin, args, share, &Setup::default())
    }

    /// Starts a run with a fault set up: its standard output, its process limit.
    fn spawn_with(bin: &str, args: &[&str], share: Share, setup: &Setup) -> Running {
        Running::spawn_in(bin, args, share, setup, PrivateShm::new())
    }

    /// Starts a run set up by `setup`, in `shm` as its `/dev/shm` if there is one.
    fn spawn_in(
        bin: &str,
        args: &[&str],
        share: Share,
        setup: &Setup,
        shm: Option<PrivateShm>,
    ) -> Running {
        procs::become_subreaper();
        let name =
            Path::new(bin).file_name().map_or(bin.into(), |n| n.to_string_lossy().into_owned());
        let tmp = make_private_dir("harness");
        let mut command = Command::new(bin);
        command
            .args(args)
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0); // so that everything it starts can be found and ended
        setup.apply(&mut command);
        if let Some(shm) = &shm {
            shm.apply(&mut command);
        }
        let mut child =
            command.spawn().unwrap_or_else(|e| panic!("{name}: cannot start {bin}: {e}"));
        let group = Pid::from_raw(child.id() as i32);
        let lines = read_lines_in_background(child.stdout.take(), setup.close_after);
        let stderr = read_in_background(child.stderr.take());
        let stdout = Vec::new();
        Running { name, child, status: None, group, tmp, shm, lines, stdout, stderr, _share: share }
    }

    /// The binary's pid (and its process group's id).
    pub fn pid(&self) -> i32 {
        self.group.as_raw()
    }

    /// The run's private `TMPDIR`, to watch what it puts there while it runs.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Waits (at most [`TIMEOUT`]) for a line of standard output that contains `part`
    /// and returns it. Fails the test if the output ends first.
    #[track_caller]
    pub fn wait_for_line(&mut self, part: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if line.contains(part) {
                        return line;
                    }
                }
                Err(_) => {
                    let seen = self.stdout.join("\n");
                    self.kill_all();
                    panic!("{}: no line containing {part:?}; output so far:\n{seen}", self.name);
                }
            }
        }
    }

    /// The live processes of the run's group (zombies left out), the binary included.
    pub fn processes(&self) -> Vec<Member> {
        procs::members(self.group).into_iter().filter(|m| !m.is_zombie()).collect()
    }

    /// Waits (at most [`TIMEOUT`]) until at least `n` processes of the run are alive,
    /// and returns them.
    #[track_caller]
    pub fn wait_for_processes(&mut self, n: usize) -> Vec<Member> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let alive = self.processes();
            if alive.len() >= n {
                return alive;
            }
            if Instant::now() >= deadline {
                self.kill_all();
                panic!("{}: never had {n} processes at once", self.name);
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends `signal` to the binary only (not to its group), as `kill PID` does.
    pub fn signal(&self, signal: Signal) {
        kill(self.group, signal).unwrap_or_else(|e| panic!("{}: kill: {e}", self.name));
    }

    /// Waits until the binary and every process it started are gone (exited and
    /// reaped), failing the test if that takes longer than `within`, or if the run left
    /// anything else behind. Returns the output and how long it took.
    #[track_caller]
    pub fn wait_gone(mut self, within: Duration) -> Gone {
        let start = Instant::now();
        loop {
            self.poll_status();
            procs::reap_orphans(self.group);
            let left = procs::members(self.group);
            if self.status.is_some() && left.is_empty() {
                break;
            }
            if start.elapsed() > within {
                self.kill_all();
                panic!(
                    "{}: still there {within:?} after the signal: {}",
                    self.name,
                    procs::describe(&left)
                );
            }
            thread::sleep(Duration::from_millis(1));
        }
        let after = start.elapsed();
        Gone { output: self.collect(Vec::new()), after }
    }

    /// Waits (until `timeout`) for the binary to exit, then checks it left nothing.
    #[track_caller]
    pub fn finish(self, timeout: Duration) -> Output {
        self.finish_within(timeout, Duration::ZERO)
    }

    /// Like [`Running::finish`], for a binary that may have ended abruptly (killed, or
    /// `_exit` after a failure): its children, killed with it by the kernel
    /// (`PR_SET_PDEATHSIG`), get `grace` to die; the test process reaps them, as PID 1
    /// would. Whatever is still there after that, it left behind.
    #[track_caller]
    pub fn finish_abruptly(self, timeout: Duration, grace: Duration) -> Output {
        self.finish_within(timeout, grace)
    }

    #[track_caller]
    fn finish_within(self, timeout: Duration, grace: Duration) -> Output {
        self.finish_inspecting(timeout, grace, &mut || {})
    }

    /// Like [`Running::finish_within`], running `inspect` once everything has ended and
    /// before the check of what was left.
    #[track_caller]
    fn finish_inspecting(
        mut self,
        timeout: Duration,
        grace: Duration,
        inspect: &mut dyn FnMut(),
    ) -> Output {
        let deadline = Instant::now() + timeout;
        while self.poll_status().is_none() {
            if Instant::now() >= deadline {
                self.kill_all();
                panic!(
                    "{}: still running after {timeout:?}; its process group was killed\n\
                     output so far:\n{}",
                    self.name,
                    self.stdout.join("\n")
                );
            }
            thread::sleep(Duration::from_millis(2));
        }
        let gone_by = Instant::now() + grace;
        while !procs::members(self.group).is_empty() && Instant::now() < gone_by {
            procs::reap_orphans(self.group);
            thread::sleep(Duration::from_millis(1));
        }
        // Whatever of its group is still there now, alive or a zombie, it left behind.
        let left = procs::members(self.group);
        let mut problems = Vec::new();
        if !left.is_empty() {
            problems.push(format!("left behind: {}", procs::describe(&left)));
            self.kill_all();
        }
        inspect();
        self.collect(problems)
    }

    fn poll_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Kills the whole group and reaps it (bounded), for failure paths.
    fn kill_all(&mut self) {
        let _ = nix::sys::signal::killpg(self.group, Signal::SIGKILL);
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !procs::members(self.group).is_empty() && Instant::now() < deadline {
            procs::reap_orphans(self.group);
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Reads the rest of the output, checks `TMPDIR` and `/dev/shm`, and fails the test
    /// if anything was left behind.
    #[track_caller]
    fn collect(mut self, mut problems: Vec<String>) -> Output {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.stdout.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    problems.push("standard output still open".into());
                    break;
                }
            }
        }
        let stderr = self.stderr.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
        // Gone is empty (a run may remove its TMPDIR); unreadable is not.
        let files: Vec<String> = match fs::read_dir(&self.tmp) {
            Ok(dir) => {
                dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => vec![format!("(cannot read it: {e})")],
        };
        if !files.is_empty() {
            problems.push(format!("left in its TMPDIR: {files:?}"));
        }
        let _ = fs::remove_dir_all(&self.tmp);
        if let Some(left) = self.shm.as_ref().map(PrivateShm::left).filter(|l| !l.is_empty()) {
            problems.push(format!("left in /dev/shm: {left:?}"));
        }
        let mut stdout = self.stdout.join("\n");
        if !stdout.is_empty() {
            stdout.push('\n');
        }
        let status = self.status.unwrap_or_else(|| ExitStatus::from_raw(-1));
        let output = Output { name: self.name.clone(), status, stdout, stderr };
        assert!(problems.is_empty(), "{}: {}\n{}", self.name, problems.join("; "), output.show());
        output
    }
}

impl Drop for Running {
    /// A test that fails half-way must not leave the binary running.
    fn drop(&mut self) {
        if self.status.is_none() || !procs::members(self.group).is_empty() {
            self.kill_all();
        }
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

/// Reads standard output line by line; after `close_after` lines (if given), closes
/// the pipe, as `head -n` does.
fn read_lines_in_background(
    pipe: Option<impl Read + Send + 'static>,
    close_after: Option<usize>,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(pipe) = pipe {
        thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut bytes = Vec::new();
            let mut left = close_after.unwrap_or(usize::MAX);
            while left > 0 && matches!(pipe.read_until(b'\n', &mut bytes), Ok(1..)) {
                left -= 1;
                let line = String::from_utf8_lossy(&bytes);
                if tx.send(line.trim_end_matches('\n').to_string()).is_err() {
                    break;
                }
                bytes.clear();
            }
        });
    }
    rx
}

fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    rx
}

impl Output {
    /// Fails the test, showing both outputs, unless the binary exited with code 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Output {
        assert!(
            self.status.success(),
            "{} failed with {}\n{}",
            self.name,
            self.status,
            self.show()
        );
        self
    }

    /// Fails the test unless the binary exited with `code` (not killed by a signal).
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Output {
        assert_eq!(
            self.status.code(),
            Some(code),
            "{} ended with {}\n{}",
            self.name,
            self.status,
            self.show()
        );
        self
    }

    /// Fails the test unless the run was refused as bad input: exit code 2, nothing
    /// on standard output, and one line on standard error that names the binary and
    /// shows its usage (so no panic message either).
    #[track_caller]
    pub fn assert_usage_error(&self) -> &Output {
        self.assert_code(2);
        let lines: Vec<&str> = self.stderr.lines().collect();
        let ok = lines.len() == 1
            && lines[0].starts_with(&format!("{}: ", self.name))
            && lines[0].contains(&format!("usage: {}", self.name));
        assert!(ok, "{}: not a one-line usage error\n{}", self.name, self.show());
        assert!(self.stdout.is_empty(), "{}: printed on a usage error\n{}", self.name, self.show());
        self
    }

    /// Fails the test unless the run refused `arg`: exit code 2, one line on standard
    /// error starting `<name>: unexpected argument "<arg>"` (what a std-only example's
    /// local `init` prints, and `examples_process::no_arguments` before its usage),
    /// nothing on standard output.
    #[track_caller]
    pub fn assert_argument_refused(&self, arg: &str) -> &Output {
        self.assert_code(2);
        let start = format!("{}: unexpected argument {arg:?}", self.name);
        let lines: Vec<&str> = self.stderr.lines().collect();
        let ok = lines.len() == 1 && lines[0].starts_with(&start);
        assert!(ok, "{}: not a one-line refusal of {arg:?}\n{}", self.name, self.show());
        assert!(self.stdout.is_empty(), "{}: printed on a usage error\n{}", self.name, self.show());
        self
    }

    /// Fails the test unless the run printed help: exit code 0, standard output
    /// starting with `usage: <name>`, nothing on standard error.
    #[track_caller]
    pub fn assert_help(&self) -> &Output {
        self.assert_success();
        let usage = format!("usage: {}", self.name);
        assert!(self.stdout.starts_with(&usage), "{}: no {usage:?}\n{}", self.name, self.show());
        assert!(self.stderr.is_empty(), "{}: help wrote to stderr\n{}", self.name, self.show());
        self
    }

    /// The signal that killed the binary, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// Standard output, line by line.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// How many lines of standard output are exactly `line`.
    pub fn count(&self, line: &str) -> usize {
        self.stdout.lines().filter(|l| *l == line).count()
    }

    /// How many lines of standard output contain `part`.
    pub fn count_containing(&self, part: &str) -> usize {
        self.stdout.lines().filter(|l| l.contains(part)).count()
    }

    /// The index of the first line of standard output that contains `part`.
    #[track_caller]
    pub fn position(&self, part: &str) -> usize {
        self.stdout
            .lines()
            .position(|l| l.contains(part))
            .unwrap_or_else(|| panic!("{}: no line contains {part:?}\n{}", self.name, self.show()))
    }

    /// The first line of standard output that contains `part`.
    #[track_caller]
    pub fn line(&self, part: &str) -> &str {
        self.lines()[self.position(part)]
    }

    /// The value of `key=value` in the first line that has it: `field("pid")` reads
    /// `1234` from `child pid=1234 ppid=1200`. Values end at white space, `,`, `;` or a bracket.
    #[track_caller]
    pub fn field(&self, key: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|l| field(l, key))
            .unwrap_or_else(|| panic!("{}: no line has {key}=\n{}", self.name, self.show()))
    }

    /// Standard output with every pid masked (see [`mask_pids`]).
    pub fn masked(&self) -> String {
        mask_pids(&self.stdout)
    }

    /// Both outputs, for a failure message.
    pub fn show(&self) -> String {
        format!("--- stdout ---\n{}--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// The value of `key=value` in `line`, if it is there as a whole key.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split([' ', ',', ';', '(', ')', '[', ']'])
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .filter(|value| !value.is_empty())
}

/// The whole number right after `key` in `line`: `number_after("g_num=12 of 20", "g_num=")`
/// is 12. Panics, naming both, if there is none (a test helper).
#[track_caller]
pub fn number_after(line: &str, key: &str) -> i64 {
    let at = line.find(key).unwrap_or_else(|| panic!("no {key:?} in {line:?}")) + key.len();
    let rest = &line[at..];
    let digits =
        rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-').len();
    rest[..digits].parse().unwrap_or_else(|_| panic!("no number after {key:?} in {line:?}"))
}

/// Replaces the digits after every `pid=` (which includes `ppid=`) with `N`, so that
/// lines can be compared across runs.
pub fn mask_pids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("pid=") {
        let (head, tail) = rest.split_at(at + "pid=".len());
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push('N');
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_reads_whole_keys_only() {
        let line = "child pid=12, ppid=7; name=Process-1";
        assert_eq!(field(line, "pid"), Some("12"));
        assert_eq!(field(line, "ppid"), Some("7"));
        assert_eq!(field(line, "name"), Some("Process-1"));
        assert_eq!(field(line, "id"), None);
    }

    #[test]
    fn number_after_reads_the_number_only() {
        assert_eq!(number_after("racy: g_num=1364608 of 2000000", "g_num="), 1364608);
        assert_eq!(number_after("exitcode=-9)", "exitcode="), -9);
    }

    #[test]
    fn mask_pids_masks_every_pid() {
        assert_eq!(mask_pids("pid=12 ppid=7 x=3\npid="), "pid=N ppid=N x=3\npid=");
    }

    #[test]
    fn run_reports_exit_code_and_output() {
        let out = run("/bin/sh", &["-c", "echo a; echo b; exit 3"]);
        out.assert_code(3);
        assert_eq!(out.lines(), ["a", "b"]);
    }

    #[test]
    #[should_panic(expected = "still running")]
    fn run_fails_a_hang_and_kills_it() {
        run_with_timeout("/bin/sleep", &["30"], Duration::from_millis(200));
    }

    #[test]
    #[should_panic(expected = "left behind: process")]
    fn run_fails_when_a_descendant_is_left_behind() {
        // `sh` exits at once; the background `sleep` goes on.
        run("/bin/sh", &["-c", "sleep 30 &"]);
    }

    #[test]
    #[should_panic(expected = "left behind: zombie")]
    fn run_fails_when_a_child_is_not_reaped() {
        // The background `sleep` ends first; the `exec`ed one never waits for it.
        run("/bin/sh", &["-c", "sleep 0.05 & exec sleep 0.5"]);
    }

    #[test]
    #[should_panic(expected = "left in its TMPDIR: [\"left.txt\"]")]
    fn run_fails_when_a_temporary_file_is_left() {
        run("/bin/sh", &["-c", "touch \"$TMPDIR/left.txt\""]);
    }

    #[test]
    fn a_run_sees_only_what_it_leaves_in_dev_shm() {
        // Another program's segment, made while the run goes on, is not the run's.
        let other = Path::new("/dev/shm").join(format!("harness-other-{}", std::process::id()));
        let script = "touch /dev/shm/left-by-the-run";
        let outcome = std::panic::catch_unwind(|| {
            run_with_shm("/bin/sh", &["-c", script], |_| fs::write(&other, b"").unwrap(), |_| {})
        });
        let _ = fs::remove_file(&other);
        if PrivateShm::new().is_none() {
            return; // no mount namespace here: said once, by the harness
        }
        let message = *outcome.expect_err("the run should fail").downcast::<String>().unwrap();
        assert!(message.contains("left in /dev/shm: [\"left-by-the-run\"]"), "{message}");
        assert!(!message.contains("harness-other"), "{message}");
    }

    #[test]
    fn a_run_may_prepare_and_clear_its_dev_shm() {
        let (out, seen) = run_with_shm(
            "/bin/sh",
            &["-c", "cat /dev/shm/given; echo made > /dev/shm/made"],
            |dir| fs::write(dir.join("given"), "given\n").unwrap(),
            |dir| {
                let made = fs::read_to_string(dir.join("made")).unwrap();
                fs::remove_file(dir.join("made")).unwrap();
                fs::remove_file(dir.join("given")).unwrap();
                made
            },
        );
        out.assert_success();
        assert_eq!((out.lines(), seen.as_str()), (vec!["given"], "made\n"));
    }

    #[test]
    fn a_signalled_run_is_gone_with_its_signal() {
        let mut sleeper = Running::start("/bin/sh", &["-c", "echo ready; exec sleep 30"]);
        assert_eq!(sleeper.wait_for_line("ready"), "ready");
        assert_eq!(sleeper.wait_for_processes(1).len(), 1);
        sleeper.signal(Signal::SIGTERM);
        let gone = sleeper.wait_gone(Duration::from_secs(10));
        assert_eq!(gone.output.signal(), Some(15));
        assert_eq!(gone.output.lines(), ["ready"]);
    }

    #[test]
    #[should_panic(expected = "still there")]
    fn a_child_that_outlives_its_signalled_parent_fails() {
        let mut parent = Running::start("/bin/sh", &["-c", "sleep 30 & echo started; wait"]);
        parent.wait_for_line("started");
        parent.wait_for_processes(2);
        parent.signal(Signal::SIGTERM);
        parent.wait_gone(Duration::from_millis(300));
    }
}
