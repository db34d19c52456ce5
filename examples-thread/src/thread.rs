//! Threads with CPython's names and bookkeeping: [`Thread`], [`current_thread`],
//! [`active_count`], [`enumerate`].
//!
//! | CPython                                      | here                                      |
//! |----------------------------------------------|-------------------------------------------|
//! | `Thread(target=sing).start()`                | `Thread::spawn(sing)?`                    |
//! | `Thread(target=task, args=(5,)).start()`     | `Thread::with_args(task, 5)?`             |
//! | `Thread(target=f, name="w").start()`         | `Thread::named("w", f)?`                  |
//! | `t.name`, `t.getName()` / `t.name = "x"`, `t.setName("x")` | `t.name()` / `t.set_name("x")` |
//! | `t.is_alive()`, `t.join()`, `t.native_id`    | `t.is_alive()`, `t.join()`, `t.native_id()` |
//! | `threading.current_thread()`                 | [`current_thread()`]                      |
//! | `threading.active_count()`, `enumerate()`    | [`active_count()`], [`enumerate()`]       |
//!
//! Names follow CPython 3.10 and later: `MainThread`, then `Thread-N (target)` where N
//! counts the threads made so far and `target` is the function's name (`<closure>` for
//! a closure, as CPython writes `<lambda>`). Only threads started here are counted and
//! listed; CPython likewise lists only `threading` threads (others appear as `Dummy-N`
//! once they ask for `current_thread()`, as here).
//!
//! ```
//! use examples_thread::{Thread, current_thread};
//!
//! fn sing() -> String {
//!     current_thread().name
//! }
//!
//! assert_eq!(current_thread().name, "MainThread");
//! let t = Thread::spawn(sing)?;
//! assert!(t.name().starts_with("Thread-") && t.name().ends_with(" (sing)"));
//! let seen = t.join();
//! assert!(seen.ends_with(" (sing)")); // the thread saw its own name
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;
use std::thread::{self, JoinHandle};

/// What is known about one thread: CPython's `Thread` object, minus the thread.
#[derive(Debug)]
struct Info {
    name: Mutex<String>,
    native_id: i32,
}

/// A snapshot of one thread, as [`current_thread`] and [`enumerate`] give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// `MainThread`, `Thread-N (target)`, or the name given.
    pub name: String,
    /// The kernel's id for the thread (CPython: `native_id`).
    pub native_id: i32,
    /// Whether it is the program's first thread.
    pub main: bool,
}

impl fmt::Display for ThreadInfo {
    /// CPython's repr: `<Thread(Thread-1 (sing), started 12345)>`, or
    /// `<_MainThread(MainThread, started 12300)>`. (CPython shows `ident`, the pthread
    /// handle; here it is the kernel's thread id, which `ps -L` shows too.)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = if self.main { "_MainThread" } else { "Thread" };
        write!(f, "<{class}({}, started {})>", self.name, self.native_id)
    }
}

impl Info {
    fn snapshot(&self) -> ThreadInfo {
        ThreadInfo { name: self.name.lock().clone(), native_id: self.native_id, main: false }
    }
}

/// A running thread started with CPython's naming: the counterpart of a started
/// `threading.Thread`. Dropping it lets the thread run on (Rust does not wait for
/// threads when `main` returns; CPython waits for non-daemon ones), so `join` it.
pub struct Thread<T> {
    handle: JoinHandle<T>,
    info: Arc<Info>,
}

impl<T: Send + 'static> Thread<T> {
    /// Starts `target` on a thread named `Thread-N (target)`.
    pub fn spawn<F: FnOnce() -> T + Send + 'static>(target: F) -> io::Result<Thread<T>> {
        let name = default_name(std::any::type_name::<F>());
        Thread::named(name, target)
    }

    /// Starts `target(args)` on a thread named `Thread-N (target)`: CPython's
    /// `Thread(target=target, args=(args,))`. Several arguments go in a tuple, named
    /// ones in a struct.
    pub fn with_args<A, F>(target: F, args: A) -> io::Result<Thread<T>>
    where
        A: Send + 'static,
        F: FnOnce(A) -> T + Send + 'static,
    {
        let name = default_name(std::any::type_name::<F>());
        Thread::named(name, move || target(args))
    }

    /// Starts `target` on a thread with the given name (CPython: `name=`).
    pub fn named<F>(name: impl Into<String>, target: F) -> io::Result<Thread<T>>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let name = name.into();
        let (tell_info, info) = std::sync::mpsc::sync_channel(1);
        let handle = thread::Builder::new().name(name.clone()).spawn(move || {
            let info = Arc::new(Info { name: Mutex::new(name), native_id: native_id() });
            RUNNING.lock().push(Arc::clone(&info));
            CURRENT.set(Some(Arc::clone(&info)));
            let _ = tell_info.send(Arc::clone(&info));
            // Unlisted when the thread ends, even by a panic.
            let _listed = Unlist(info.native_id);
            target()
        })?;
        let info = info.recv().map_err(|_| io::Error::other("the thread ended at once"))?;
        Ok(Thread { handle, info })
    }

    /// The thread's name now (CPython: `t.name`, `t.getName()`).
    pub fn name(&self) -> String {
        self.info.name.lock().clone()
    }

    /// Renames the thread (CPython: `t.name = name`, `t.setName(name)`): what
    /// [`current_thread`] and [`enumerate`] say from now on. The name the operating
    /// system shows (`std::thread::Thread::name`) is fixed at start in Rust.
    pub fn set_name(&self, name: impl Into<String>) {
        *self.info.name.lock() = name.into();
    }

    /// The kernel's id for the thread (CPython: `t.native_id`).
    pub fn native_id(&self) -> i32 {
        self.info.native_id
    }

    /// Whether the thread is still running (CPython: `t.is_alive()`).
    pub fn is_alive(&self) -> bool {
        !self.handle.is_finished()
    }

    /// Waits for the thread and returns what it returned. A panic in the thread is
    /// raised again here, as an exception is not in CPython (it is printed and the
    /// thread just ends); catch it with `std::panic::catch_unwind` if you must.
    pub fn join(self) -> T {
        self.handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// The calling thread (CPython: `threading.current_thread()`): `MainThread` on the
/// program's first thread, the [`Thread`]'s name on one started here, and `Dummy-N`
/// on any other.
pub fn current_thread() -> ThreadInfo {
    if let Some(info) = CURRENT.with_borrow(Option::clone) {
        return info.snapshot();
    }
    if native_id() == std::process::id() as i32 {
        return main_thread();
    }
    // A thread not started here: named once, as CPython names a `_DummyThread`.
    let name = format!("Dummy-{}", next_number());
    let dummy = Arc::new(Info { name: Mutex::new(name), native_id: native_id() });
    CURRENT.set(Some(Arc::clone(&dummy)));
    dummy.snapshot()
}

/// How many threads started here are running, the main thread included (CPython:
/// `threading.active_count()`).
pub fn active_count() -> usize {
    1 + RUNNING.lock().len()
}

/// The threads started here that are running, the main thread first (CPython:
/// `threading.enumerate()`).
pub fn enumerate() -> Vec<ThreadInfo> {
    let running = RUNNING.lock();
    std::iter::once(main_thread()).chain(running.iter().map(|i| i.snapshot())).collect()
}

/// The threads started by [`Thread`] that have not ended.
static RUNNING: Mutex<Vec<Arc<Info>>> = Mutex::new(Vec::new());

thread_local! {
    static CURRENT: RefCell<Option<Arc<Info>>> = const { RefCell::new(None) };
}

/// Removes a thread from `RUNNING` when its target returns or panics.
struct Unlist(i32);

impl Drop for Unlist {
    fn drop(&mut self) {
        RUNNING.lock().retain(|i| i.native_id != self.0);
    }
}

/// The program's first thread: the one whose kernel id is the process id (in a forked
/// child too, where the thread that forked is the first).
fn main_thread() -> ThreadInfo {
    ThreadInfo { name: "MainThread".into(), native_id: std::process::id() as i32, main: true }
}

fn next_number() -> u32 {
    static CREATED: AtomicU32 = AtomicU32::new(0);
    CREATED.fetch_add(1, Ordering::Relaxed) + 1
}

/// `Thread-N (target)` from a function's type name (`crate::module::sing`), or
/// `Thread-N (<closure>)` for a closure.
fn default_name(type_name: &str) -> String {
    let n = next_number();
    let target = if type_name.contains("{{closure}}") {
        "<closure>"
    } else {
        type_name.rsplit("::").next().unwrap_or(type_name)
    };
    format!("Thread-{n} ({target})")
}

fn native_id() -> i32 {
    nix::unistd::gettid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sing() -> String {
        current_thread().name
    }

    fn add((a, b): (i32, i32)) -> i32 {
        a + b
    }

    #[test]
    fn names_follow_cpython() {
        let t = Thread::spawn(sing).unwrap();
        let name = t.name();
        assert!(name.starts_with("Thread-") && name.ends_with(" (sing)"), "{name}");
        assert_eq!(t.join(), name, "the thread sees the same name");
        let sum = Thread::with_args(add, (2, 3)).unwrap();
        assert!(sum.name().ends_with(" (add)"), "{}", sum.name());
        assert_eq!(sum.join(), 5);
        let closure = Thread::spawn(|| 1).unwrap();
        assert!(closure.name().ends_with(" (<closure>)"), "{}", closure.name());
        closure.join();
        assert_eq!(Thread::named("worker", sing).unwrap().join(), "worker");
    }

    #[test]
    fn a_renamed_thread_reports_its_new_name() {
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let t = Thread::named("before", move || {
            wait.recv().unwrap();
            current_thread().name
        })
        .unwrap();
        t.set_name("after");
        assert_eq!(t.name(), "after");
        assert!(enumerate().iter().any(|i| i.name == "after"));
        go.send(()).unwrap();
        assert_eq!(t.join(), "after");
    }

    #[test]
    fn threads_are_listed_while_they_run() {
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let t = Thread::named("listed", move || wait.recv().unwrap()).unwrap();
        assert!(t.is_alive());
        assert!(enumerate().iter().any(|i| i.name == "listed" && i.native_id == t.native_id()));
        assert!(active_count() >= 2);
        go.send(()).unwrap();
        let id = t.native_id();
        t.join();
        assert!(enumerate().iter().all(|i| i.native_id != id), "unlisted once it ended");
        assert_eq!(enumerate()[0].name, "MainThread");
    }

    #[test]
    fn other_threads_are_dummies() {
        let name = thread::spawn(|| current_thread().name).join().unwrap();
        assert!(name.starts_with("Dummy-"), "{name}");
    }

    #[test]
    fn the_repr_is_cpythons() {
        let info = ThreadInfo { name: "Thread-1 (sing)".into(), native_id: 42, main: false };
        assert_eq!(info.to_string(), "<Thread(Thread-1 (sing), started 42)>");
    }
}
