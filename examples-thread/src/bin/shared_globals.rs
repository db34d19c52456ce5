//! Note 004 "线程" point 3, and note 000 "互斥锁"'s two bold lines: threads share the
//! process's globals; a child process gets a copy of them.
//!
//! | CPython                                  | Rust                                         |
//! |------------------------------------------|----------------------------------------------|
//! | `g_num = 0`, `my_list = []` at module level | `static G_NUM: AtomicI32`, `static MY_LIST: Mutex<Vec<i32>>` |
//! | `Thread(target=add).start(); t.join()`   | `thread::spawn(add).join()`                  |
//! | `Process(target=add).start(); p.join()`  | `Process::new(add).start()?; p.join()?`      |
//!
//! Run: `cargo run -p examples-thread --bin shared_globals`
//!
//! ```text
//! main: g_num=0 my_list=[]
//! add: in a thread of pid 20223, g_num=100 my_list=[1]      <- pids vary
//! main: after the thread, g_num=100 my_list=[1]
//! add: in child process 20282, g_num=200 my_list=[1, 1]
//! main: after the process, g_num=100 my_list=[1]
//! ```
//!
//! Where Rust differs: a `static mut` written from two threads needs `unsafe` (a data
//! race), so a shared global is an atomic or sits behind a lock. The process starts
//! after the thread was joined: forking while another thread runs is refused.
//!
//! Copy it: `cargo new shared_globals`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::thread;

use examples_process::{Failure, Process, current_pid};

static G_NUM: AtomicI32 = AtomicI32::new(0);
static MY_LIST: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn add() {
    G_NUM.fetch_add(100, SeqCst);
    MY_LIST.lock().unwrap().push(1); // `unwrap`: only a holder that panicked fails it
    let whose = if examples_process::parent_process().is_some() {
        "child process"
    } else {
        "a thread of pid"
    };
    println!("add: in {whose} {}, {}", current_pid(), globals());
}

fn globals() -> String {
    format!("g_num={} my_list={:?}", G_NUM.load(SeqCst), MY_LIST.lock().unwrap())
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    println!("main: {}", globals());
    thread::spawn(add).join().expect("add");
    let after_thread = globals();
    println!("main: after the thread, {after_thread}");
    let mut p = Process::new(add);
    p.start()?;
    p.join()?;
    let after_process = globals();
    println!("main: after the process, {after_process}");
    assert_eq!(after_thread, "g_num=100 my_list=[1]", "the thread's changes are main's");
    assert_eq!(after_process, after_thread, "the child changed its own copy");
    Ok(())
}
