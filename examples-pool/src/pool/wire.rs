//! What the pool and its workers say to each other over a worker's connection, and the
//! functions that run a task in a worker.
//!
//! A task names what to run by a [`Named`] record: the compiler makes one for each
//! function the pool is given (`run_chunk::<A, R, F>`, for a zero-sized function `F`),
//! and the worker follows the record only if it is a genuine one of this executable
//! (see `examples_process::named`). The worker's answer carries the task's id, which
//! the pool checks against the task it sent.

use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};

use examples_process::named::{self, Named};
use examples_process::panic_message;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// A task as it travels: its id, the record of the function that runs it, the call it
/// is a chunk of, and its serialised items (a `Vec<A>`).
#[derive(Serialize, Deserialize)]
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) entry: isize,
    /// For a chunk of a `map` (or `starmap`, `map_async`…), whose results are wanted
    /// all together, the id of the call's first chunk: a worker may keep the result of
    /// one chunk until it has run the next chunk of the same call (see `worker::serve`).
    /// `None` for a task whose result is wanted alone (`apply_async`, `imap`).
    pub(crate) job: Option<u64>,
    #[serde(with = "serde_bytes")]
    pub(crate) args: Vec<u8>,
}

/// What the parent tells a worker: it sends `Order<&Task>`, the worker reads
/// `Order<Task>` (the same bytes).
#[derive(Serialize, Deserialize)]
pub(crate) enum Order<T> {
    Run(T),
    /// Exit. A message, not end-of-file: workers forked later hold copies of the
    /// parent's end of this connection, so closing it would not be seen.
    Stop,
}

/// A worker's answer to one task.
#[derive(Serialize, Deserialize)]
pub(crate) struct Done {
    pub(crate) id: u64,
    /// A serialised `Vec<R>`, or why there is none.
    pub(crate) result: Outcome,
}

/// What running a task gives (bytes that travel as one block, not byte by byte).
pub(crate) type Outcome = Result<ByteBuf, Failed>;

/// Why a task gave no result, as the worker reports it.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Failed {
    /// The task panicked, with this message.
    Panicked(String),
    /// The result, serialised, is this many bytes: too large to send back.
    TooLarge(usize),
    /// The task's record is not a function of this program.
    Unknown,
}

/// Room in a message for a task's or an answer's other fields.
pub(crate) const ENVELOPE: usize = 64;

/// The kind of [`Named`] record a pool task is.
const TASK: u64 = 2;

/// The record of `run_chunk::<A, R, F>`, made by the compiler in read-only data.
pub(crate) struct Chunk<A, R, F>(PhantomData<(A, R, F)>);

impl<A, R, F> Chunk<A, R, F>
where
    A: DeserializeOwned,
    R: Serialize,
    F: Fn(A) -> R + Copy + 'static,
{
    const NAMED: &'static Named<Outcome> = &Named::new(TASK, run_chunk::<A, R, F>);

    /// The name a task gives this function.
    pub(crate) fn entry() -> isize {
        Self::NAMED.offset()
    }
}

/// The record of `run_pair_chunk::<A, B, R, F>`, for `starmap`.
pub(crate) struct PairChunk<A, B, R, F>(PhantomData<(A, B, R, F)>);

impl<A, B, R, F> PairChunk<A, B, R, F>
where
    A: DeserializeOwned,
    B: DeserializeOwned,
    R: Serialize,
    F: Fn(A, B) -> R + Copy + 'static,
{
    const NAMED: &'static Named<Outcome> = &Named::new(TASK, run_pair_chunk::<A, B, R, F>);

    /// The name a task gives this function.
    pub(crate) fn entry() -> isize {
        Self::NAMED.offset()
    }
}

/// In a worker: runs the task named by `entry` on `args`.
pub(crate) fn run(entry: isize, args: &[u8]) -> Outcome {
    match Named::<Outcome>::find(entry, TASK) {
        Some(named) => named.call(args),
        None => Err(Failed::Unknown),
    }
}

fn run_chunk<A: DeserializeOwned, R: Serialize, F: Fn(A) -> R + Copy>(args: &[u8]) -> Outcome {
    // SAFETY: `F` is the type of the function given to the pool, so a value of it
    // existed.
    let f = unsafe { named::conjure::<F>() };
    run_each(args, f)
}

fn run_pair_chunk<A, B, R, F>(args: &[u8]) -> Outcome
where
    A: DeserializeOwned,
    B: DeserializeOwned,
    R: Serialize,
    F: Fn(A, B) -> R + Copy,
{
    // SAFETY: as in `run_chunk`: `F` is the type of the function given to `starmap`.
    let f = unsafe { named::conjure::<F>() };
    run_each(args, |(a, b)| f(a, b))
}

/// Decodes the items, calls `f` on each (a panic is the chunk's failure), encodes the
/// results.
fn run_each<T: DeserializeOwned, R: Serialize>(args: &[u8], f: impl Fn(T) -> R) -> Outcome {
    let args: Vec<T> = postcard::from_bytes(args).map_err(|e| Failed::Panicked(e.to_string()))?;
    let results =
        panic::catch_unwind(AssertUnwindSafe(|| args.into_iter().map(&f).collect::<Vec<R>>()))
            .map_err(|panic| {
                Failed::Panicked(panic_message(&*panic).unwrap_or("a panic").into())
            })?;
    postcard::to_stdvec(&results).map(ByteBuf::from).map_err(|e| Failed::Panicked(e.to_string()))
}
