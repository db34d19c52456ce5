//! Note 001 "1. 多进程" (fork only where the system has it) and the
//! `if __name__ == "__main__":` every note's process code sits under: the three start
//! methods, and what each child sees of the parent's globals.
//!
//! | CPython                                          | Rust (`examples_process`)               |
//! |--------------------------------------------------|-----------------------------------------|
//! | `if __name__ == "__main__":`                     | `main_guard();` first in `main`         |
//! | `get_context("spawn").Process(target=report, args=("spawn",))` | `Process::call(report, "spawn".to_string()).with_start_method(StartMethod::Spawn)` |
//!
//! Run: `cargo run -p examples-process --bin start_methods`
//!
//! ```text
//! main: set GLOBAL = 42
//! fork: child Process-1 (pid 26345) of MainProcess (pid 26245) sees GLOBAL = 42
//! spawn: child Process-2 (pid 26346) of MainProcess (pid 26245) sees GLOBAL = 0
//! forkserver: child Process-3 (pid 26348) of MainProcess (pid 26245) sees GLOBAL = 0
//! fork, with a second thread running: refused: ...     <- the error names the others
//! ```
//!
//! Where Rust differs: a spawned child runs this program again (hence `main_guard`,
//! CPython's `__main__` check), so it cannot run a closure: it runs a named `fn` with
//! serde arguments. fork from a threaded program is refused: a lock another thread held
//! would stay locked in the child (CPython 3.12 warns; 3.14 defaults to forkserver).
//!
//! Copy it: `cargo new start_methods`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::sync::atomic::{AtomicI32, Ordering::SeqCst};

use examples_process::{Failure, Process, StartMethod, current_process, parent_process};

/// A global that the parent changes before starting children.
static GLOBAL: AtomicI32 = AtomicI32::new(0);

/// The child: says who it is and what it sees, and exits with that value.
fn report(method: String) {
    let (me, parent) = (current_process(), parent_process().expect("a child has a parent"));
    let global = GLOBAL.load(SeqCst);
    println!(
        "{method}: child {} (pid {}) of {} (pid {}) sees GLOBAL = {global}",
        me.name, me.pid, parent.name, parent.pid
    );
    std::process::exit(global);
}

fn start(method: StartMethod) -> std::io::Result<i32> {
    let mut child = Process::call(report, method.to_string()).with_start_method(method);
    child.start()?;
    child.join()
}

fn main() -> Result<(), Failure> {
    // A spawned child runs this program again: here it runs its target and exits.
    examples_process::main_guard();
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    GLOBAL.store(42, SeqCst);
    println!("main: set GLOBAL = 42");
    let seen = [StartMethod::Fork, StartMethod::Spawn, StartMethod::Forkserver].map(start);
    let seen: Vec<i32> = seen.into_iter().collect::<Result<_, _>>()?;
    assert_eq!(seen, [42, 0, 0], "fork copies the parent; the others start afresh");

    // What the example adds: fork is refused while another thread runs.
    let refused = std::thread::scope(|s| {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        s.spawn(move || stopped.recv());
        let refused = start(StartMethod::Fork);
        drop(stop);
        refused
    });
    match refused {
        Err(e) => println!("fork, with a second thread running: refused: {e}"),
        Ok(code) => return Err(Failure::new(format!("fork ran beside a thread ({code})"))),
    }
    Ok(())
}
