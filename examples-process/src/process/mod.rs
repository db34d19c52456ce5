//! The [`Process`] handle and what it keeps about each child.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::moving_to_child;
use crate::start::{Portable, StartMethod};

mod child;
mod fork;
mod registry;

use child::Child;
pub(crate) use child::pidfd_open;
pub(crate) use fork::exit_child;
pub(crate) use registry::become_launched;
use registry::{CHILDREN, CURRENT, HANDED_OVER, reap_handed_over};
pub use registry::{active_children, current_process, parent_process, passed_fds};

/// The Rust counterpart of subclassing `Process` and overriding `run`: implement this
/// trait on a type that carries the child's data in its fields, then hand a value to
/// [`Process::from_run`].
///
/// ```
/// use examples_process::{Process, Run};
///
/// struct Clock { interval_ms: u64 }
///
/// impl Run for Clock {
///     fn run(&mut self) {
///         std::thread::sleep(std::time::Duration::from_millis(self.interval_ms));
///     }
/// }
///
/// let mut p = Process::from_run(Clock { interval_ms: 10 });
/// assert!(p.name().starts_with("Clock-")); // CPython names it after the class too
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Run {
    /// What the child process does. It runs in the child only.
    fn run(&mut self);
}

/// A child process: CPython's `multiprocessing.Process`.
///
/// Made with a target ([`new`](Process::new) for a closure, [`call`](Process::call)
/// for a named function with serde arguments, [`from_run`](Process::from_run) for a
/// type that implements [`Run`]), configured with `with_name`, `with_daemon`,
/// `with_start_method` and `pass_fd`, then started once with
/// [`start`](Process::start). From then on the handle answers what CPython's does:
/// `pid`, `is_alive`, `exitcode` (`-N` for a child killed by signal N), `join`,
/// `join_timeout`, `terminate`, `kill`, `sentinel`, `close`.
///
/// Dropping a started handle does what CPython's exit handler does for one child: a
/// daemon is terminated, any other child is waited for; while the program is failing
/// (a panic, or a [`Failure`](crate::Failure) on its way out of `main`), every child is
/// terminated, so that a failure never turns into a wait. A handle moved into a forked
/// child belongs to that child from then on.
///
/// ```
/// use examples_process::Process;
///
/// let mut p = Process::new(|| println!("in the child")).with_name("worker");
/// assert_eq!((p.pid(), p.exitcode()), (None, None)); // not started yet
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// assert_eq!((p.name(), p.is_alive(), p.exitcode()), ("worker", false, Some(0)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Process {
    name: String,
    daemon: bool,
    target: Option<Target>,
    method: StartMethod,
    /// Descriptors handed to the child (`pass_fd`), the parent's copies closed at start.
    fds: Vec<OwnedFd>,
    identity: Vec<u32>,
    child: Option<Arc<Child>>,
    /// `close` was called: the handle answers nothing any more.
    closed: bool,
}

/// What a process runs.
enum Target {
    /// Any closure: fork only. `Send`, as a thread's is: the closure moves to another
    /// process, and what may not cross threads may not cross `fork` either (a lock
    /// guard would be unlocked by the parent's drop while the child still writes).
    Closure {
        run: Box<dyn FnOnce() + Send>,
        /// Whether what it captured has a `Drop`: then the child waits until the parent
        /// has dropped its copy (see [`moving_to_child`]); made by `Target::closure`.
        drops: bool,
    },
    /// `fn(A)` and its encoded arguments: every start method.
    Call(Portable),
    /// A `call` whose arguments failed to serialise: `start` reports it.
    Unsendable(io::Error),
}

/// What [`current_process`] and [`active_children`] report about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// `MainProcess`, `Process-1`, `Process-1:2`, or the name given with `with_name`.
    pub name: String,
    /// The operating system's process id.
    pub pid: i32,
    /// Whether it was started as a daemon (false for `MainProcess`).
    pub daemon: bool,
    /// Its exit code: `None` while it runs, which it does whenever it is asked about
    /// itself or is an active child.
    pub exitcode: Option<i32>,
}

impl fmt::Display for ProcessInfo {
    /// The same shape as CPython's repr: `<Process name='Process-1' pid=1234>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Process name='{}' pid={}>", self.name, self.pid)
    }
}

impl Process {
    /// A process that will run `target`, named `Process-N` where N counts the
    /// `Process` values this process has made, from 1 (a child's own children are
    /// `Process-N:1`, `Process-N:2`, …, as in CPython).
    ///
    /// ```
    /// use examples_process::{Process, current_process};
    ///
    /// let mut parent = Process::new(|| {
    ///     // Runs in the child, which names its own children after itself.
    ///     let grandchild = Process::new(|| {});
    ///     assert_eq!(current_process().name, "Process-1");
    ///     assert_eq!(grandchild.name(), "Process-1:1");
    /// });
    /// assert_eq!(parent.name(), "Process-1");
    /// parent.start()?;
    /// assert_eq!(parent.join()?, 0, "a failed assert in the child gives exit code 1");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// The target is `Send`, as a thread's is: what it captures moves into another
    /// process. A lock guard, for one, is refused, since `start` drops the parent's copy
    /// (which unlocks) while the child would go on writing through its own:
    ///
    /// ```compile_fail,E0277
    /// use examples_process::Process;
    ///
    /// let lock: &'static std::sync::Mutex<u32> = Box::leak(Box::default());
    /// let mut held = lock.lock().unwrap(); // a `MutexGuard` is not `Send`
    /// let child = Process::new(move || *held += 1);
    /// ```
    ///
    /// The same without the guard compiles (the child gets its own copy of the value):
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let lock: &'static std::sync::Mutex<u32> = Box::leak(Box::default());
    /// let child = Process::new(move || *lock.lock().unwrap() += 1);
    /// ```
    pub fn new(target: impl FnOnce() + Send + 'static) -> Process {
        Process::with_class("Process", Target::closure(target))
    }

    /// A process that will call `obj.run()`, named after the type (`Clock-1`), as
    /// CPython names an instance of a `Process` subclass.
    pub fn from_run<R: Run + Send + 'static>(mut obj: R) -> Process {
        let type_name = std::any::type_name::<R>();
        let class = type_name.rsplit("::").next().unwrap_or(type_name);
        Process::with_class(class, Target::closure(move || obj.run()))
    }

    /// A process that will call `f(args)` (CPython: `Process(target=f, args=(a,))`).
    /// Unlike a closure, a named function and serde arguments can cross `exec`, so this
    /// works with every [`StartMethod`]; fork is still the default. `f` is a function
    /// named as such (`greet`), or a closure that captures nothing: what crosses is a
    /// record the compiler makes for it in this executable (see [`named`](crate::named)),
    /// never an address to jump to. A function pointer held in a variable is refused at
    /// compile time, since nothing could say which function it is in another process:
    ///
    /// ```compile_fail,E0080
    /// fn greet(name: String) { println!("hello, {name}"); }
    /// let f: fn(String) = greet;
    /// let p = examples_process::Process::call(f, "world".to_string());
    /// ```
    ///
    /// ```
    /// use examples_process::{Process, StartMethod, current_process};
    ///
    /// fn greet(name: String) {
    ///     assert_eq!(current_process().name, "greeter");
    ///     println!("hello, {name}");
    /// }
    ///
    /// let mut p = Process::call(greet, "world".to_string()).with_name("greeter");
    /// p.start()?; // fork; in a program whose `main` begins with `main_guard()`,
    ///             // `.with_start_method(StartMethod::Spawn)` would run it afresh
    /// assert_eq!(p.join()?, 0);
    /// assert_eq!(p.start_method(), StartMethod::Fork);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call<A, F>(f: F, args: A) -> Process
    where
        A: Serialize + DeserializeOwned,
        F: Fn(A) + Copy + Send + 'static,
    {
        let target = Portable::new(f, &args).map_or_else(Target::Unsendable, Target::Call);
        Process::with_class("Process", target)
    }

    fn with_class(class: &str, target: Target) -> Process {
        let identity = CURRENT.lock().next_child_identity();
        let numbers: Vec<String> = identity.iter().map(u32::to_string).collect();
        Process {
            name: format!("{class}-{}", numbers.join(":")),
            daemon: false,
            target: Some(target),
            method: StartMethod::Fork,
            fds: Vec::new(),
            identity,
            child: None,
            closed: false,
        }
    }

    /// Chooses how `start` makes the child (CPython: `get_context(method).Process(...)`).
    /// Spawn and forkserver take a target made with [`Process::call`]; a closure can
    /// only be forked.
    pub fn with_start_method(mut self, method: StartMethod) -> Process {
        self.method = method;
        self
    }

    /// How `start` makes (or made) the child.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// Hands a file descriptor to the child, which takes it with [`passed_fds`]; `start`
    /// closes the parent's copy. It is how a pipe end or a socket reaches a spawned
    /// child, which inherits no other descriptor (CPython pickles a `Connection` for
    /// spawn by sending its descriptor the same way).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::fd::OwnedFd;
    /// use examples_process::{Process, passed_fds};
    ///
    /// fn write_hello(_: ()) {
    ///     let fd = passed_fds().pop().expect("one descriptor was passed");
    ///     std::fs::File::from(fd).write_all(b"hello").unwrap();
    /// }
    ///
    /// let (mut reader, writer) = std::io::pipe()?;
    /// let mut p = Process::call(write_hello, ()).pass_fd(OwnedFd::from(writer));
    /// p.start()?; // the parent's copy of the writer is closed here
    /// let mut text = String::new();
    /// reader.read_to_string(&mut text)?; // so end-of-file comes when the child exits
    /// assert_eq!(text, "hello");
    /// assert_eq!(p.join()?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pass_fd(mut self, fd: OwnedFd) -> Process {
        self.fds.push(fd);
        self
    }

    /// Gives the process a name (CPython's `name=` argument).
    pub fn with_name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Makes the process a daemon: dropping its handle terminates it (SIGTERM) instead
    /// of waiting for it. Only before `start`: on a started process it panics, as
    /// CPython's `p.daemon = True` raises "process has already started"; see
    /// [`set_daemon`](Process::set_daemon) for the form that returns an error.
    pub fn with_daemon(mut self, daemon: bool) -> Process {
        if let Err(e) = self.set_daemon(daemon) {
            panic!("{e}");
        }
        self
    }

    /// Sets whether the process is a daemon (CPython: `p.daemon = daemon`). An error once
    /// it has started.
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| {});
    /// p.set_daemon(true)?;
    /// p.start()?;
    /// assert!(p.set_daemon(false).is_err()); // process has already started
    /// assert!(p.is_daemon());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_daemon(&mut self, daemon: bool) -> io::Result<()> {
        if self.target.is_none() {
            return Err(io::Error::other(format!(
                "cannot set daemon on {}: process has already started",
                self.name
            )));
        }
        self.daemon = daemon;
        Ok(())
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the process is a daemon.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The child's pid once started (CPython: `None` before `start`).
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.pid.as_raw())
    }

    /// A file descriptor that becomes readable when the child ends (CPython: `sentinel`),
    /// for waiting on several things at once with `poll`. It is a pidfd, opened on first
    /// use and kept by the handle, so it works in any process that holds the handle.
    /// `None` before `start`, and if the child has already been reaped.
    ///
    /// ```
    /// use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| {});
    /// p.start()?;
    /// let mut fds = [PollFd::new(p.sentinel().unwrap(), PollFlags::POLLIN)];
    /// assert_eq!(poll(&mut fds, PollTimeout::from(10_000_u16))?, 1); // it ended
    /// assert_eq!(p.join()?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sentinel(&self) -> Option<BorrowedFd<'_>> {
        let child = self.child.as_ref()?;
        if let Some(served) = &child.served {
            // CPython's forkserver sentinel too: the socket the exit code arrives on.
            return Some(if child.is_ours() {
                served.status.as_fd()
            } else {
                served.pidfd.as_fd()
            });
        }
        if let Some(fd) = child.sentinel.get() {
            return Some(fd.as_fd());
        }
        let fd = child.with_pid(pidfd_open).ok()??;
        Some(child.sentinel.get_or_init(|| fd).as_fd())
    }

    /// Waits at most `timeout` for the child to end, in any process that holds this
    /// handle (only the parent can `join` it and learn its exit code). Returns whether
    /// it has ended.
    pub fn wait_ended(&self, timeout: Duration) -> io::Result<bool> {
        let child = self.started("wait for")?;
        if child.is_ours() {
            return Ok(self.join_timeout(timeout)?.is_some());
        }
        child.wait_end(Some(timeout))
    }

    /// Waits until the child ends and returns its exit code.
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| std::process::exit(3));
    /// p.start()?;
    /// assert_eq!(p.join()?, 3);
    /// assert_eq!(p.join()?, 3); // again: the same answer
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// A handle holds no file descriptor (unless `sentinel` was asked for), so a child
    /// inherits none from its older siblings, and starting many processes uses none:
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let open_fds = || std::fs::read_dir("/proc/self/fd").map(|d| d.count());
    /// let before = open_fds()?;
    /// let mut running = Vec::new();
    /// for _ in 0..20 {
    ///     let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_millis(100)));
    ///     p.start()?;
    ///     running.push(p);
    /// }
    /// assert_eq!(open_fds()?, before);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join(&self) -> io::Result<i32> {
        let child = self.started("join")?;
        child.check_ours()?;
        if let Some(code) = *child.exitcode.lock() {
            return Ok(code); // joined before
        }
        child.wait_exited()?;
        let code = child.reap()?.ok_or_else(|| io::Error::other("exited but not reaped"));
        reap_handed_over();
        code
    }

    /// Waits at most `timeout`. Returns `Some(exit code)` if the child ended, `None`
    /// if it is still running (CPython's `join(timeout)` returns `None` either way and
    /// leaves you to check `exitcode`). A timeout too large for the clock
    /// (`Duration::MAX`) waits as long as it takes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_millis(500)));
    /// p.start()?;
    /// assert_eq!(p.join_timeout(Duration::from_millis(10))?, None); // still sleeping
    /// assert!(p.is_alive());
    /// assert_eq!(p.join_timeout(Duration::from_secs(30))?, Some(0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> io::Result<Option<i32>> {
        let child = self.started("join")?;
        if let Some(code) = child.reap()? {
            return Ok(Some(code));
        }
        if Instant::now().checked_add(timeout).is_none() {
            return self.join().map(Some);
        }
        // Sleep in the kernel on a pidfd, opened for this wait only.
        child.wait_end(Some(timeout))?;
        child.reap()
    }

    /// Whether the child has started and not yet ended. Reaps it if it has ended.
    pub fn is_alive(&self) -> bool {
        match &self.child {
            None => false,
            // Another process's child (a handle moved into this one): look, do not reap.
            Some(c) if !c.is_ours() => matches!(c.wait_end(Some(Duration::ZERO)), Ok(false)),
            Some(c) => matches!(c.reap(), Ok(None)),
        }
    }

    /// `None` before start and while running; `Some(code)` after, `Some(-N)` if the
    /// child was killed by signal N.
    pub fn exitcode(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| c.reap().ok().flatten())
    }

    /// Sends SIGTERM (CPython: `terminate()`). Does nothing if the child has ended.
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_secs(60)));
    /// p.start()?;
    /// p.terminate()?;
    /// assert_eq!(p.join()?, -15); // killed by signal 15
    /// p.terminate()?; // ended already: nothing to do, and no stranger is signalled
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn terminate(&self) -> io::Result<()> {
        self.started("terminate")?.signal(Signal::SIGTERM)
    }

    /// Sends SIGKILL (CPython: `kill()`). Does nothing if the child has ended.
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_secs(60)));
    /// p.start()?;
    /// p.kill()?;
    /// assert_eq!(p.join()?, -9);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill(&self) -> io::Result<()> {
        self.started("kill")?.signal(Signal::SIGKILL)
    }

    /// Releases what the handle holds (CPython: `close()`), once the child has ended
    /// (an error while it runs, as in CPython). Afterwards every method that needs the
    /// child fails with "process object is closed", and `pid`/`exitcode` are `None`.
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_millis(200)));
    /// p.start()?;
    /// assert!(p.close().is_err()); // still running
    /// p.join()?;
    /// p.close()?;
    /// assert!(p.join().unwrap_err().to_string().contains("closed"));
    /// assert_eq!(p.pid(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&mut self) -> io::Result<()> {
        if let Some(child) = &self.child
            && child.is_ours()
            && child.reap()?.is_none()
        {
            return Err(io::Error::other(format!(
                "cannot close {} while it is still running; join() or terminate() it first",
                self.name
            )));
        }
        self.child = None; // reaped: the record and any sentinel go
        self.target = None;
        self.closed = true;
        Ok(())
    }

    fn started(&self, what: &str) -> io::Result<&Child> {
        if self.closed {
            return Err(io::Error::other(format!("{}: process object is closed", self.name)));
        }
        self.child
            .as_deref()
            .ok_or_else(|| io::Error::other(format!("can only {what} a started process")))
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.child, self.exitcode()) {
            (None, _) => "initial".to_string(),
            (Some(_), None) => "started".to_string(),
            (Some(_), Some(code)) => format!("stopped exitcode={code}"),
        };
        let daemon = if self.daemon { " daemon" } else { "" };
        write!(f, "<Process name='{}' {state}{daemon}>", self.name)
    }
}

/// How long a handle dropped while its thread panics gives the child to end after
/// SIGTERM, before SIGKILL.
const GRACE: Duration = Duration::from_secs(1);

impl Drop for Process {
    /// CPython's exit handler, for this one child: terminate a daemon, then wait.
    ///
    /// While the thread is panicking, or once the program has made a [`Failure`] (an
    /// error `main` is about to return, through `?`), a non-daemon child is terminated
    /// too: the program is failing, and the child may be waiting for something the
    /// failing code held (a lock, a channel end), so waiting for it could be for ever.
    /// It gets SIGTERM, then SIGKILL after a second, and is reaped either way.
    ///
    /// [`Failure`]: crate::Failure
    ///
    /// A handle that `start` moved into another child (its parent's copy, dropped while
    /// [`moving_to_child`] is `Some`) neither waits nor terminates: the process that
    /// holds it now decides. This process still reaps the child once it has ended *and*
    /// the child holding the handle has been reaped (the next time it starts, joins or
    /// drops a process, or calls [`active_children`]): until then it stays a zombie, so
    /// that its pid, through which the holder signals and polls it, cannot be given to
    /// another process.
    fn drop(&mut self) {
        let Some(child) = self.child.take() else { return };
        if !child.is_ours() {
            return; // a copy inherited by a forked child: not ours to wait for
        }
        if let Some(holder) = moving_to_child() {
            let holder =
                CHILDREN.lock().iter().filter_map(Weak::upgrade).find(|c| c.pid.as_raw() == holder);
            if let Some(holder) = holder {
                let _ = child.holder.set(Arc::downgrade(&holder));
            }
            HANDED_OVER.lock().push(child);
            return;
        }
        if self.daemon || std::thread::panicking() || crate::output::failing() {
            let _ = child.signal(Signal::SIGTERM);
            let ended = child.wait_end(Some(GRACE));
            if !matches!(ended, Ok(true)) {
                let _ = child.signal(Signal::SIGKILL);
            }
        }
        if matches!(child.reap(), Ok(None)) {
            let _ = child.wait_exited().and_then(|()| child.reap());
        }
        reap_handed_over();
    }
}
