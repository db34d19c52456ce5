//! Results that come later: [`AsyncResult`] (with its callbacks) and [`Imap`].

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use examples_process::panic_message;
use serde::de::DeserializeOwned;

use super::scheduler::{ById, Outcome};
use super::{Pool, PoolError, decode};

/// The future result of `apply_async`, `map_async` or `starmap_async` (CPython:
/// `AsyncResult`, `MapResult`). Dropping it before `get` says nobody will ask: the pool
/// drops its result when it comes (after the callbacks), instead of keeping it.
///
/// Callbacks (CPython: `callback=`, `error_callback=`) run in this process when the
/// result arrives, which here is during a later pool call (`get`, `ready`, `join`, …):
/// the pool has no thread of its own. CPython runs them on its result-handler thread.
/// A callback may use the pool (submit more work, wait for another result).
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
    /// The result has been handed over (by `get` or a successful `get_timeout`).
    handed: Cell<bool>,
}

impl<'pool, T> AsyncResult<'pool, T> {
    pub(crate) fn new(
        pool: &'pool Pool,
        ids: Vec<u64>,
        assemble: fn(&[&[u8]]) -> Result<T, PoolError>,
    ) -> Self {
        AsyncResult { pool, ids, assemble, handed: Cell::new(false) }
    }

    /// Waits for the result.
    pub fn get(self) -> Result<T, PoolError> {
        self.wait(None)
    }

    /// Waits at most `timeout`. On `Err(Timeout)` the tasks go on, and this result
    /// can be asked again; an `Ok` hands the result over, so ask only once after it.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PoolError> {
        self.wait(Instant::now().checked_add(timeout))
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<T, PoolError> {
        let chunks = self.pool.wait_all(&self.ids, deadline);
        if !matches!(chunks, Err(PoolError::Timeout)) {
            self.handed.set(true);
        }
        (self.assemble)(&chunks?.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// Whether every task has finished (it does not wait).
    pub fn ready(&self) -> Result<bool, PoolError> {
        self.pool.drive(|inner| {
            if !inner.all_done(&self.ids) && inner.busy() {
                inner.step(Some(Instant::now()))?;
            }
            Ok(inner.all_done(&self.ids))
        })
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
        let watch = Watch { ids: self.ids.clone(), on_result, on_error };
        self.pool.drive(|inner| inner.watches.push(watch));
        self
    }
}

impl<T> Drop for AsyncResult<'_, T> {
    fn drop(&mut self) {
        if !self.handed.get() {
            self.pool.abandon(&self.ids);
        }
    }
}

/// What a callback gets: the chunks' encoded results.
type OnResult = Box<dyn FnOnce(&[&[u8]])>;
type OnError = Box<dyn FnOnce(&PoolError)>;

/// Callbacks waiting for a group of tasks.
pub(crate) struct Watch {
    pub(crate) ids: Vec<u64>,
    on_result: OnResult,
    on_error: Option<OnError>,
}

/// Runs the callbacks that are due, with their tasks' outcomes: the result callback if
/// every task gave one, else the error callback with the first error.
pub(crate) fn run_watches(due: Vec<Watch>, outcomes: &ById<Outcome>) {
    for watch in due {
        let found: Vec<&Outcome> = watch.ids.iter().filter_map(|id| outcomes.get(id)).collect();
        match found.iter().find_map(|o| o.as_ref().err()) {
            Some(error) => {
                if let Some(on_error) = watch.on_error {
                    on_error(error);
                }
            }
            None => {
                let chunks: Vec<&[u8]> =
                    found.iter().filter_map(|o| o.as_ref().ok()).map(Vec::as_slice).collect();
                (watch.on_result)(&chunks);
            }
        }
    }
}

/// The next chunk of `imap`'s input, encoded; `None` at its end.
pub(crate) type NextChunk<'pool> = Box<dyn FnMut() -> Option<Result<Vec<u8>, PoolError>> + 'pool>;

/// Results of `imap` / `imap_unordered` as they come: each item is a result or the
/// error of the task that should have given it. The input is read as the results are
/// taken (a few chunks ahead of them), as CPython's task handler reads it: an input
/// that fails at item k (a panic, an item that cannot be serialised) gives the results
/// before it first, then that error, and ends.
pub struct Imap<'pool, R> {
    pool: &'pool Pool,
    entry: isize,
    next_chunk: NextChunk<'pool>,
    /// Chunks submitted and not yet yielded, in input order.
    ids: VecDeque<u64>,
    ready: VecDeque<R>,
    ordered: bool,
    /// No more input to read (its end, or its failure).
    exhausted: bool,
}

impl<'pool, R> Imap<'pool, R> {
    pub(crate) fn new(
        pool: &'pool Pool,
        entry: isize,
        next_chunk: NextChunk<'pool>,
        ordered: bool,
    ) -> Self {
        Imap {
            pool,
            entry,
            next_chunk,
            ids: VecDeque::new(),
            ready: VecDeque::new(),
            ordered,
            exhausted: false,
        }
    }

    /// Submits chunks of input until two per worker are under way or the input ends.
    fn read_ahead(&mut self) {
        let ahead = 2 * self.pool.processes();
        while !self.exhausted && self.ids.len() < ahead {
            let chunk = panic::catch_unwind(AssertUnwindSafe(|| (self.next_chunk)()));
            let id = match chunk {
                Ok(None) => {
                    self.exhausted = true;
                    break;
                }
                Ok(Some(Ok(args))) => self.pool.submit_bytes(self.entry, args),
                Ok(Some(Err(e))) => self.pool.submit_failed(e), // this chunk's error
                Err(panic) => {
                    self.exhausted = true; // as CPython stops at the iterable's exception
                    let message = panic_message(&*panic).unwrap_or("a panic").to_string();
                    self.pool.submit_failed(PoolError::Input(message))
                }
            };
            self.ids.push_back(id);
        }
    }
}

impl<R: DeserializeOwned> Iterator for Imap<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.ready.is_empty() {
            self.read_ahead();
            let bytes = if self.ordered {
                let id = self.ids.pop_front()?;
                self.pool.wait_all(&[id], None).map(|mut chunks| chunks.remove(0))
            } else {
                if self.ids.is_empty() {
                    return None;
                }
                let ids: Vec<u64> = self.ids.iter().copied().collect();
                let (id, outcome) = self.pool.wait_any(&ids);
                self.ids.retain(|&i| i != id);
                outcome
            };
            match bytes.and_then(|b| decode::<Vec<R>>(&b)) {
                Ok(results) => self.ready.extend(results),
                Err(e) => return Some(Err(e)),
            }
        }
        self.ready.pop_front().map(Ok)
    }
}

impl<R> Drop for Imap<'_, R> {
    /// The results not taken are dropped when they come.
    fn drop(&mut self) {
        let ids: Vec<u64> = self.ids.drain(..).collect();
        self.pool.abandon(&ids);
    }
}
