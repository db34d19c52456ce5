//! Process ids, the current process, live children, the CPU count, and a child that
//! kills itself.
//!
//! Mirrors note 004 "获取进程编号" and the helper functions of note 003 "进程的创建".
//!
//! | CPython                                | Rust                                         |
//! |----------------------------------------|----------------------------------------------|
//! | `os.getpid()`, `os.getppid()`          | `nix::unistd::getpid()`, `getppid()` (or `std::process::id()`) |
//! | `multiprocessing.current_process()`    | `examples_process::current_process()`        |
//! | `multiprocessing.parent_process()`     | `examples_process::parent_process()` (`None` in the main process) |
//! | `multiprocessing.active_children()`    | `examples_process::active_children()`        |
//! | `multiprocessing.cpu_count()`          | `std::thread::available_parallelism()`       |
//! | `os.kill(os.getpid(), 9)`              | `nix::sys::signal::kill(getpid(), SIGKILL)`  |
//! | `p.exitcode == -9`                     | `p.exitcode() == Some(-9)`                   |
//!
//! Run: `cargo run -p examples-process --bin process_info`
//!
//! Output: the main process's pid and name (`MainProcess`); no active children before
//! any start; two children that print their pid, parent pid and name (`myprocess1`,
//! `Process-2`); `active_children` with both while they run, when neither has an exit
//! code yet (`None`); one "dancing..." line only, because the dancer kills itself
//! with signal 9 after it; five "singing..." lines; exit codes -9 and 0; no active
//! children after the joins. What varies: pids, and how the children's lines interleave.
//!
//! Where Rust differs: `available_parallelism` counts the CPUs this process may use
//! (affinity and cgroup limits), where `cpu_count()` counts the machine's.
//!
//! In your own program: `std::process::id()` and `std::os::unix::process::parent_id()`
//! are `getpid` and `getppid` without a dependency; the `sysinfo` crate lists
//! processes.
//!
//! Copy it: `cargo new process_info`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add nix@0.31 --features process,signal
//! ```

use std::thread::{available_parallelism, sleep};
use std::time::Duration;

use examples_process::{Failure, Process, active_children, current_process, parent_process};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{getpid, getppid};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    println!("main: pid={} ppid={}", getpid(), getppid());
    println!("main: current_process {}", current_process());
    println!("main: cpu_count={}", available_parallelism()?);

    let before = active_children();
    println!("main: active children before any start: {}", before.len());
    let mut dance_process = Process::new(dance).with_name("myprocess1");
    let mut sing_process = Process::new(sing);
    dance_process.start()?;
    sing_process.start()?;

    // Both children sleep at least 0.3 s before they end, so both are listed, and
    // neither has an exit code yet.
    let running = active_children();
    for child in &running {
        println!("main: active child {child}");
    }
    let codes_while_running = [dance_process.exitcode(), sing_process.exitcode()];
    println!("main: exitcode while they run: {codes_while_running:?}");

    let dance_code = dance_process.join()?;
    let sing_code = sing_process.join()?;
    println!("main: {} exitcode={dance_code}", dance_process.name());
    println!("main: {} exitcode={sing_code}", sing_process.name());
    let after = active_children();
    println!("main: active children after join: {}", after.len());

    assert!(before.is_empty());
    assert_eq!(running.len(), 2);
    assert_eq!(codes_while_running, [None, None]);
    assert_eq!(dance_code, -(Signal::SIGKILL as i32), "killed by signal 9 reads as -9");
    assert_eq!(sing_code, 0);
    assert!(after.is_empty());
    println!("main: ok");
    Ok(())
}

fn dance() {
    let me = current_process();
    println!("dance: pid={} ppid={}", me.pid, getppid());
    println!("dance: current_process {me}");
    for _ in 0..5 {
        println!("dancing...");
        sleep(Duration::from_millis(300));
        // As in the note: the process kills itself by its own pid. No later line runs.
        let _ = kill(getpid(), Signal::SIGKILL);
    }
}

fn sing() {
    let me = current_process();
    println!("sing: pid={} ppid={}", me.pid, getppid());
    println!("sing: current_process {me}");
    if let Some(parent) = parent_process() {
        println!("sing: parent_process {parent}");
    }
    for _ in 0..5 {
        println!("singing...");
        sleep(Duration::from_millis(100));
    }
}
