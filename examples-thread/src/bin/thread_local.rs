//! Thread-local data: one variable name, one value per thread.
//!
//! Mirrors note 000 "ThreadLocal 使用", a heading with no body: what `threading.local()`
//! is for. First the problem: a plain global that every thread sets to "its" student
//! holds one value, the last writer's, so every thread reads back the same name. Then
//! the thread-local: each thread sets its student and reads back only its own,
//! although all of them write before any of them reads.
//!
//! | CPython                                    | Rust                                          |
//! |--------------------------------------------|-----------------------------------------------|
//! | `student = None` (a global), `global student` | `static SHARED_STUDENT: Mutex<&str>`       |
//! | `local_school = threading.local()`         | `thread_local! { static STUDENT: RefCell<String> }` |
//! | `local_school.student = name`              | `STUDENT.with_borrow_mut(\|s\| *s = name)`    |
//! | `local_school.student` (`AttributeError` if unset in this thread) | `STUDENT.with_borrow(\|s\| ..)` (each thread starts from the initial value) |
//! | subclass `local` with `__init__`           | the `thread_local!` initialiser, run once per thread on first use |
//! | a dict keyed by `threading.get_ident()`    | `Mutex<HashMap<ThreadId, String>>`            |
//!
//! Run: `cargo run -p examples-thread --bin thread_local`
//!
//! Output: three threads each write a name to the global, wait until all have written
//! (a barrier) and read it back: all three read the same name, the last one written.
//! Then the same with the thread-local: each reads back its own name; main's value is
//! still the initial one. Then each
//! thread counts five calls in its own counter, initialised once per thread (three
//! "initialised" lines, each count 5). Last, the same as one shared map keyed by thread
//! id, which needs a lock and stays full after the threads end. What varies: the order
//! of the threads' lines, which name the global ends with, and the thread ids.
//!
//! Where Rust differs: a `thread_local!` value is reached only inside `with`, so a
//! reference to it can never leak to another thread; its destructor runs when its
//! thread ends. CPython's `local` is an object you can pass around; each thread that
//! touches it sees its own `__dict__`.
//!
//! Copy it: `cargo new thread_local`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Barrier, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

thread_local! {
    /// Each thread's own student; every thread starts with an empty name.
    static STUDENT: RefCell<String> = const { RefCell::new(String::new()) };

    /// Each thread's own call counter, made (and announced) the first time a thread uses it.
    static CALLS: Cell<u32> = {
        println!("{:?}: counter initialised", thread::current().id());
        Cell::new(0)
    };
}

/// One student for the whole program: what every thread sees.
static SHARED_STUDENT: Mutex<&str> = Mutex::new("");

const NAMES: [&str; 3] = ["Alice", "Bob", "Carol"];

fn main() {
    examples_process::exit_on_stdout_failure();
    // The problem: one global, three writers. Whoever wrote last is what all read.
    let everyone_wrote = Barrier::new(NAMES.len());
    let read_shared: Vec<&str> = thread::scope(|s| {
        let handles: Vec<_> = NAMES
            .map(|name| {
                let everyone_wrote = &everyone_wrote;
                s.spawn(move || {
                    *lock(&SHARED_STUDENT) = name;
                    everyone_wrote.wait();
                    let seen = *lock(&SHARED_STUDENT);
                    println!("global: thread of {name} reads student={seen}");
                    seen
                })
            })
            .into();
        handles.into_iter().map(join).collect()
    });

    // The fix: a thread-local. Each thread writes and reads its own.
    let everyone_wrote = Barrier::new(NAMES.len());
    let read_back: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = NAMES
            .map(|name| {
                let everyone_wrote = &everyone_wrote;
                s.spawn(move || {
                    STUDENT.with_borrow_mut(|student| *student = name.to_string());
                    everyone_wrote.wait(); // now every thread has written its own value
                    let mine = STUDENT.with_borrow(String::clone);
                    println!("thread-local: thread of {name} reads student={mine}");
                    mine
                })
            })
            .into();
        handles.into_iter().map(join).collect()
    });
    let main_student = STUDENT.with_borrow(String::clone);
    println!("main: student={main_student:?} (untouched)");

    // Per-thread initialisation: three threads, three counters, each counting to five.
    let counts: Vec<u32> = thread::scope(|s| {
        let handles: Vec<_> =
            (0..3).map(|_| s.spawn(|| (0..5).fold(0, |_, _| count_call()))).collect();
        handles.into_iter().map(join).collect()
    });

    // The same idea by hand: one map for everybody, keyed by thread id, behind a lock.
    let shared: Mutex<HashMap<ThreadId, &str>> = Mutex::new(HashMap::new());
    thread::scope(|s| {
        for name in NAMES {
            let shared = &shared;
            s.spawn(move || lock(shared).insert(thread::current().id(), name));
        }
    });
    let shared = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    println!("main: the shared map still holds {} entries after its threads ended", shared.len());

    assert!(read_shared.iter().all(|&seen| seen == read_shared[0]), "one value for all");
    assert!(NAMES.contains(&read_shared[0]));
    assert_eq!(read_back, NAMES, "each thread read back what it wrote");
    assert_eq!(main_student, "");
    assert_eq!(counts, [5, 5, 5]);
    assert_eq!(shared.len(), NAMES.len());
    println!("main: ok, every thread read its own value");
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Counts a call in this thread's counter and returns the count so far.
fn count_call() -> u32 {
    CALLS.with(|calls| {
        calls.set(calls.get() + 1);
        calls.get()
    })
}
