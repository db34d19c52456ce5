//! The log a timeline records into: fixed-size entries in shared memory, claimed with
//! one atomic increment, so any thread of any forked process can record without a
//! lock.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::Record;
use crate::process_shared;

/// How many spans and marks one timeline holds; later ones are counted, not kept.
pub const CAPACITY: usize = 4096;
/// Bytes kept of a label (longer ones are cut at a character boundary).
pub(super) const LABEL: usize = 48;
const ROW: usize = 40;

const EMPTY: u32 = 0;
const OPEN: u32 = 1;
const CLOSED: u32 = 2;
const MARK: u32 = 3;

process_shared! {
    /// One span or mark. `state` is written last (Release) and read first (Acquire).
    pub(super) struct Entry {
        state: AtomicU32,
        pid: AtomicI32,
        tid: AtomicI32,
        start: AtomicU64,
        end: AtomicU64,
        label: [AtomicU8; LABEL],
        row: [AtomicU8; ROW],
    }
}

process_shared! {
    /// The shared log: when it began, the next free entry, and the entries. All zero
    /// is an empty log.
    pub(super) struct Log {
        origin: AtomicU64,
        next: AtomicU32,
        entries: [Entry; CAPACITY],
    }
}

impl Log {
    /// Starts the log's clock now.
    pub(super) fn start(&self) {
        self.origin.store(now_ns(), Ordering::Relaxed);
    }

    /// Nanoseconds since the log began.
    pub(super) fn now(&self) -> u64 {
        now_ns().saturating_sub(self.origin.load(Ordering::Relaxed))
    }

    /// Opens a span on this thread's row; `None` if the log is full.
    pub(super) fn open(&self, label: &str) -> Option<&Entry> {
        self.claim(label, self.now())
    }

    /// Records an instant on this thread's row.
    pub(super) fn mark(&self, label: &str) {
        let at = self.now();
        if let Some(entry) = self.claim(label, at) {
            entry.end.store(at, Ordering::Relaxed);
            entry.state.store(MARK, Ordering::Release);
        }
    }

    /// Ends a span opened by [`open`](Log::open).
    pub(super) fn close(&self, entry: &Entry) {
        entry.end.store(self.now(), Ordering::Relaxed);
        entry.state.store(CLOSED, Ordering::Release);
    }

    /// Every entry claimed and filled in so far, in the order claimed.
    pub(super) fn records(&self) -> Vec<Record> {
        let claimed = (self.next.load(Ordering::Acquire) as usize).min(CAPACITY);
        self.entries[..claimed]
            .iter()
            .filter_map(|e| {
                let state = e.state.load(Ordering::Acquire);
                (state != EMPTY).then(|| Record {
                    row: text(&e.row),
                    pid: e.pid.load(Ordering::Relaxed),
                    tid: e.tid.load(Ordering::Relaxed),
                    label: text(&e.label),
                    start: Duration::from_nanos(e.start.load(Ordering::Relaxed)),
                    end: (state == CLOSED)
                        .then(|| Duration::from_nanos(e.end.load(Ordering::Relaxed))),
                    mark: state == MARK,
                })
            })
            .collect()
    }

    /// How many entries did not fit.
    pub(super) fn dropped(&self) -> usize {
        (self.next.load(Ordering::Relaxed) as usize).saturating_sub(CAPACITY)
    }

    /// Claims the next entry and fills it in as an open span starting at `start`.
    fn claim(&self, label: &str, start: u64) -> Option<&Entry> {
        let entry = self.entries.get(self.next.fetch_add(1, Ordering::Relaxed) as usize)?;
        THIS_ROW.with_borrow_mut(|row| {
            let pid = crate::current_pid(); // cached: no system call
            let (tid, name) = match row {
                Some((p, tid, name)) if *p == pid => (*tid, name),
                _ => {
                    // First use on this thread, or in a child forked since.
                    let tid = rustix::thread::gettid().as_raw_nonzero().get();
                    let (_, tid, name) = row.insert((pid, tid, row_name(pid, tid)));
                    (*tid, name)
                }
            };
            entry.pid.store(pid, Ordering::Relaxed);
            entry.tid.store(tid, Ordering::Relaxed);
            put(&entry.row, name);
        });
        entry.start.store(start, Ordering::Relaxed);
        put(&entry.label, label);
        entry.state.store(OPEN, Ordering::Release);
        Some(entry)
    }
}

thread_local! {
    /// This thread's pid, thread id and row name, found on first use; a forked child
    /// (whose pid differs) finds its own.
    static THIS_ROW: RefCell<Option<(i32, i32, String)>> = const { RefCell::new(None) };
}

/// A row's name: the process's name for its main thread, else the thread's name.
fn row_name(pid: i32, tid: i32) -> String {
    let process = crate::current_process().name;
    if pid == tid {
        return process;
    }
    let thread = std::thread::current();
    let thread = thread.name().map_or_else(|| format!("thread {tid}"), str::to_owned);
    if process == "MainProcess" { thread } else { format!("{process}: {thread}") }
}

fn put(field: &[AtomicU8], text: &str) {
    let mut end = text.len().min(field.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (slot, &byte) in field.iter().zip(text.as_bytes()[..end].iter().chain(&[0])) {
        slot.store(byte, Ordering::Relaxed);
    }
}

fn text(field: &[AtomicU8]) -> String {
    let bytes: Vec<u8> =
        field.iter().map(|b| b.load(Ordering::Relaxed)).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn now_ns() -> u64 {
    // CLOCK_MONOTONIC is one clock for every process on the machine (it cannot fail
    // on Linux; 0 would only misplace a span).
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        (t.tv_sec() as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec() as u64)
    })
}
