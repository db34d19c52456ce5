//! A process pool shaped like CPython's `multiprocessing.Pool` (fork start method),
//! used by the examples in `src/bin/`; the README's notes map lists them. The
//! [`workloads`] of the GIL-style comparison live here too, shared by `gil_compare`
//! and `side_by_side`.
//!
//! | CPython                                   | here                                        |
//! |-------------------------------------------|---------------------------------------------|
//! | `pool = Pool(3)`                          | `let pool = Pool::new(3)?;`                 |
//! | `pool.apply(f, (x,))`                     | `pool.apply(f, x)?`                         |
//! | `r = pool.apply_async(f, (x,))`           | `let r = pool.apply_async(f, x)?;`          |
//! | `r.get()`, `r.get(timeout)`, `r.ready()`  | `r.get()?`, `r.get_timeout(t)`, `r.ready()?` |
//! | `pool.map(f, items)`                      | `pool.map(f, items)?`                       |
//! | `pool.close(); pool.join()`               | `pool.close().join()?`                      |
//! | `with Pool(3) as pool:` (exit terminates) | a block: dropping a `Pool` terminates it    |
//!
//! How it works. `Pool::new` forks the workers, so they are copies of this program:
//! a task names its function by address, as CPython names it by module and name, and
//! the address is valid in the worker because a forked child has the same memory
//! layout. Arguments and results cross as serde messages over one duplex
//! [`Connection`] per worker. Each worker runs one task at a time; the parent hands out
//! queued tasks whenever it is inside a pool call (`get`, `map`, `join`, …), so the pool
//! needs no helper thread, which keeps the parent single-threaded and able to fork.
//!
//! Differences from CPython, on purpose:
//! - Joining an open pool is impossible: `join` exists only on the [`ClosedPool`] that
//!   `close` returns (CPython: `ValueError: Pool is still running`).
//! - A worker that dies in the middle of a task (a crash, a signal) fails that task with
//!   [`PoolError::WorkerDied`] and is replaced; CPython's `Pool` waits for ever.
//! - A task that panics fails with [`PoolError::Panicked`] (CPython re-raises the
//!   exception in `get`), and the worker goes on.
//!
//! ```
//! use examples_pool::Pool;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let pool = Pool::new(2)?;
//! let pending = pool.apply_async(square, 3)?;
//! while !pending.ready()? {} // ready() never waits; get() would
//! assert_eq!(pending.get()?, 9);
//! assert_eq!(pool.apply(square, 7)?, 49);
//! assert_eq!(pool.map(square, 0..5)?, [0, 1, 4, 9, 16]);
//! pool.close().join()?;
//! # Ok::<(), examples_pool::PoolError>(())
//! ```

#![warn(missing_docs)]

pub mod workloads;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use examples_ipc::connection::{self, Connection};
use examples_process::Process;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a pool call did not give a result.
#[derive(Debug)]
pub enum PoolError {
    /// `get_timeout` waited its time; the task goes on (CPython: `TimeoutError`).
    Timeout,
    /// The task panicked; the message is the panic's.
    Panicked(String),
    /// The worker running the task died, with this exit code (`-9`: SIGKILL).
    WorkerDied(i32),
    /// The task's arguments or its result, serialised, are this many bytes: more than
    /// one message may carry ([`MAX_MESSAGE`](examples_ipc::connection::MAX_MESSAGE)).
    TooLarge(usize),
    /// The operating system refused, or a message could not be (de)serialised.
    Io(io::Error),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Timeout => f.write_str("timed out; the task is still running"),
            PoolError::Panicked(message) => write!(f, "the task panicked: {message}"),
            PoolError::WorkerDied(code) => write!(f, "the worker died (exit code {code})"),
            PoolError::TooLarge(bytes) => write!(
                f,
                "{bytes} bytes to send, more than a message may hold ({} bytes)",
                connection::MAX_MESSAGE
            ),
            PoolError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PoolError {}

impl From<io::Error> for PoolError {
    fn from(e: io::Error) -> Self {
        PoolError::Io(e)
    }
}

impl From<PoolError> for io::Error {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// A task as it travels: which function, through which trampoline, with what input.
#[derive(Serialize, Deserialize)]
struct Task {
    id: u64,
    /// Address of `run_chunk::<A, R>`.
    trampoline: usize,
    /// Address of the user's `fn(A) -> R`.
    func: usize,
    /// A serialised `Vec<A>`.
    args: Vec<u8>,
}

/// What the parent tells a worker.
#[derive(Serialize, Deserialize)]
enum Order {
    Run(Task),
    /// Exit. A message, not end-of-file: workers forked later hold copies of the
    /// parent's end of this connection, so closing it would not be seen.
    Stop,
}

#[derive(Serialize, Deserialize)]
struct Done {
    id: u64,
    /// A serialised `Vec<R>`, or why there is none.
    result: Result<Vec<u8>, Failed>,
}

/// Why a task gave no result, as the worker reports it.
#[derive(Serialize, Deserialize)]
enum Failed {
    /// The task panicked, with this message.
    Panicked(String),
    /// The result, serialised, is this many bytes: too large to send back.
    TooLarge(usize),
}

impl From<Failed> for PoolError {
    fn from(failed: Failed) -> PoolError {
        match failed {
            Failed::Panicked(message) => PoolError::Panicked(message),
            Failed::TooLarge(bytes) => PoolError::TooLarge(bytes),
        }
    }
}

/// Room in a message for the task's other fields.
const ENVELOPE: usize = 64;

type Outcome = Result<Vec<u8>, PoolError>;

/// A pool of worker processes. Dropping it terminates the workers (CPython: leaving
/// `with Pool(...)`, or garbage collection, calls `terminate()`).
pub struct Pool {
    inner: RefCell<Inner>,
}

struct Inner {
    workers: Vec<Worker>,
    queued: VecDeque<Task>,
    finished: HashMap<u64, Outcome>,
    next_id: u64,
    /// Workers started so far, replacements included: the next one's number.
    started: usize,
    /// Where the next round of dispatching starts.
    next_worker: usize,
}

struct Worker {
    process: Process,
    conn: Connection,
    running: Option<u64>,
}

impl Pool {
    /// Forks `processes` workers (CPython: `Pool(processes)`).
    pub fn new(processes: usize) -> io::Result<Pool> {
        if processes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pool needs at least one process",
            ));
        }
        let mut workers: Vec<Worker> = Vec::with_capacity(processes);
        for number in 1..=processes {
            // On failure, the workers started so far are dropped: terminated and reaped.
            // The error names the worker: "cannot start ForkPoolWorker-3: fork failed: ...".
            workers.push(Worker::start(&workers, number)?);
        }
        let inner = Inner {
            workers,
            queued: VecDeque::new(),
            finished: HashMap::new(),
            next_id: 0,
            started: processes,
            next_worker: 0,
        };
        Ok(Pool { inner: RefCell::new(inner) })
    }

    /// Runs `f(args)` in a worker and waits for it (CPython: `apply`).
    pub fn apply<A, R>(&self, f: fn(A) -> R, args: A) -> Result<R, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.apply_async(f, args)?.get()
    }

    /// Queues `f(args)` and returns at once (CPython: `apply_async`).
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, args: A) -> Result<AsyncResult<'_, R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let id = self.submit(f, &[args])?;
        self.inner.borrow_mut().dispatch()?;
        Ok(AsyncResult { pool: self, id, _result: PhantomData })
    }

    /// `f` over every item, results in input order (CPython: `map`). Items go to the
    /// workers in chunks of CPython's default size, about a quarter of an even share.
    pub fn map<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<A> = items.into_iter().collect();
        let workers = self.inner.borrow().workers.len();
        let chunk = items.len().div_ceil(4 * workers).max(1);
        self.map_chunked(f, items, chunk)
    }

    /// `map` with a chosen chunk size (CPython: `map(f, items, chunksize)`).
    pub fn map_chunked<A, R>(
        &self,
        f: fn(A) -> R,
        items: Vec<A>,
        chunk: usize,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let ids =
            items.chunks(chunk.max(1)).map(|c| self.submit(f, c)).collect::<Result<Vec<_>, _>>()?;
        let mut results = Vec::with_capacity(items.len());
        for id in ids {
            let bytes = self.wait_for(id, None)?;
            results.extend(decode::<Vec<R>>(&bytes)?);
        }
        Ok(results)
    }

    /// The workers' pids, in worker order (CPython keeps them in `pool._pool`).
    pub fn worker_pids(&self) -> Vec<i32> {
        self.inner.borrow().workers.iter().filter_map(|w| w.process.pid()).collect()
    }

    /// No more tasks; `join` on the result waits for the queued ones (CPython: `close`).
    pub fn close(self) -> ClosedPool {
        ClosedPool { pool: self }
    }

    fn submit<A, R>(&self, f: fn(A) -> R, args: &[A]) -> Result<u64, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let trampoline: Trampoline = run_chunk::<A, R>;
        let args = postcard::to_stdvec(args).map_err(io::Error::other)?;
        if args.len() > connection::MAX_MESSAGE - ENVELOPE {
            return Err(PoolError::TooLarge(args.len()));
        }
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.queued.push_back(Task {
            id,
            trampoline: trampoline as usize,
            func: f as usize,
            args,
        });
        Ok(id)
    }

    /// Drives the pool until task `id` is done or the deadline passes.
    fn wait_for(&self, id: u64, deadline: Option<Instant>) -> Result<Vec<u8>, PoolError> {
        let mut inner = self.inner.borrow_mut();
        loop {
            if let Some(outcome) = inner.finished.remove(&id) {
                return outcome;
            }
            if !inner.step(deadline)? {
                return Err(PoolError::Timeout);
            }
        }
    }
}

impl Inner {
    /// Starts a new worker in the place of worker `i` (which has died).
    fn replace(&mut self, i: usize) -> io::Result<()> {
        self.workers[i] = Worker::start(&self.workers, self.started + 1)?;
        self.started += 1;
        Ok(())
    }

    /// Sends queued tasks to idle workers, first replacing any idle worker that died
    /// (killed from outside, say): a task is never handed to a worker known dead.
    fn dispatch(&mut self) -> io::Result<()> {
        // Round the workers, starting after the one that got the last task: with one
        // task at a time (`apply`), each worker gets its turn, as CPython's do.
        let (n, first) = (self.workers.len(), self.next_worker);
        for i in (0..n).map(|k| (first + k) % n) {
            if self.workers[i].running.is_some() {
                continue;
            }
            let Some(task) = self.queued.pop_front() else { break };
            if !self.workers[i].process.is_alive() {
                match self.replace(i) {
                    Ok(()) => {}
                    Err(e) => {
                        self.queued.push_front(task); // not lost: a later call retries
                        return Err(e);
                    }
                }
            }
            let worker = &mut self.workers[i];
            let id = task.id;
            match worker.conn.send(&Order::Run(task)) {
                // If the worker dies from here on, `step` sees its end of file, fails
                // the task and replaces the worker.
                Ok(()) => {
                    worker.running = Some(id);
                    self.next_worker = (i + 1) % n;
                }
                Err(e) => {
                    self.finished.insert(id, Err(PoolError::Io(e)));
                }
            }
        }
        Ok(())
    }

    /// Hands out work, then waits (until `deadline`) for at least one worker to finish.
    /// Returns false on timeout.
    fn step(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        self.dispatch()?;
        let busy: Vec<usize> =
            (0..self.workers.len()).filter(|&i| self.workers[i].running.is_some()).collect();
        if busy.is_empty() {
            return Err(io::Error::other("waiting for a task that no worker has"));
        }
        let ready: Vec<usize> = {
            let mut fds: Vec<PollFd> = busy
                .iter()
                .map(|&i| PollFd::new(self.workers[i].conn.as_fd(), PollFlags::POLLIN))
                .collect();
            let left =
                deadline.map(|d| TimeSpec::from(d.saturating_duration_since(Instant::now())));
            match ppoll(&mut fds, left, None) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => return Ok(true),
                Err(e) => return Err(e.into()),
            }
            let has_news = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            busy.iter().zip(&fds).filter(|(_, fd)| has_news(fd)).map(|(&i, _)| i).collect()
        };
        for i in ready {
            let worker = &mut self.workers[i];
            let id = worker.running.take().unwrap_or_default();
            match worker.conn.recv::<Done>() {
                Ok(done) => {
                    self.finished.insert(done.id, done.result.map_err(PoolError::from));
                }
                Err(_) => {
                    // End of file: the worker died mid-task. Fail the task, replace it.
                    let code = worker.process.join().unwrap_or(i32::MIN);
                    self.finished.insert(id, Err(PoolError::WorkerDied(code)));
                    self.replace(i)?;
                }
            }
        }
        Ok(true)
    }
}

impl Worker {
    /// Forks worker number `number`. `others` are the pool's other workers, whose ends of their
    /// connections the new worker closes: a worker holding a copy of another's end
    /// would keep that one from ever seeing end-of-file.
    fn start(others: &[Worker], number: usize) -> io::Result<Worker> {
        let (conn, worker_end) = connection::pipe()?;
        let inherited: Vec<RawFd> = others
            .iter()
            .map(|w| w.conn.as_fd().as_raw_fd())
            .chain([conn.as_fd().as_raw_fd()])
            .collect();
        let mut process = Process::new(move || {
            for fd in inherited {
                // SAFETY: these are the parent's ends, which this child inherited with
                // the parent's memory; the objects that own them are the parent's and
                // are never used or dropped here (the child leaves with `_exit`).
                unsafe { nix::libc::close(fd) };
            }
            serve(worker_end)
        })
        .with_name(format!("ForkPoolWorker-{number}")); // CPython's name for them
        process.start()?;
        Ok(Worker { process, conn, running: None })
    }
}

impl Drop for Worker {
    /// Stops the worker whatever it is doing (it may be waiting for a task, or running
    /// one); then the `Process` handle reaps it. A worker that has exited is not touched.
    fn drop(&mut self) {
        let _ = self.process.terminate();
    }
}

/// A task's trampoline: `run_chunk::<A, R>` for the task's types.
type Trampoline = fn(usize, &[u8]) -> Result<Vec<u8>, Failed>;

thread_local! {
    /// Whether the worker is inside a task, whose panic is reported to the parent.
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The worker's loop: run tasks until told to stop (or the parent is gone).
fn serve(conn: Connection) {
    // A task's panic goes back to the parent as `PoolError::Panicked`, as CPython's
    // pool re-raises a task's exception in `get`; the worker prints nothing. A failure
    // to print or to start a thread is reported as usual (see `exit_on_stdout_failure`).
    let report = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>().map_or("", String::as_str);
        if !IN_TASK.get() || message.starts_with("failed ") {
            report(info);
        }
    }));
    while let Ok(Order::Run(task)) = conn.recv::<Order>() {
        // SAFETY: `trampoline` is the address of a `run_chunk::<A, R>` instance taken in
        // the parent, of which this process is a fork: same executable, same layout.
        let trampoline: Trampoline = unsafe { std::mem::transmute(task.trampoline) };
        IN_TASK.set(true);
        let result = trampoline(task.func, &task.args);
        IN_TASK.set(false);
        let bytes = result.as_ref().map_or(0, Vec::len);
        let result = if bytes > connection::MAX_MESSAGE - ENVELOPE {
            Err(Failed::TooLarge(bytes))
        } else {
            result
        };
        if conn.send(&Done { id: task.id, result }).is_err() {
            break;
        }
    }
}

/// Decodes a chunk of `A`s, calls `f` on each, encodes the `R`s. Runs in a worker.
fn run_chunk<A: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
) -> Result<Vec<u8>, Failed> {
    // SAFETY: `func` is the address of an `fn(A) -> R` taken in the parent together with
    // this instance of `run_chunk::<A, R>`, so the types match; see `serve` for why the
    // address is valid here.
    let f: fn(A) -> R = unsafe { std::mem::transmute(func) };
    let args: Vec<A> = postcard::from_bytes(args).map_err(|e| Failed::Panicked(e.to_string()))?;
    let results =
        panic::catch_unwind(AssertUnwindSafe(|| args.into_iter().map(f).collect::<Vec<R>>()))
            .map_err(|panic| {
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
            })
            .map_err(|message| Failed::Panicked(message.unwrap_or_else(|| "a panic".into())))?;
    postcard::to_stdvec(&results).map_err(|e| Failed::Panicked(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PoolError> {
    postcard::from_bytes(bytes)
        .map_err(|e| PoolError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// The future result of `apply_async` (CPython: `AsyncResult`).
pub struct AsyncResult<'pool, R> {
    pool: &'pool Pool,
    id: u64,
    _result: PhantomData<R>,
}

impl<R: DeserializeOwned> AsyncResult<'_, R> {
    /// Waits for the result.
    pub fn get(self) -> Result<R, PoolError> {
        let bytes = self.pool.wait_for(self.id, None)?;
        Ok(decode::<Vec<R>>(&bytes)?.remove(0))
    }

    /// Waits at most `timeout`. On `Err(Timeout)` the task goes on, and this result
    /// can be asked again; an `Ok` hands the result over, so ask only once after it.
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, PoolError> {
        let bytes = self.pool.wait_for(self.id, Instant::now().checked_add(timeout))?;
        Ok(decode::<Vec<R>>(&bytes)?.remove(0))
    }

    /// Whether the task has finished (it does not wait).
    pub fn ready(&self) -> Result<bool, PoolError> {
        let mut inner = self.pool.inner.borrow_mut();
        if !inner.finished.contains_key(&self.id)
            && inner.workers.iter().any(|w| w.running.is_some())
        {
            inner.step(Some(Instant::now()))?;
        }
        Ok(inner.finished.contains_key(&self.id))
    }
}

/// A pool that takes no more tasks; `join` waits for the queued ones.
pub struct ClosedPool {
    pool: Pool,
}

impl ClosedPool {
    /// Runs every queued task to completion, then lets the workers exit and reaps them
    /// (CPython: `join()` after `close()`). Results nobody asked for are dropped.
    pub fn join(self) -> Result<(), PoolError> {
        let mut inner = self.pool.inner.borrow_mut();
        while !inner.queued.is_empty() || inner.workers.iter().any(|w| w.running.is_some()) {
            inner.step(None)?;
        }
        for worker in std::mem::take(&mut inner.workers) {
            let _ = worker.conn.send(&Order::Stop);
            worker.process.join()?;
        }
        Ok(())
    }
}

impl Drop for Pool {
    /// CPython's `terminate()`: the workers are stopped whatever they are doing. Each
    /// worker is sent SIGTERM first, then each is reaped, so they end together.
    fn drop(&mut self) {
        for worker in &self.inner.borrow().workers {
            let _ = worker.process.terminate();
        } // then each `Worker` is dropped: its process handle reaps it
    }
}
