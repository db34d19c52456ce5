//! Threads share the process's memory; a child process gets a copy of it.
//!
//! Mirrors note 004 "线程", point 3 (threads share global variables), and the two bold
//! lines of note 000 "互斥锁": globals are not shared between processes, and are shared
//! (unsafely, without a lock) between the threads of one process.
//!
//! | CPython                                  | Rust                                         |
//! |------------------------------------------|----------------------------------------------|
//! | `g_num = 0` at module level              | `static G_NUM: AtomicI32` (a safe mutable static) |
//! | `my_list = []` at module level           | `static MY_LIST: Mutex<Vec<i32>>`            |
//! | `Thread(target=add).start(); join()`     | `thread::spawn(add).join()`                  |
//! | `Process(target=add).start(); join()`    | `Process::new(add).start()?; join()?`        |
//!
//! Run: `cargo run -p examples-thread --bin shared_globals`
//!
//! Output: main reads `g_num=0 my_list=[]`; a thread adds 100 and pushes 1, and main then
//! reads 100 and `[1]`; a child process does the same, prints 200 and `[1, 1]` in its
//! copy, and main still reads 100 and `[1]`. Nothing varies but the pid.
//!
//! Where Rust differs: a plain `static mut` written from two threads does not compile
//! without `unsafe`, because it is a data race. A shared global must be an atomic or sit
//! behind a lock, so the compiler forces the "needs a lock" warning of the note. The
//! process is started after the thread has been joined: forking while another thread
//! runs is unsafe (`Process::start` refuses).
//!
//! In your own program: `std::thread::scope` with an `AtomicU64` or a `Mutex`;
//! processes share nothing unless given shared memory or a channel.
//!
//! Copy it: `cargo new shared_globals`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add nix@0.31 --features process
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;

use examples_process::{Failure, Process};
use nix::unistd::getpid;

static G_NUM: AtomicI32 = AtomicI32::new(0);
static MY_LIST: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    println!("main: at first {}", snapshot());

    thread::spawn(add).join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    let after_thread = snapshot();
    println!("main: after the thread {after_thread}");

    let mut child = Process::new(add);
    child.start()?;
    let code = child.join()?;
    let after_process = snapshot();
    println!("main: after the process {after_process}");

    assert_eq!(code, 0);
    assert_eq!(after_thread, "g_num=100 my_list=[1]", "the thread's writes are visible");
    assert_eq!(after_process, after_thread, "the child's writes are not");
    println!("main: ok, the thread changed main's globals and the process did not");
    Ok(())
}

/// Adds to both globals and prints what this thread, in this process, then sees.
fn add() {
    G_NUM.fetch_add(100, Ordering::SeqCst);
    MY_LIST.lock().unwrap_or_else(|e| e.into_inner()).push(1);
    println!("add: in {:?} of pid={} {}", thread::current().id(), getpid(), snapshot());
}

fn snapshot() -> String {
    let list = MY_LIST.lock().unwrap_or_else(|e| e.into_inner());
    format!("g_num={} my_list={list:?}", G_NUM.load(Ordering::SeqCst))
}
