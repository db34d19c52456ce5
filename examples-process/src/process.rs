//! The [`Process`] handle and what it keeps about each child.

use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::prctl;
use nix::sys::signal::{Signal, kill};
use nix::sys::time::TimeSpec;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getppid};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::handover::{self, Gate};
use crate::start::{self, Launch, Portable, Served, StartMethod};
use crate::{current_pid, moving_to_child, signals};

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

/// A child process. See the [crate documentation](crate).
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
    Closure(Box<dyn FnOnce() + Send>),
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
        Process::with_class("Process", Target::Closure(Box::new(target)))
    }

    /// A process that will call `obj.run()`, named after the type (`Clock-1`), as
    /// CPython names an instance of a `Process` subclass.
    pub fn from_run<R: Run + Send + 'static>(mut obj: R) -> Process {
        let type_name = std::any::type_name::<R>();
        let class = type_name.rsplit("::").next().unwrap_or(type_name);
        Process::with_class(class, Target::Closure(Box::new(move || obj.run())))
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

    /// Forks the child, which runs the target and exits.
    ///
    /// Errors: started twice (CPython: "cannot start a process twice"), the calling
    /// process runs more than one thread, or the OS refused to fork; each message names
    /// the process and what failed.
    ///
    /// ```
    /// use examples_process::Process;
    ///
    /// let mut p = Process::new(|| panic!("the child fails"));
    /// p.start()?;
    /// assert!(p.start().is_err()); // cannot start a process twice
    /// assert_eq!(p.join()?, 1); // a panic is exit code 1, as an exception is in CPython
    ///
    /// let helper = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
    /// let err = Process::new(|| {}).start().unwrap_err(); // two threads now: no fork
    /// assert!(err.to_string().contains("refusing to fork"));
    /// helper.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(&mut self) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::other(format!("{}: process object is closed", self.name)));
        }
        let Some(target) = self.target.take() else {
            return Err(io::Error::other(format!("cannot start {} twice", self.name)));
        };
        if let Err(e) = start::check_guarded() {
            self.target = Some(target);
            return Err(io::Error::new(e.kind(), format!("cannot start {}: {e}", self.name)));
        }
        let why = match (self.method, target) {
            (StartMethod::Fork, target @ (Target::Closure(_) | Target::Call(_))) => {
                return self.fork(target);
            }
            (_, Target::Call(portable)) => return self.launch(portable),
            (_, target @ Target::Unsendable(_)) => {
                let why = match &target {
                    Target::Unsendable(e) => format!("its arguments cannot be serialised: {e}"),
                    _ => String::new(),
                };
                self.target = Some(target);
                why
            }
            (_, target @ Target::Closure(_)) => {
                self.target = Some(target);
                "a closure cannot cross exec; make the process with Process::call(f, args)".into()
            }
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot start {} with {}: {why}", self.name, self.method),
        ))
    }

    /// Starts the child with spawn or forkserver.
    fn launch(&mut self, portable: Portable) -> io::Result<()> {
        let launch = Launch::new(self.name.clone(), self.identity.clone(), self.daemon, portable);
        let started = match self.method {
            StartMethod::Spawn => start::spawn(&launch, &self.fds),
            _ => start::forkserver::start(&launch, &self.fds, false).map(|s| (s.pid, Some(s))),
        };
        let (pid, served) = started.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start {} with {}: {e}", self.name, self.method),
            )
        })?;
        self.fds.clear(); // the child has its copies
        self.record(pid, served);
        Ok(())
    }

    /// Keeps the started child's record, in the handle and in the table that
    /// `active_children` reads.
    fn record(&mut self, pid: Pid, served: Option<Served>) -> Arc<Child> {
        let child = Arc::new(Child {
            pid,
            name: self.name.clone(),
            daemon: self.daemon,
            parent: Pid::from_raw(current_pid()),
            exitcode: Mutex::new(None),
            sentinel: OnceLock::new(),
            holder: OnceLock::new(),
            served,
        });
        // Only a weak reference: the table must not keep a child's record alive after
        // its handle is gone.
        let mut children = CHILDREN.lock();
        children.retain(|c| c.strong_count() > 0);
        children.push(Arc::downgrade(&child));
        drop(children);
        self.child = Some(Arc::clone(&child));
        child
    }

    /// Starts the child with fork.
    fn fork(&mut self, target: Target) -> io::Result<()> {
        if let Err(e) = wait_until_single_threaded() {
            self.target = Some(target);
            return Err(io::Error::new(e.kind(), format!("cannot start {}: {e}", self.name)));
        }
        // Anything still buffered would be printed twice: once by each process. (If
        // standard output has failed, there is nothing to save.)
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        let parent = Pid::from_raw(current_pid()); // cached: no system call
        let ticket = Gate::for_this_process(&mut CURRENT.lock().gate)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", self.name)))?
            .next_ticket();

        // SAFETY: the process is single-threaded (checked above), so no lock can be
        // held by a thread that does not exist in the child.
        match unsafe { fork() } {
            Err(e) => {
                self.target = Some(target); // not started: it may be tried again
                Err(io::Error::new(
                    io::Error::from(e).kind(),
                    format!("cannot start {}: fork failed: {}", self.name, io::Error::from(e)),
                ))
            }
            Ok(ForkResult::Child) => {
                let me = ProcessInfo {
                    name: self.name.clone(),
                    pid: current_pid(),
                    daemon: self.daemon,
                    exitcode: None,
                };
                CURRENT.lock().become_child(me, &self.identity, parent.as_raw());
                CHILDREN.lock().clear(); // the parent's children are not ours
                HANDED_OVER.lock().clear();
                signals::restore_in_child();
                // Die with the parent. If the parent died before this call, the signal
                // will never come: we were adopted, so check and leave.
                let _ = prctl::set_pdeathsig(Signal::SIGKILL);
                if getppid() != parent {
                    exit_child(-1);
                }
                // The parent drops its copy of the target first (see `moving_to_child`).
                ticket.wait();
                *PASSED.lock() = std::mem::take(&mut self.fds);
                match target {
                    Target::Closure(target) => {
                        let outcome = panic::catch_unwind(AssertUnwindSafe(target));
                        exit_child(if outcome.is_ok() { 0 } else { 1 });
                    }
                    Target::Call(portable) => portable.run(),
                    Target::Unsendable(_) => unreachable!("refused before the fork"),
                }
            }
            Ok(ForkResult::Parent { child: pid }) => {
                self.record(pid, None);
                self.fds.clear(); // the child has its copies
                // What the target captured now belongs to the child: the parent's
                // copies are dropped, with `moving_to_child()` saying so, before the
                // child may run. The gate opens even if one of those drops panics (the
                // panic goes on to the caller, whose handle then ends the child).
                let gate = OpenOnDrop(Some(ticket));
                handover::hand_over(pid.as_raw(), || drop(target));
                drop(gate);
                Ok(())
            }
        }
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

/// Opens a child's gate when dropped: after the parent's copies of the target are
/// dropped, or while a panic in one of those drops unwinds.
struct OpenOnDrop(Option<handover::Ticket>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        if let Some(ticket) = self.0.take() {
            ticket.open();
        }
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

/// The calling process: `MainProcess` in the program that was run, the child's name
/// inside a child.
///
/// ```
/// let me = examples_process::current_process();
/// assert_eq!(me.name, "MainProcess");
/// assert_eq!(me.pid, std::process::id() as i32);
/// ```
pub fn current_process() -> ProcessInfo {
    CURRENT.lock().current()
}

/// The process that started this one (CPython: `parent_process()`), with the name it
/// had then; `None` in the program's first process.
///
/// ```
/// use examples_process::{Process, current_process, parent_process};
///
/// assert_eq!(parent_process(), None); // the main process has none
/// let me = current_process();
/// let mut child = Process::new(move || {
///     let parent = parent_process().expect("a child has a parent");
///     assert_eq!((parent.name.as_str(), parent.pid), ("MainProcess", me.pid));
/// });
/// child.start()?;
/// assert_eq!(child.join()?, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn parent_process() -> Option<ProcessInfo> {
    CURRENT.lock().parent.clone()
}

/// The children this process started that are still running. Like CPython, it reaps
/// the ones that have ended (their handles still report the exit code).
///
/// ```
/// use std::time::Duration;
/// use examples_process::{Process, active_children};
///
/// let mut quick = Process::new(|| {});
/// let mut slow = Process::new(|| std::thread::sleep(Duration::from_millis(300)));
/// quick.start()?;
/// slow.start()?;
/// quick.join()?;
/// let names: Vec<String> = active_children().into_iter().map(|c| c.name).collect();
/// assert_eq!(names, ["Process-2"]);
/// slow.join()?;
/// assert!(active_children().is_empty());
/// assert_eq!(quick.exitcode(), Some(0)); // still known after active_children reaped
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn active_children() -> Vec<ProcessInfo> {
    reap_handed_over();
    let mut children = CHILDREN.lock();
    let alive: Vec<Arc<Child>> = children
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|c| !c.held() && matches!(c.reap(), Ok(None)))
        .collect();
    *children = alive.iter().map(Arc::downgrade).collect();
    alive
        .iter()
        .map(|c| ProcessInfo {
            name: c.name.clone(),
            pid: c.pid.as_raw(),
            daemon: c.daemon,
            exitcode: None,
        })
        .collect()
}

/// One started child, shared between its `Process` handle and the table that
/// `active_children` reads, so whichever reaps it first records the exit code for both.
///
/// It holds no file descriptor (a child forked later would inherit it): its pid is
/// enough. Until this process reaps it, the kernel keeps that pid for it, even after
/// it exits (a zombie), so signalling and waiting by pid cannot hit another process;
/// every use of the pid happens under the `exitcode` lock, which the reaping holds.
struct Child {
    pid: Pid,
    name: String,
    daemon: bool,
    parent: Pid,
    exitcode: Mutex<Option<i32>>,
    /// A pidfd, opened only if `sentinel` is asked for.
    sentinel: OnceLock<OwnedFd>,
    /// The child the handle was moved into, if it was (see `held`).
    holder: OnceLock<Weak<Child>>,
    /// A child of a fork server: its pidfd and the socket its exit code comes on.
    served: Option<Served>,
}

impl Child {
    /// Whether this process started it (only the parent can wait for a child).
    fn is_ours(&self) -> bool {
        self.parent.as_raw() == current_pid()
    }

    /// An error unless this process started it: only the parent can join a child.
    fn check_ours(&self) -> io::Result<()> {
        if self.is_ours() {
            return Ok(());
        }
        Err(io::Error::other(format!(
            "can only join a child process; {} was started by pid {}",
            self.name, self.parent
        )))
    }

    /// Runs `f` with the pid while it still names this child: `None` once reaped.
    fn with_pid<R>(&self, f: impl FnOnce(Pid) -> nix::Result<R>) -> io::Result<Option<R>> {
        let code = self.exitcode.lock();
        if code.is_some() {
            return Ok(None);
        }
        let result = f(self.pid).map(Some).map_err(io::Error::from);
        drop(code);
        result
    }

    /// The exit code if the child has ended (reaping it the first time), else `None`.
    fn reap(&self) -> io::Result<Option<i32>> {
        self.check_ours()?;
        if self.held() {
            return Ok(None);
        }
        let mut code = self.exitcode.lock();
        if let (None, Some(served)) = (*code, &self.served) {
            *code = start::served_exit_code(&served.status)?;
        } else if code.is_none() {
            *code = loop {
                match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, status)) => break Some(status),
                    Ok(WaitStatus::Signaled(_, signal, _)) => break Some(-(signal as i32)),
                    Ok(WaitStatus::StillAlive) => break None,
                    Ok(_) | Err(Errno::EINTR) => continue, // stopped/continued, or interrupted
                    Err(e) => return Err(e.into()),
                }
            };
        }
        Ok(*code)
    }

    /// Sleeps until the child has exited, without reaping it (`reap` does that, under
    /// the lock), so that a concurrent `reap` elsewhere cannot take its status away.
    fn wait_exited(&self) -> io::Result<()> {
        if self.served.is_some() {
            return self.wait_end(None).map(drop);
        }
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        loop {
            match waitid(Id::Pid(self.pid), flags) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                // Reaped meanwhile (by `active_children` on another thread): fine.
                Err(Errno::ECHILD) if self.exitcode.lock().is_some() => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sleeps until the child has ended (or `timeout` passes): returns whether it has.
    /// For the parent of a fork server's child, "ended" means its exit code has come.
    fn wait_end(&self, timeout: Option<Duration>) -> io::Result<bool> {
        if self.exitcode.lock().is_some() {
            return Ok(true);
        }
        match &self.served {
            Some(served) if self.is_ours() => wait_readable(served.status.as_fd(), timeout),
            Some(served) => wait_readable(served.pidfd.as_fd(), timeout),
            None => match self.with_pid(pidfd_open)? {
                Some(pidfd) => wait_readable(pidfd.as_fd(), timeout),
                None => Ok(true),
            },
        }
    }

    /// Sends `signal`. By pid: in the parent the pid is this child's until it reaps it
    /// (checked under the lock); in a process the handle was moved into, the parent does
    /// not reap it while that process lives (see `held`), so the pid is still its own.
    fn signal(&self, signal: Signal) -> io::Result<()> {
        if let Some(served) = &self.served {
            // A pidfd names this process and no other, whoever reaps it.
            let signal = rustix::process::Signal::from_named_raw(signal as i32)
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
            return match rustix::process::pidfd_send_signal(&served.pidfd, signal) {
                Err(rustix::io::Errno::SRCH) => Ok(()),
                other => other.map_err(io::Error::from),
            };
        }
        match self.with_pid(|pid| kill(pid, signal)) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether the handle was moved into another child of this process that has not
    /// been reaped yet: then this child stays unreaped too (a zombie once it exits), so
    /// that its pid, which that process signals and polls, cannot go to another process.
    fn held(&self) -> bool {
        let holder = self.holder.get().and_then(Weak::upgrade);
        holder.is_some_and(|holder| holder.exitcode.lock().is_none())
    }
}

/// Who this process is, for names: `MainProcess` (no name, identity `[]`), or a child.
struct Identity {
    /// This process, if it is a child started by `Process` (else it is `MainProcess`).
    me: Option<ProcessInfo>,
    /// The process that started this one.
    parent: Option<ProcessInfo>,
    identity: Vec<u32>,
    created: u32,
    /// Where children wait for this process to finish starting them.
    gate: Option<Gate>,
}

impl Identity {
    fn next_child_identity(&mut self) -> Vec<u32> {
        self.created += 1;
        let mut id = self.identity.clone();
        id.push(self.created);
        id
    }

    /// This process as `current_process` reports it.
    fn current(&self) -> ProcessInfo {
        let main = || ProcessInfo {
            name: "MainProcess".into(),
            pid: current_pid(),
            daemon: false,
            exitcode: None,
        };
        self.me.clone().map_or_else(main, |me| ProcessInfo { pid: current_pid(), ..me })
    }

    fn become_child(&mut self, me: ProcessInfo, identity: &[u32], parent_pid: i32) {
        // In the child, this is still the parent's record, under the parent's pid.
        self.parent = Some(ProcessInfo { pid: parent_pid, ..self.current() });
        self.me = Some(me);
        self.identity = identity.to_vec();
        self.created = 0;
    }
}

static CURRENT: Mutex<Identity> =
    Mutex::new(Identity { me: None, parent: None, identity: Vec::new(), created: 0, gate: None });
/// The children started by this process whose handles still exist.
static CHILDREN: Mutex<Vec<Weak<Child>>> = Mutex::new(Vec::new());
/// Children whose handles were moved into another child: that child decides when they
/// end, and this process reaps them.
static HANDED_OVER: Mutex<Vec<Arc<Child>>> = Mutex::new(Vec::new());

/// Reaps the handed-over children that have ended; never waits.
fn reap_handed_over() {
    HANDED_OVER.lock().retain(|c| matches!(c.reap(), Ok(None)));
}

/// Descriptors passed to this process by its parent with `pass_fd`, until taken.
static PASSED: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// Takes the file descriptors that the parent handed to this child with
/// [`Process::pass_fd`], in the order they were passed (CPython: a `Connection` or
/// socket in the target's arguments). Empty in the main process, and after the first
/// call.
pub fn passed_fds() -> Vec<OwnedFd> {
    std::mem::take(&mut *PASSED.lock())
}

/// In a child started by spawn or a fork server: become the process `launch` describes.
pub(crate) fn become_launched(launch: &Launch, passed: Vec<OwnedFd>) {
    let me = ProcessInfo {
        name: launch.name.clone(),
        pid: current_pid(),
        daemon: launch.daemon,
        exitcode: None,
    };
    let mut current = CURRENT.lock();
    current.become_child(me, &launch.identity, launch.parent_pid);
    if let Some(parent) = &mut current.parent {
        parent.name = launch.parent_name.clone();
        parent.daemon = launch.parent_daemon;
    }
    drop(current);
    CHILDREN.lock().clear(); // a fork server's children are not ours
    *PASSED.lock() = passed;
}

/// Leaves the child: flush what it printed, then `_exit` (no destructors, no atexit).
pub(crate) fn exit_child(code: i32) -> ! {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: `_exit` is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// Succeeds once this process runs one thread. A thread that was just joined can stay
/// listed for a moment while the kernel finishes its exit (`pthread_join` returns
/// before the thread is unlisted), so look again for a little while before refusing.
fn wait_until_single_threaded() -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(20);
    loop {
        // One `stat`: procfs counts a process's threads in its task directory's links
        // (threads + 2).
        let task = rustix::fs::stat("/proc/self/task").map_err(|e| {
            let why = format!("cannot count this process's threads ({e}), and fork needs one");
            start::proc_needed(io::Error::new(io::Error::from(e).kind(), why))
        })?;
        let threads = task.st_nlink.saturating_sub(2);
        if threads == 1 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "refusing to fork: this process runs {threads} threads; join them first, \
                 or start it with StartMethod::Spawn or StartMethod::Forkserver"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub(crate) fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid.as_raw()).ok_or(Errno::EINVAL)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| Errno::from_raw(e.raw_os_error()))
}

/// Sleeps until the pidfd is readable (the child ended) or the timeout passes. A
/// timeout too large to add to the clock (`Duration::MAX`) means no timeout.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline.map(|d| TimeSpec::from(d.saturating_duration_since(Instant::now())));
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match ppoll(&mut fds, left, None) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
