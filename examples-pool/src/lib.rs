//! A process pool shaped like CPython's `multiprocessing.Pool` (fork start method),
//! used by the examples in `src/bin/`; the README's notes map lists them. The
//! [`workloads`] of the GIL-style comparison live here too, shared by `gil_compare`
//! and `side_by_side`.
//!
//! | CPython                                   | here                                        |
//! |-------------------------------------------|---------------------------------------------|
//! | `pool = Pool(3)`                          | `let pool = Pool::new(3)?;`                 |
//! | `get_context("spawn").Pool(3)`            | `Pool::with_start_method(3, StartMethod::Spawn)?` |
//! | `pool.apply(f, (x,))`                     | `pool.apply(f, x)?`                         |
//! | `r = pool.apply_async(f, (x,))`           | `let r = pool.apply_async(f, x)?;`          |
//! | `r.get()`, `r.get(timeout)`, `r.ready()`  | `r.get()?`, `r.get_timeout(t)`, `r.ready()?` |
//! | `pool.map(f, items)`, `map(f, items, n)`  | `pool.map(f, items)?`, `map_chunked(f, items, n)?` |
//! | `pool.map_async(f, items)`                | `pool.map_async(f, items)?` → `AsyncResult<Vec<R>>` |
//! | `pool.starmap(f, [(a, b), …])`, `starmap_async` | `pool.starmap(f, pairs)?`, `starmap_async(f, pairs)?` |
//! | `pool.imap(f, items)`, `imap_unordered(f, items)` | `pool.imap(f, items, 1)?`, `imap_unordered(f, items, 1)?` (iterators) |
//! | `apply_async(..., callback=c, error_callback=e)` | `apply_async(..)?.callback(c).error_callback(e)` |
//! | `pool.terminate()`                        | `pool.terminate()` (dropping it does the same) |
//! | `pool.close(); pool.join()`               | `pool.close().join()?`                      |
//! | `with Pool(3) as pool:` (exit terminates) | a block: dropping a `Pool` terminates it    |
//!
//! How it works. `Pool::new` starts the workers with fork (or the
//! [`StartMethod`] given to [`Pool::with_start_method`]), so they run this same
//! program: a task names its function by its offset in the executable
//! ([`code_offset`]), as CPython names it by module and
//! name. Arguments and results cross as serde messages over one duplex [`Connection`]
//! per worker.
//!
//! Tasks are handed out as soon as they are submitted: each worker gets a queue of
//! them in its connection (up to [`IN_FLIGHT`] tasks, and a few tens of KiB, each),
//! runs them in order and writes each result back, so the pool progresses while the
//! parent does something else, as CPython's does with its handler threads. Results
//! wait in the connection until a pool call (`get`, `ready`, `join`, …) reads them;
//! so does any task beyond those limits. The pool has no thread of its own, which
//! keeps the parent single-threaded and able to fork.
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
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use examples_ipc::connection::{self, Connection};
use examples_process::{
    Process, StartMethod, code_address, code_offset, panic_message, passed_fds,
};
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
    /// Code offset of `run_chunk::<A, R>`.
    trampoline: isize,
    /// Code offset of the user's `fn(A) -> R`.
    func: isize,
    /// A serialised `Vec<A>`.
    args: Vec<u8>,
}

/// What the parent tells a worker: it sends `Order<&Task>`, the worker reads
/// `Order<Task>` (the same bytes).
#[derive(Serialize, Deserialize)]
enum Order<T> {
    Run(T),
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
    method: StartMethod,
    queued: VecDeque<Task>,
    finished: HashMap<u64, Outcome>,
    next_id: u64,
    /// Workers started so far, replacements included: the next one's number.
    started: usize,
    /// Where the next round of dispatching starts.
    next_worker: usize,
    /// Callbacks waiting for results.
    watches: Vec<Watch>,
    /// Tasks sent to a worker and not yet answered, by id.
    sent: HashMap<u64, Task>,
}

struct Worker {
    process: Process,
    conn: Connection,
    /// The tasks sent to it and not yet answered, in the order it runs them.
    running: VecDeque<u64>,
    /// Bytes of those tasks' arguments.
    running_bytes: usize,
    /// How many bytes of tasks may wait in its connection (see [`IN_FLIGHT`]).
    window: usize,
}

/// The most tasks a worker is sent ahead of its results. With its byte limit (a
/// quarter of the connection's send buffer, at most 64 KiB), it keeps a `send` from
/// ever blocking the parent while the worker is blocked writing results nobody reads.
pub const IN_FLIGHT: usize = 64;

impl Pool {
    /// Forks `processes` workers (CPython: `Pool(processes)`).
    pub fn new(processes: usize) -> io::Result<Pool> {
        Pool::with_start_method(processes, StartMethod::Fork)
    }

    /// Starts `processes` workers with `method` (CPython:
    /// `get_context(method).Pool(processes)`). With spawn or forkserver, a program that
    /// runs threads can make a pool, and replace a dead worker; `main` must begin with
    /// [`main_guard`](examples_process::main_guard).
    pub fn with_start_method(processes: usize, method: StartMethod) -> io::Result<Pool> {
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
            workers.push(Worker::start(&workers, number, method)?);
        }
        let inner = Inner {
            workers,
            method,
            queued: VecDeque::new(),
            finished: HashMap::new(),
            next_id: 0,
            started: processes,
            next_worker: 0,
            watches: Vec::new(),
            sent: HashMap::new(),
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
        let id = self.submit(run_chunk::<A, R>, f as usize, &[args])?;
        self.inner.borrow_mut().dispatch()?;
        Ok(AsyncResult::new(self, vec![id], first_of::<R>))
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
        self.map_async(f, items)?.get()
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
        let ids = self.submit_chunks(run_chunk::<A, R>, f as usize, &items, Some(chunk))?;
        AsyncResult::new(self, ids, concatenated::<R>).get()
    }

    /// `map` that returns at once (CPython: `map_async`); `get` gives the results in
    /// input order.
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<'_, Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<A> = items.into_iter().collect();
        let ids = self.submit_chunks(run_chunk::<A, R>, f as usize, &items, None)?;
        Ok(AsyncResult::new(self, ids, concatenated::<R>))
    }

    /// `f(a, b)` for every pair, results in input order (CPython: `starmap`, whose
    /// items are argument tuples). For three arguments or more, take a tuple in `map`.
    pub fn starmap<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.starmap_async(f, items)?.get()
    }

    /// `starmap` that returns at once (CPython: `starmap_async`).
    pub fn starmap_async<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<AsyncResult<'_, Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let ids = self.submit_chunks(run_pair_chunk::<A, B, R>, f as usize, &items, None)?;
        Ok(AsyncResult::new(self, ids, concatenated::<R>))
    }

    /// `f` over every item, yielding each result as soon as it and the ones before it
    /// are done, in input order (CPython: `imap`). Tasks go one item per chunk unless
    /// `chunk` says otherwise (CPython's `chunksize`, 1 by default here too).
    pub fn imap<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunk: usize,
    ) -> Result<Imap<'_, R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<A> = items.into_iter().collect();
        let ids = self.submit_chunks(run_chunk::<A, R>, f as usize, &items, Some(chunk))?;
        Ok(Imap { pool: self, ids: ids.into(), ready: VecDeque::new(), ordered: true })
    }

    /// Like [`imap`](Pool::imap), but yielding results as they complete, in any order
    /// (CPython: `imap_unordered`).
    pub fn imap_unordered<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunk: usize,
    ) -> Result<Imap<'_, R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let mut imap = self.imap(f, items, chunk)?;
        imap.ordered = false;
        Ok(imap)
    }

    /// Stops the workers at once, whatever they are doing, and reaps them (CPython:
    /// `terminate()`); the same as dropping the pool, said out loud.
    pub fn terminate(self) {
        drop(self);
    }

    /// The workers' pids, in worker order (CPython keeps them in `pool._pool`).
    pub fn worker_pids(&self) -> Vec<i32> {
        self.inner.borrow().workers.iter().filter_map(|w| w.process.pid()).collect()
    }

    /// No more tasks; `join` on the result waits for the queued ones (CPython: `close`).
    pub fn close(self) -> ClosedPool {
        ClosedPool { pool: self }
    }

    /// Queues one task: `trampoline` runs `func` over the items of `args` in a worker.
    fn submit<A: Serialize>(
        &self,
        trampoline: Trampoline,
        func: usize,
        args: &[A],
    ) -> Result<u64, PoolError> {
        let args = postcard::to_stdvec(args).map_err(io::Error::other)?;
        if args.len() > connection::MAX_MESSAGE - ENVELOPE {
            return Err(PoolError::TooLarge(args.len()));
        }
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.queued.push_back(Task {
            id,
            trampoline: code_offset(trampoline as usize),
            func: code_offset(func),
            args,
        });
        Ok(id)
    }

    /// Queues `items` in chunks of `chunk` (CPython's default, about a quarter of an
    /// even share per worker, when `None`) and hands out what it can.
    fn submit_chunks<A: Serialize>(
        &self,
        trampoline: Trampoline,
        func: usize,
        items: &[A],
        chunk: Option<usize>,
    ) -> Result<Vec<u64>, PoolError> {
        let workers = self.inner.borrow().workers.len();
        let chunk = chunk.unwrap_or_else(|| items.len().div_ceil(4 * workers)).max(1);
        let ids = items
            .chunks(chunk)
            .map(|c| self.submit(trampoline, func, c))
            .collect::<Result<Vec<_>, _>>()?;
        self.inner.borrow_mut().dispatch()?;
        Ok(ids)
    }

    /// Drives the pool until every task of `ids` is done or the deadline passes, then
    /// hands their outcomes over, in order. On a timeout nothing is handed over.
    fn wait_all(&self, ids: &[u64], deadline: Option<Instant>) -> Result<Vec<Vec<u8>>, PoolError> {
        let mut inner = self.inner.borrow_mut();
        while !ids.iter().all(|id| inner.finished.contains_key(id)) {
            if !inner.step(deadline)? {
                return Err(PoolError::Timeout);
            }
        }
        ids.iter().map(|id| inner.finished.remove(id).unwrap_or(Err(PoolError::Timeout))).collect()
    }

    /// Drives the pool until one of `ids` is done and hands it over.
    fn wait_any(&self, ids: &[u64]) -> Result<(u64, Vec<u8>), PoolError> {
        let mut inner = self.inner.borrow_mut();
        loop {
            if let Some(&id) = ids.iter().find(|id| inner.finished.contains_key(id)) {
                return inner
                    .finished
                    .remove(&id)
                    .unwrap_or(Err(PoolError::Timeout))
                    .map(|b| (id, b));
            }
            inner.step(None)?;
        }
    }
}

impl Inner {
    /// Starts a new worker in the place of worker `i` (which has died).
    fn replace(&mut self, i: usize) -> io::Result<()> {
        self.workers[i] = Worker::start(&self.workers, self.started + 1, self.method)?;
        self.started += 1;
        Ok(())
    }

    /// Sends queued tasks to the workers, each to the one with the fewest waiting (the
    /// next one round, on a tie: with one task at a time, as `apply` gives, each worker
    /// gets its turn, as CPython's do), while they have room (see [`IN_FLIGHT`]).
    fn dispatch(&mut self) -> io::Result<()> {
        let n = self.workers.len();
        // First choose, then send each worker its share in one write.
        let mut shares: Vec<Vec<u64>> = vec![Vec::new(); n];
        while let Some(task) = self.queued.front() {
            let bytes = task.args.len();
            let first = self.next_worker;
            let Some(i) = (0..n)
                .map(|k| (first + k) % n)
                .filter(|&i| self.workers[i].has_room(bytes))
                .min_by_key(|&i| self.workers[i].running.len())
            else {
                break; // every worker has its fill: the rest go as results come back
            };
            let task = self.queued.pop_front().expect("looked at above");
            let worker = &mut self.workers[i];
            worker.running.push_back(task.id);
            worker.running_bytes += bytes;
            shares[i].push(task.id);
            self.sent.insert(task.id, task); // kept until answered, to re-send if need be
            self.next_worker = (i + 1) % n;
        }
        for (i, share) in shares.into_iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            let orders = share.iter().map(|id| Order::Run(&self.sent[id]));
            let orders: Vec<Order<&Task>> = orders.collect();
            // Once sent, if the worker dies, `collect` sees its end of file, fails the
            // task it was running, re-queues the others and replaces it.
            let Err(e) = self.workers[i].conn.send_all(&orders) else { continue };
            // None of the share reached the worker: take it back.
            let tasks: Vec<Task> = share.iter().filter_map(|id| self.sent.remove(id)).collect();
            let worker = &mut self.workers[i];
            worker.running.truncate(worker.running.len() - share.len());
            worker.running_bytes -= tasks.iter().map(|t| t.args.len()).sum::<usize>();
            if e.kind() == io::ErrorKind::BrokenPipe {
                // Dead before it could take them: replace it, keep the tasks.
                for task in tasks.into_iter().rev() {
                    self.queued.push_front(task);
                }
                self.finish_dead(i)?;
            } else {
                for task in tasks {
                    let error = io::Error::new(e.kind(), e.to_string());
                    self.finished.insert(task.id, Err(PoolError::Io(error)));
                }
            }
        }
        Ok(())
    }

    /// Hands out work, then waits (until `deadline`) for at least one result, and reads
    /// every result that has come. Returns false on timeout.
    fn step(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        self.dispatch()?;
        let busy: Vec<usize> =
            (0..self.workers.len()).filter(|&i| !self.workers[i].running.is_empty()).collect();
        if busy.is_empty() {
            return Err(io::Error::other("waiting for a task that no worker has"));
        }
        // Results already read ahead need no poll (their descriptor would not show them).
        let buffered: Vec<usize> =
            busy.iter().copied().filter(|&i| self.workers[i].conn.buffered()).collect();
        let ready: Vec<usize> = if !buffered.is_empty() {
            buffered
        } else {
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
            self.collect(i)?;
        }
        self.dispatch()?;
        self.run_callbacks();
        Ok(true)
    }

    /// Reads every result worker `i` has written, or finds it dead.
    fn collect(&mut self, i: usize) -> io::Result<()> {
        loop {
            let worker = &mut self.workers[i];
            match worker.conn.recv::<Done>() {
                Ok(done) => {
                    let id = worker.running.pop_front();
                    debug_assert_eq!(id, Some(done.id), "a worker answers in order");
                    let bytes = self.sent.remove(&done.id).map_or(0, |task| task.args.len());
                    let worker = &mut self.workers[i];
                    worker.running_bytes = worker.running_bytes.saturating_sub(bytes);
                    self.finished.insert(done.id, done.result.map_err(PoolError::from));
                }
                Err(_) => {
                    // End of file: the worker died.
                    return self.finish_dead(i);
                }
            }
            let worker = &self.workers[i];
            if worker.running.is_empty() || !worker.conn.poll(Duration::ZERO)? {
                return Ok(());
            }
        }
    }

    /// Reaps dead worker `i`, settles the tasks it had been sent, and starts its
    /// replacement.
    fn finish_dead(&mut self, i: usize) -> io::Result<()> {
        let lost = std::mem::take(&mut self.workers[i].running);
        let code = self.workers[i].process.join().unwrap_or(i32::MIN);
        // The tasks are settled before the replacement starts: if it cannot, none is
        // left waiting on a worker that is not there.
        let outcome = self.replace(i);
        self.fail_and_requeue(lost, code);
        outcome
    }

    /// A dead worker's tasks: the one it was running fails with its exit code; the ones
    /// behind it never started, and go back to the front of the queue.
    fn fail_and_requeue(&mut self, mut lost: VecDeque<u64>, code: i32) {
        if let Some(id) = lost.pop_front() {
            self.sent.remove(&id);
            self.finished.insert(id, Err(PoolError::WorkerDied(code)));
        }
        for id in lost.into_iter().rev() {
            if let Some(task) = self.sent.remove(&id) {
                self.queued.push_front(task);
            }
        }
    }

    /// Runs the callbacks whose tasks have all finished, or the error callback of a
    /// group one of whose tasks failed.
    fn run_callbacks(&mut self) {
        let finished = &self.finished;
        let (due, waiting): (Vec<Watch>, Vec<Watch>) =
            std::mem::take(&mut self.watches).into_iter().partition(|w| {
                w.ids.iter().all(|id| finished.contains_key(id))
                    || w.ids.iter().any(|id| matches!(finished.get(id), Some(Err(_))))
            });
        self.watches = waiting;
        for watch in due {
            let outcomes: Vec<&Outcome> =
                watch.ids.iter().filter_map(|id| finished.get(id)).collect();
            match outcomes.iter().find_map(|o| o.as_ref().err()) {
                Some(error) => {
                    if let Some(on_error) = watch.on_error {
                        on_error(error);
                    }
                }
                None => {
                    let chunks: Vec<&[u8]> = outcomes
                        .iter()
                        .filter_map(|o| o.as_ref().ok())
                        .map(Vec::as_slice)
                        .collect();
                    (watch.on_result)(&chunks);
                }
            }
        }
    }
}

impl Worker {
    /// Starts worker number `number` with `method`. `others` are the pool's other
    /// workers: a forked worker closes its copies of their ends of their connections
    /// (one holding a copy of another's end would keep that one from ever seeing
    /// end-of-file); a spawned one never had them.
    fn start(others: &[Worker], number: usize, method: StartMethod) -> io::Result<Worker> {
        let (conn, worker_end) = connection::pipe()?;
        let inherited: Vec<RawFd> = match method {
            StartMethod::Fork => others
                .iter()
                .map(|w| w.conn.as_fd().as_raw_fd())
                .chain([conn.as_fd().as_raw_fd()])
                .collect(),
            _ => Vec::new(),
        };
        let name = match method {
            StartMethod::Fork => "ForkPoolWorker",
            StartMethod::Spawn => "SpawnPoolWorker",
            StartMethod::Forkserver => "ForkServerPoolWorker",
        };
        let mut process = Process::call(worker_main, inherited)
            .pass_fd(worker_end.into())
            .with_start_method(method)
            .with_name(format!("{name}-{number}")); // CPython's names for them
        process.start()?;
        let sndbuf = rustix::net::sockopt::socket_send_buffer_size(&conn).unwrap_or(0);
        let window = (sndbuf / 4).min(64 << 10);
        Ok(Worker { process, conn, running: VecDeque::new(), running_bytes: 0, window })
    }

    /// Whether a task of `bytes` may be sent now: always to an idle worker (it is
    /// reading), else within the limits of [`IN_FLIGHT`].
    fn has_room(&self, bytes: usize) -> bool {
        self.running.is_empty()
            || (self.running.len() < IN_FLIGHT
                && self.running_bytes + bytes + ENVELOPE <= self.window)
    }
}

/// A worker process: close what a forked worker inherited from the pool, take the
/// connection the pool passed, and serve.
fn worker_main(inherited: Vec<RawFd>) {
    for fd in inherited {
        // SAFETY: these are the parent's ends, which this forked child inherited with
        // the parent's memory; the objects that own them are the parent's and are never
        // used or dropped here (the child leaves with `_exit`).
        unsafe { nix::libc::close(fd) };
    }
    if let Some(fd) = passed_fds().pop() {
        serve(Connection::from(fd));
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
        let message = panic_message(info.payload()).unwrap_or("");
        if !IN_TASK.get() || message.starts_with("failed ") {
            report(info);
        }
    }));
    while let Ok(Order::Run(task)) = conn.recv::<Order<Task>>() {
        // SAFETY: `trampoline` is the code offset of a `run_chunk::<A, R>` instance,
        // taken in the parent, which runs the same executable as this worker (a fork of
        // it, or the same file run again).
        let trampoline: Trampoline = unsafe { std::mem::transmute(code_address(task.trampoline)) };
        // SAFETY: as above, the offset of the user's function, taken with it.
        let func = unsafe { code_address(task.func) };
        IN_TASK.set(true);
        let result = trampoline(func, &task.args);
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
    run_each(args, f)
}

/// `run_chunk` for `starmap`: the items are pairs, and `f` takes two arguments.
fn run_pair_chunk<A: DeserializeOwned, B: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
) -> Result<Vec<u8>, Failed> {
    // SAFETY: as in `run_chunk`: the address of an `fn(A, B) -> R` taken in the parent
    // together with this instance of `run_pair_chunk::<A, B, R>`.
    let f: fn(A, B) -> R = unsafe { std::mem::transmute(func) };
    run_each(args, |(a, b)| f(a, b))
}

/// Decodes the items, calls `f` on each (a panic is the chunk's failure), encodes the
/// results.
fn run_each<T: DeserializeOwned, R: Serialize>(
    args: &[u8],
    f: impl Fn(T) -> R,
) -> Result<Vec<u8>, Failed> {
    let args: Vec<T> = postcard::from_bytes(args).map_err(|e| Failed::Panicked(e.to_string()))?;
    let results =
        panic::catch_unwind(AssertUnwindSafe(|| args.into_iter().map(&f).collect::<Vec<R>>()))
            .map_err(|panic| {
                Failed::Panicked(panic_message(&*panic).unwrap_or("a panic").into())
            })?;
    postcard::to_stdvec(&results).map_err(|e| Failed::Panicked(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PoolError> {
    postcard::from_bytes(bytes)
        .map_err(|e| PoolError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// The one result of a one-task chunk (`apply_async`).
fn first_of<R: DeserializeOwned>(chunks: &[&[u8]]) -> Result<R, PoolError> {
    let chunk = chunks.first().ok_or_else(|| io::Error::other("no chunk"))?;
    decode::<Vec<R>>(chunk)?.into_iter().next().ok_or_else(|| io::Error::other("empty").into())
}

/// Every chunk's results, in order (`map_async`, `starmap_async`).
fn concatenated<R: DeserializeOwned>(chunks: &[&[u8]]) -> Result<Vec<R>, PoolError> {
    let mut all = Vec::new();
    for chunk in chunks {
        all.extend(decode::<Vec<R>>(chunk)?);
    }
    Ok(all)
}

/// The future result of `apply_async`, `map_async` or `starmap_async` (CPython:
/// `AsyncResult`, `MapResult`).
///
/// Callbacks (CPython: `callback=`, `error_callback=`) run in this process when the
/// result arrives, which here is during a later pool call (`get`, `ready`, `join`, …):
/// the pool has no thread of its own. CPython runs them on its result-handler thread.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use examples_pool::Pool;
///
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool = Pool::new(2)?;
/// let seen = Rc::new(Cell::new(0));
/// let result = pool.map_async(square, 1..4)?.callback({
///     let seen = Rc::clone(&seen);
///     move |squares: &Vec<u64>| seen.set(squares.iter().sum())
/// });
/// assert_eq!(result.get()?, [1, 4, 9]);
/// assert_eq!(seen.get(), 14); // the callback ran when the results came in
/// # Ok::<(), examples_pool::PoolError>(())
/// ```
pub struct AsyncResult<'pool, T> {
    pool: &'pool Pool,
    ids: Vec<u64>,
    assemble: fn(&[&[u8]]) -> Result<T, PoolError>,
}

impl<'pool, T> AsyncResult<'pool, T> {
    fn new(
        pool: &'pool Pool,
        ids: Vec<u64>,
        assemble: fn(&[&[u8]]) -> Result<T, PoolError>,
    ) -> Self {
        AsyncResult { pool, ids, assemble }
    }

    /// Waits for the result.
    pub fn get(self) -> Result<T, PoolError> {
        let chunks = self.pool.wait_all(&self.ids, None)?;
        (self.assemble)(&chunks.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// Waits at most `timeout`. On `Err(Timeout)` the tasks go on, and this result
    /// can be asked again; an `Ok` hands the result over, so ask only once after it.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PoolError> {
        let chunks = self.pool.wait_all(&self.ids, Instant::now().checked_add(timeout))?;
        (self.assemble)(&chunks.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// Whether every task has finished (it does not wait).
    pub fn ready(&self) -> Result<bool, PoolError> {
        let mut inner = self.pool.inner.borrow_mut();
        let done = |inner: &Inner| self.ids.iter().all(|id| inner.finished.contains_key(id));
        if !done(&inner) && inner.workers.iter().any(|w| !w.running.is_empty()) {
            inner.step(Some(Instant::now()))?;
        }
        Ok(done(&inner))
    }
}

impl<T: 'static> AsyncResult<'_, T> {
    /// Calls `callback` with the result once it has arrived (CPython: `callback=`).
    pub fn callback(self, callback: impl FnOnce(&T) + 'static) -> Self {
        let assemble = self.assemble;
        self.watch(
            Box::new(move |chunks: &[&[u8]]| {
                if let Ok(result) = assemble(chunks) {
                    callback(&result);
                }
            }),
            None,
        )
    }

    /// Calls `error_callback` with the error if a task fails (CPython:
    /// `error_callback=`).
    pub fn error_callback(self, error_callback: impl FnOnce(&PoolError) + 'static) -> Self {
        self.watch(Box::new(|_: &[&[u8]]| {}), Some(Box::new(error_callback)))
    }

    fn watch(self, on_result: OnResult, on_error: Option<OnError>) -> Self {
        self.pool.inner.borrow_mut().watches.push(Watch {
            ids: self.ids.clone(),
            on_result,
            on_error,
        });
        self
    }
}

/// What a callback gets: the chunks' encoded results.
type OnResult = Box<dyn FnOnce(&[&[u8]])>;
type OnError = Box<dyn FnOnce(&PoolError)>;

/// Callbacks waiting for a group of tasks.
struct Watch {
    ids: Vec<u64>,
    on_result: OnResult,
    on_error: Option<OnError>,
}

/// Results of `imap` / `imap_unordered` as they come: each item is a result or the
/// error of the task that should have given it.
pub struct Imap<'pool, R> {
    pool: &'pool Pool,
    ids: VecDeque<u64>,
    ready: VecDeque<R>,
    ordered: bool,
}

impl<R: DeserializeOwned> Iterator for Imap<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.ready.is_empty() {
            let bytes = if self.ordered {
                let id = self.ids.pop_front()?;
                self.pool.wait_all(&[id], None).map(|mut chunks| chunks.remove(0))
            } else {
                if self.ids.is_empty() {
                    return None;
                }
                let ids: Vec<u64> = self.ids.iter().copied().collect();
                self.pool.wait_any(&ids).map(|(id, bytes)| {
                    self.ids.retain(|&i| i != id);
                    bytes
                })
            };
            match bytes.and_then(|b| decode::<Vec<R>>(&b)) {
                Ok(results) => self.ready.extend(results),
                Err(e) => return Some(Err(e)),
            }
        }
        self.ready.pop_front().map(Ok)
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
        while !inner.queued.is_empty() || inner.workers.iter().any(|w| !w.running.is_empty()) {
            inner.step(None)?;
        }
        for worker in std::mem::take(&mut inner.workers) {
            let _ = worker.conn.send(&Order::<&Task>::Stop);
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
