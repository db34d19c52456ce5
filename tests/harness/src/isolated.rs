//! A test runner for library tests that start processes. Cargo's usual test harness
//! runs tests on several threads, and a process with several threads must not `fork`
//! (`examples_process::Process::start` refuses). So these tests live in test targets
//! with `harness = false`, whose `main` calls [`run_isolated`]: a single-threaded
//! program that runs each test in a forked child of its own, in a process group of its
//! own, with a timeout, and fails a test that leaves a process behind.
//!
//! ```text
//! cargo test --test lib_ipc            # every test of the target
//! cargo test --test lib_ipc -- ring    # those whose name contains "ring"
//! ```

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, setpgid};

use crate::{TIMEOUT, procs};

/// One test: its name and its body, which fails by panicking.
pub type Test = (&'static str, fn());

/// The list of tests for [`run_isolated`], each named after its function:
/// `run_isolated(isolated_tests![first_test, second_test])`.
#[macro_export]
macro_rules! isolated_tests {
    ($($test:ident),* $(,)?) => {
        &[$((stringify!($test), $test as fn())),*]
    };
}

/// Runs the tests whose name contains the first command-line argument that is not an
/// option (all of them if there is none), each in a forked child, one at a time, and
/// prints a line per test as Cargo's harness does. Exit code 0 if every test passed.
pub fn run_isolated(tests: &[Test]) -> ExitCode {
    procs::become_subreaper();
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let chosen: Vec<&Test> = tests.iter().filter(|(name, _)| name.contains(&filter)).collect();
    println!("\nrunning {} tests (each in a process of its own)", chosen.len());
    let started = Instant::now();
    let mut failed = Vec::new();
    for (name, body) in chosen.iter().copied() {
        let test_started = Instant::now();
        let outcome = run_one(*body);
        let ms = test_started.elapsed().as_millis();
        match &outcome {
            Ok(()) => println!("test {name} ... ok ({ms} ms)"),
            Err(why) => {
                println!("test {name} ... FAILED ({ms} ms): {why}");
                failed.push(*name);
            }
        }
    }
    let passed = chosen.len() - failed.len();
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failures: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// Runs `body` in a forked child and waits for it (at most [`TIMEOUT`]); then checks
/// that nothing of its process group is left.
fn run_one(body: fn()) -> Result<(), String> {
    let _ = io::stdout().flush();
    // SAFETY: this program is single-threaded (it starts no thread), so the child
    // inherits no lock held by another thread.
    let child = match unsafe { fork() } {
        Err(e) => return Err(format!("cannot fork: {e}")),
        Ok(ForkResult::Child) => {
            let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let outcome = panic::catch_unwind(AssertUnwindSafe(body));
            let _ = io::stdout().flush();
            let _ = io::stderr().flush();
            // SAFETY: ends the child at once, without running the runner's destructors.
            unsafe { libc::_exit(if outcome.is_ok() { 0 } else { 101 }) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    // The child may not have made its group yet; make it here too (one of the two wins).
    let _ = setpgid(child, child);
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1));
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = killpg(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                clean_up(child);
                return Err(format!("still running after {TIMEOUT:?}; killed"));
            }
            Ok(status) => break status,
            Err(e) => return Err(format!("waitpid: {e}")),
        }
    };
    // Whatever of its group is still there, alive or a zombie, the test left behind.
    let left = procs::members(child);
    clean_up(child);
    match status {
        WaitStatus::Exited(_, 0) if left.is_empty() => Ok(()),
        WaitStatus::Exited(_, 0) => Err(format!("left behind: {}", procs::describe(&left))),
        WaitStatus::Exited(_, code) => Err(format!("exit code {code} (a failed assertion?)")),
        other => Err(format!("ended with {other:?}")),
    }
}

/// Kills and reaps whatever is left of a test's process group.
fn clean_up(group: Pid) {
    let _ = killpg(group, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !procs::members(group).is_empty() && Instant::now() < deadline {
        procs::reap_orphans(group);
        thread::sleep(Duration::from_millis(1));
    }
}
