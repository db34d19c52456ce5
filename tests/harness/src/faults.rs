//! Runs a binary with something failing around it, and checks that it ends within a few
//! seconds, without a panic, leaving nothing behind:
//!
//! - its standard output closes after one line, as when piped into `head -1`;
//! - its standard output is `/dev/full`, where every write fails (a full disk);
//! - it may have at most 3 tasks (processes and threads) at once, so that a `fork` or a
//!   thread start fails early (a pids cgroup; where the machine offers none, the check
//!   is skipped and says so on the test's standard error).

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::libc;

use crate::{Output, Policy, RUNS, Running, Share};

/// How long a run with a fault may take: failing must not turn into waiting.
pub const FAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Something that fails around a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Standard output closes after one line (`| head -1`).
    ClosedStdout,
    /// Standard output is `/dev/full`.
    FullDisk,
    /// At most this many tasks at once (pids cgroup).
    TaskLimit(u32),
}

/// How a run is set up: where its standard output goes and how many tasks it may have.
#[derive(Default)]
pub struct Setup {
    pub(crate) close_after: Option<usize>,
    pub(crate) dev_full: bool,
    pub(crate) cgroup: Option<Cgroup>,
    pub(crate) non_utf8_argument: bool,
    /// Environment variables set for the run, after the harness's own (`TMPDIR`).
    pub(crate) env: Vec<(String, String)>,
}

impl Setup {
    /// The setup for `fault`, or why it cannot be made on this machine.
    pub fn for_fault(fault: Fault) -> Result<Setup, String> {
        Ok(match fault {
            Fault::ClosedStdout => Setup { close_after: Some(1), ..Setup::default() },
            Fault::FullDisk => Setup { dev_full: true, ..Setup::default() },
            Fault::TaskLimit(n) => Setup { cgroup: Some(Cgroup::new(n)?), ..Setup::default() },
        })
    }

    pub(crate) fn apply(&self, command: &mut Command) {
        if self.non_utf8_argument {
            command.arg(std::ffi::OsStr::from_bytes(b"\xff"));
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if self.dev_full {
            let full = File::options().write(true).open("/dev/full").expect("/dev/full");
            command.stdout(Stdio::from(full));
        }
        if let Some(cgroup) = &self.cgroup {
            let procs = cgroup.procs.clone();
            // SAFETY: runs in the forked child before `exec`: open, write and close are
            // async-signal-safe, and nothing is allocated (the path was made before).
            unsafe {
                command.pre_exec(move || {
                    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                    Ok(())
                });
            }
        }
    }
}

/// A pids cgroup of its own for one run, removed when dropped.
pub(crate) struct Cgroup {
    dir: PathBuf,
    procs: CString,
}

impl Cgroup {
    fn new(max: u32) -> Result<Cgroup, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("harness-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        // cgroup v1 has a hierarchy for pids; v2 has one tree with every controller.
        let roots = [Path::new("/sys/fs/cgroup/pids"), Path::new("/sys/fs/cgroup")];
        let mut why = Vec::new();
        for root in roots {
            let dir = root.join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) => {
                    why.push(format!("{}: {e}", root.display()));
                    continue;
                }
            }
            if let Err(e) = fs::write(dir.join("pids.max"), max.to_string()) {
                let _ = fs::remove_dir(&dir);
                why.push(format!("{}/pids.max: {e}", dir.display()));
                continue;
            }
            let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
                .map_err(|e| e.to_string())?;
            return Ok(Cgroup { dir, procs });
        }
        Err(format!("no pids cgroup can be made here ({})", why.join("; ")))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Empty once the run and everything it started are gone; the kernel may take a
        // moment to see the last task leave.
        for _ in 0..1000 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Runs `bin` with `args` under `fault` (at most [`FAULT_TIMEOUT`], leaving nothing
/// behind) and returns what it printed; `Err` says why the fault cannot be set up on
/// this machine. See [`skipped`] for saying so.
#[track_caller]
pub fn run_under(fault: Fault, bin: &str, args: &[&str]) -> Result<Output, String> {
    let setup = Setup::for_fault(fault)?;
    let guard = RUNS.read().unwrap_or_else(PoisonError::into_inner);
    let run = Running::spawn_with(bin, args, Share::Shared { _guard: guard }, &setup);
    Ok(run.finish_abruptly(FAULT_TIMEOUT, Duration::from_secs(2)))
}

/// Says, on the test's standard error and around the test harness's capture (so that
/// it shows even when the test passes), that a check was skipped and why.
pub fn skipped(what: &str, why: &str) {
    let _ = std::io::stderr().write_all(format!("note: {what} skipped: {why}\n").as_bytes());
}

/// Runs `bin` once under each fault and checks what it did:
///
/// - closed standard output: it ends quietly, with exit code 0 or killed by SIGPIPE
///   (as `cat` is), and nothing on standard error;
/// - `/dev/full`: exit code 1 and exactly one line on standard error, saying that
///   standard output could not be written;
/// - at most 3 tasks: exit code 0, or 1 with exactly one line on standard error;
///
/// and, under every fault, that it ended within [`FAULT_TIMEOUT`], printed no panic and
/// left nothing behind.
#[track_caller]
pub fn fault_runs(bin: &str, args: &[&str]) {
    fault_runs_with(bin, args, Policy::Quiet);
}

/// [`fault_runs`], where a [`Policy::Std`] binary may also end with a panic message
/// (exit code 101) under any fault: what matters is that it ends in time.
#[track_caller]
pub fn fault_runs_with(bin: &str, args: &[&str], policy: Policy) {
    for fault in [Fault::ClosedStdout, Fault::FullDisk, Fault::TaskLimit(3)] {
        match run_under(fault, bin, args) {
            Ok(out) if policy == Policy::Std => check_std(&out, fault),
            Ok(out) => check(&out, fault),
            Err(why) => {
                let name = Path::new(bin).file_name().unwrap_or_default().to_string_lossy();
                skipped(&format!("{name}: the {fault:?} check"), &why);
            }
        }
    }
}

#[track_caller]
fn check(out: &Output, fault: Fault) {
    let show =
        || format!("{} under {fault:?}: ended with {}\n{}", out.name, out.status, out.show());
    assert!(!out.stderr.contains("panicked"), "a panic: {}", show());
    let lines = out.stderr.lines().count();
    match fault {
        Fault::ClosedStdout => {
            let quiet = out.status.success() || out.signal() == Some(libc::SIGPIPE);
            assert!(quiet && lines == 0, "not a quiet end: {}", show());
        }
        Fault::FullDisk => {
            let said = out.stderr.contains("cannot write to standard output");
            assert!(out.status.code() == Some(1) && lines == 1 && said, "{}", show());
        }
        Fault::TaskLimit(_) => {
            let ok = out.status.success() || (out.status.code() == Some(1) && lines == 1);
            assert!(ok, "{}", show());
        }
    }
}

/// A std-only example under `fault`: exit code 0, 101 from a panic (what Rust does
/// when `println!` cannot write, or a thread cannot start), 1 from an error returned by
/// `main`, or killed by SIGPIPE.
#[track_caller]
fn check_std(out: &Output, fault: Fault) {
    let ended = out.status.success()
        || matches!(out.status.code(), Some(1 | 101))
        || out.signal() == Some(libc::SIGPIPE);
    assert!(ended, "{} under {fault:?}: ended with {}\n{}", out.name, out.status, out.show());
}
