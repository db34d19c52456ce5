//! Raw `fork`: one call, two returns; and why processes share no variables.
//!
//! Mirrors note 001 "1. 多进程 d" (`os.fork()`), the first point of note 004 "进程的注意点"
//! (processes do not share globals) and note 002 "多进程特点".
//!
//! | CPython                              | Rust                                           |
//! |--------------------------------------|------------------------------------------------|
//! | `pid = os.fork()`                    | `unsafe { nix::unistd::fork() }?`              |
//! | `if pid == 0:` (child)               | `ForkResult::Child`                            |
//! | `else:` (`pid` is the child's)       | `ForkResult::Parent { child }`                 |
//! | `os._exit(3)`                        | `nix::libc::_exit(3)`                          |
//! | `os.waitpid(pid, 0)`                 | `nix::sys::wait::waitpid(child, None)?`        |
//!
//! Run: `cargo run -p examples-process --bin fork`
//!
//! Output: the parent's line (fork returned the child's pid) and the child's line (fork
//! returned 0) in either order; the child's view of the global and the list after it
//! changed them; then the parent's view, unchanged, and the child's exit code 3 read
//! with `waitpid`. What varies: pids, and which of the first two lines comes first.
//!
//! Where Rust differs: `fork` is `unsafe`. In a process with several threads the child
//! gets only the calling thread, and any lock another thread held (the allocator's,
//! stdout's) stays locked in the child for ever. This program is single-threaded, which
//! is what makes the call sound. The child leaves with `_exit`, so it never returns into
//! `main` and never runs the parent's destructors. `examples_process::Process` wraps all
//! of this.
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
            println!("parent: ok, the child exited with code 3 and changed nothing here");
        }
    }
    Ok(())
}
