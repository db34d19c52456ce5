//! [`Pool`]: the API. The parts: [`wire`] (what travels), [`worker`] (the worker
//! process), [`scheduler`] (the parent's state), [`result`] (results that come later).

mod result;
mod scheduler;
mod wire;
mod worker;

pub use result::{AsyncResult, Imap};
pub use worker::IN_FLIGHT;

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::time::Instant;

use examples_ipc::connection;
use examples_process::StartMethod;
use serde::Serialize;
use serde::de::DeserializeOwned;

use result::{NextChunk, run_watches};
use scheduler::{Inner, Outcome};
use wire::{Chunk, ENVELOPE, Order, PairChunk, Task};
use worker::Worker;

/// Why a pool call did not give a result.
#[derive(Debug)]
pub enum PoolError {
    /// `get_timeout` waited its time; the task goes on (CPython: `TimeoutError`).
    Timeout,
    /// The task panicked; the message is the panic's.
    Panicked(String),
    /// The worker running the task died, with this exit code (`-9`: SIGKILL).
    WorkerDied(i32),
    /// The worker running the task sent something that is no answer to it (a wrong
    /// task id, bytes that decode to nothing, a length too large): it was killed, as a
    /// worker that cannot be trusted, and replaced. The text says what it sent.
    BadWorker(String),
    /// `imap`'s input failed at this point (it panicked, with this message); the
    /// results before it came first.
    Input(String),
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
            PoolError::BadWorker(what) => {
                write!(f, "the worker sent no answer to its task ({what}); it was killed")
            }
            PoolError::Input(message) => write!(f, "the input failed: {message}"),
            PoolError::TooLarge(bytes) => write!(
                f,
                "{bytes} bytes to send, more than a message may hold ({} bytes)",
                connection::MAX_MESSAGE
            ),
            PoolError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Io(e) => Some(e),
            _ => None,
        }
    }
}

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

/// A pool of worker processes. Dropping it terminates the workers (CPython: leaving
/// `with Pool(...)`, or garbage collection, calls `terminate()`).
///
/// The functions it runs are named functions (`pool.map(square, ..)`) or closures that
/// capture nothing: a worker finds them by a record the compiler makes in this
/// executable, never by an address sent to it. A function pointer in a variable does not
/// compile:
///
/// ```compile_fail,E0080
/// fn square(x: u64) -> u64 { x * x }
/// let pool = examples_pool::Pool::new(1)?;
/// let f: fn(u64) -> u64 = square;
/// pool.apply(f, 3)?;
/// # Ok::<(), examples_pool::PoolError>(())
/// ```
pub struct Pool {
    inner: RefCell<Inner>,
}

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
        Ok(Pool { inner: RefCell::new(Inner::new(workers, method)) })
    }

    /// Runs `f(args)` in a worker and waits for it (CPython: `apply`).
    pub fn apply<A, R, F>(&self, f: F, args: A) -> Result<R, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A) -> R + Copy + 'static,
    {
        self.apply_async(f, args)?.get()
    }

    /// Queues `f(args)` and returns at once (CPython: `apply_async`).
    pub fn apply_async<A, R, F>(&self, _f: F, args: A) -> Result<AsyncResult<'_, R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A) -> R + Copy + 'static,
    {
        let args = encode(&[args])?;
        let id = self.drive(|inner| {
            let id = inner.submit(Chunk::<A, R, F>::entry(), args);
            inner.dispatch().map(|()| id)
        })?;
        Ok(AsyncResult::new(self, vec![id], first_of::<R>))
    }

    /// `f` over every item, results in input order (CPython: `map`). Items go to the
    /// workers in chunks of CPython's default size, about a quarter of an even share.
    pub fn map<A, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A) -> R + Copy + 'static,
    {
        self.map_async(f, items)?.get()
    }

    /// `map` with a chosen chunk size (CPython: `map(f, items, chunksize)`).
    pub fn map_chunked<A, R, F>(
        &self,
        _f: F,
        items: Vec<A>,
        chunk: usize,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A) -> R + Copy + 'static,
    {
        let ids = self.submit_chunks(Chunk::<A, R, F>::entry(), &items, Some(chunk))?;
        AsyncResult::new(self, ids, concatenated::<R>).get()
    }

    /// `map` that returns at once (CPython: `map_async`); `get` gives the results in
    /// input order.
    pub fn map_async<A, R, F>(
        &self,
        _f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<'_, Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A) -> R + Copy + 'static,
    {
        let items: Vec<A> = items.into_iter().collect();
        let ids = self.submit_chunks(Chunk::<A, R, F>::entry(), &items, None)?;
        Ok(AsyncResult::new(self, ids, concatenated::<R>))
    }

    /// `f(a, b)` for every pair, results in input order (CPython: `starmap`, whose
    /// items are argument tuples). For three arguments or more, take a tuple in `map`.
    ///
    /// ```
    /// fn add(a: i64, b: i64) -> i64 { a + b }
    ///
    /// let pool = examples_pool::Pool::new(2)?;
    /// assert_eq!(pool.starmap(add, [(1, 2), (3, 4)])?, [3, 7]); // starmap(add, [(1, 2), (3, 4)])
    /// # Ok::<(), examples_pool::PoolError>(())
    /// ```
    pub fn starmap<A, B, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A, B) -> R + Copy + 'static,
    {
        self.starmap_async(f, items)?.get()
    }

    /// `starmap` that returns at once (CPython: `starmap_async`).
    pub fn starmap_async<A, B, R, F>(
        &self,
        _f: F,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<AsyncResult<'_, Vec<R>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A, B) -> R + Copy + 'static,
    {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let ids = self.submit_chunks(PairChunk::<A, B, R, F>::entry(), &items, None)?;
        Ok(AsyncResult::new(self, ids, concatenated::<R>))
    }

    /// `f` over every item, yielding each result as soon as it and the ones before it
    /// are done, in input order (CPython: `imap`). Tasks go one item per chunk unless
    /// `chunk` says otherwise (CPython's `chunksize`, 1 by default here too). The input
    /// is read as results are taken; see [`Imap`].
    pub fn imap<'p, A, R, F, I>(
        &'p self,
        _f: F,
        items: I,
        chunk: usize,
    ) -> Result<Imap<'p, R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A) -> R + Copy + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        let next_chunk = chunks_of(items.into_iter(), chunk.max(1));
        Ok(Imap::new(self, Chunk::<A, R, F>::entry(), next_chunk, true))
    }

    /// Like [`imap`](Pool::imap), but yielding results as they complete, in any order
    /// (CPython: `imap_unordered`).
    ///
    /// ```
    /// fn nap_ms(ms: u64) -> u64 {
    ///     std::thread::sleep(std::time::Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// let pool = examples_pool::Pool::new(2)?;
    /// let done: Vec<u64> = pool.imap_unordered(nap_ms, [300, 10], 1)?.collect::<Result<_, _>>()?;
    /// assert_eq!(done, [10, 300]); // the quicker task's result first
    /// # Ok::<(), examples_pool::PoolError>(())
    /// ```
    pub fn imap_unordered<'p, A, R, F, I>(
        &'p self,
        _f: F,
        items: I,
        chunk: usize,
    ) -> Result<Imap<'p, R>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        F: Fn(A) -> R + Copy + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        let next_chunk = chunks_of(items.into_iter(), chunk.max(1));
        Ok(Imap::new(self, Chunk::<A, R, F>::entry(), next_chunk, false))
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

    /// How many workers the pool has.
    fn processes(&self) -> usize {
        self.inner.borrow().workers.len()
    }

    /// Runs `f` on the pool's state, then the callbacks that became due, outside it (a
    /// callback may use the pool), then keeps the results they saw that are still wanted.
    fn drive<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let (out, (due, outcomes)) = {
            let mut inner = self.inner.borrow_mut();
            let out = f(&mut inner);
            (out, inner.take_due())
        };
        if !due.is_empty() {
            run_watches(due, &outcomes);
        }
        if !outcomes.is_empty() {
            self.inner.borrow_mut().put_back(outcomes);
        }
        out
    }

    /// Queues one encoded chunk for the function named `entry` and hands out what it can.
    fn submit_bytes(&self, entry: isize, args: Vec<u8>) -> u64 {
        self.drive(|inner| {
            let id = inner.submit(entry, args);
            if let Err(e) = inner.dispatch() {
                inner.finished.insert(id, Err(e.into()));
            }
            id
        })
    }

    /// A task id whose outcome is `error` already (an input that failed at this point).
    fn submit_failed(&self, error: PoolError) -> u64 {
        self.drive(|inner| inner.submit_failed(error))
    }

    /// Queues `items` in chunks of `chunk` (CPython's default, about a quarter of an
    /// even share per worker, when `None`) and hands out what it can. Every chunk is
    /// encoded first: if one cannot be, nothing is queued.
    fn submit_chunks<A: Serialize>(
        &self,
        entry: isize,
        items: &[A],
        chunk: Option<usize>,
    ) -> Result<Vec<u64>, PoolError> {
        let workers = self.processes();
        let chunk = chunk.unwrap_or_else(|| items.len().div_ceil(4 * workers)).max(1);
        let encoded = items.chunks(chunk).map(encode).collect::<Result<Vec<_>, _>>()?;
        self.drive(|inner| {
            let ids = inner.submit_call(entry, encoded);
            inner.dispatch().map(|()| ids)
        })
        .map_err(PoolError::from)
    }

    /// Drives the pool until every task of `ids` is done or the deadline passes, then
    /// hands their outcomes over, in order. On a timeout nothing is handed over.
    fn wait_all(&self, ids: &[u64], deadline: Option<Instant>) -> Result<Vec<Vec<u8>>, PoolError> {
        // `ids[..seen]` have finished: each step looks only at the ones after (a map of
        // n tasks would otherwise look at O(n²) ids); all of them are checked at the end.
        let mut seen = 0;
        loop {
            let step = self.drive(|inner| -> Result<Option<Vec<Outcome>>, PoolError> {
                seen += ids[seen..].iter().take_while(|id| inner.finished.contains_key(id)).count();
                if seen == ids.len() && inner.all_done(ids) {
                    return Ok(Some(
                        ids.iter().filter_map(|id| inner.finished.remove(id)).collect(),
                    ));
                }
                if seen == ids.len() {
                    seen = 0; // a callback holds some of them: look again from the start
                }
                if !inner.step(deadline)? {
                    return Err(PoolError::Timeout);
                }
                Ok(None)
            })?;
            if let Some(outcomes) = step {
                return outcomes.into_iter().collect();
            }
        }
    }

    /// Drives the pool until one of `ids` is done and hands it over.
    fn wait_any(&self, ids: &[u64]) -> (u64, Outcome) {
        loop {
            let step = self.drive(|inner| -> Result<Option<(u64, Outcome)>, PoolError> {
                if let Some(&id) = ids.iter().find(|id| inner.finished.contains_key(id)) {
                    return Ok(inner.finished.remove(&id).map(|outcome| (id, outcome)));
                }
                inner.step(None)?;
                Ok(None)
            });
            match step {
                Ok(Some(done)) => return done,
                Ok(None) => {}
                // The pool itself failed: the first task waited for carries the error.
                Err(e) => return (ids[0], Err(e)),
            }
        }
    }

    /// Nobody will ask for these tasks' results.
    fn abandon(&self, ids: &[u64]) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            inner.abandon(ids);
        }
    }
}

/// `imap`'s input, read a chunk at a time and encoded.
fn chunks_of<'p, A: Serialize>(
    mut items: impl Iterator<Item = A> + 'p,
    chunk: usize,
) -> NextChunk<'p> {
    Box::new(move || {
        let items: Vec<A> = items.by_ref().take(chunk).collect();
        (!items.is_empty()).then(|| encode(&items))
    })
}

/// A chunk of items, serialised, within the size one message may carry.
fn encode<A: Serialize>(items: &[A]) -> Result<Vec<u8>, PoolError> {
    let args = postcard::to_stdvec(items).map_err(io::Error::other)?;
    if args.len() > connection::MAX_MESSAGE - ENVELOPE {
        return Err(PoolError::TooLarge(args.len()));
    }
    Ok(args)
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

/// A pool that takes no more tasks; `join` waits for the queued ones.
pub struct ClosedPool {
    pool: Pool,
}

impl ClosedPool {
    /// Runs every queued task to completion, then lets the workers exit and reaps them
    /// (CPython: `join()` after `close()`). Results nobody asked for are dropped.
    pub fn join(self) -> Result<(), PoolError> {
        loop {
            let more = self.pool.drive(|inner| -> io::Result<bool> {
                if inner.queued.is_empty() && !inner.busy() {
                    return Ok(false);
                }
                inner.step(None).map(|_| true)
            })?;
            if !more {
                break;
            }
        }
        let workers = std::mem::take(&mut self.pool.inner.borrow_mut().workers);
        for worker in workers {
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
