//! Note 001 "1. 多进程 d": `os.fork()` returns twice, the child's pid in the parent and
//! 0 in the child. Then notes 002 "多进程特点" and 004 "进程的注意点": no shared globals.
//!
//! | CPython                        | Rust                                              |
//! |--------------------------------|---------------------------------------------------|
//! | `pid = os.fork()`              | `unsafe { fork() }?`: `Child` or `Parent { child }` |
//! | `os._exit(3)`, `os.waitpid(pid, 0)` | `libc::_exit(3)`, `waitpid(child, None)?`    |
//!
//! Run: `cargo run -p examples-process --bin fork`
//!
//! ```text
//! main: before fork pid=25982 g_num=10 list=[1, 2, 3]      <- pids vary
//! parent: fork returned child_pid=26033; pid=25982         <- or the child's line first
//! child: fork returned 0; pid=26033 ppid=25982
//! child: g_num=100 list=[1, 2, 3, 4] (changed in the child)
//! parent: waitpid gave Exited(Pid(26033), 3)
//! parent: g_num=10 list=[1, 2, 3] (the child's changes are not here)
//! ```
//!
//! Where Rust differs: `fork` is `unsafe`: a child of a multi-threaded process gets
//! only the calling thread, and a lock another thread held stays locked for ever. This
//! program has one thread. The child leaves with `_exit`, never returning into `main`.
//!
//! Copy it: `cargo new fork`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add nix@0.31 --features process
//! ```

use std::io::{self, Write};
use std::sync::atomic::{AtomicI32, Ordering};

use examples_process::Failure;
use nix::libc;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, getpid, getppid};

/// A global, as in the notes' `g_num`. An atomic is the safe way to write a mutable
/// static in Rust; here only one thread per process ever touches it.
static G_NUM: AtomicI32 = AtomicI32::new(10);

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let mut list = vec![1, 2, 3];
    println!(
        "main: before fork pid={} g_num={} list={list:?}",
        getpid(),
        G_NUM.load(Ordering::Relaxed)
    );
    // Anything still buffered would be written twice, once by each process.
    io::stdout().flush()?;

    // SAFETY: this process has one thread, so no other thread can hold a lock that the
    // child would inherit locked.
    match unsafe { fork() }? {
        ForkResult::Child => {
            println!("child: fork returned 0; pid={} ppid={}", getpid(), getppid());
            G_NUM.fetch_add(90, Ordering::Relaxed);
            list.push(4);
            println!(
                "child: g_num={} list={list:?} (changed in the child)",
                G_NUM.load(Ordering::Relaxed)
            );
            let _ = io::stdout().flush();
            // SAFETY: `_exit` ends the process at once; nothing after it runs.
            unsafe { libc::_exit(3) }
        }
        ForkResult::Parent { child } => {
            println!("parent: fork returned child_pid={child}; pid={}", getpid());
            let status = waitpid(child, None)?;
            println!("parent: waitpid gave {status:?}");
            let g_num = G_NUM.load(Ordering::Relaxed);
            println!("parent: g_num={g_num} list={list:?} (the child's changes are not here)");

            assert_eq!(status, WaitStatus::Exited(child, 3));
            assert_eq!((g_num, list.as_slice()), (10, &[1, 2, 3][..]));
        }
    }
    Ok(())
}
