//! `Event`: a flag in one shared word, slept on with a futex.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use rustix::thread::futex;

use crate::shared::{ProcessShared, SharedMemory};
use crate::wait::futex_wait;

/// CPython's `multiprocessing.Event()` (and `threading.Event()`): a flag that threads
/// and processes can wait for. One word in shared memory, slept on with a futex.
///
/// ```
/// use std::time::Duration;
/// use examples_ipc::sync::Event;
/// use examples_process::Process;
///
/// let started = Event::shared()?;
/// assert!(!started.wait(Some(Duration::from_millis(10)))); // not set: times out
/// let mut child = Process::new({
///     let started = started.clone();
///     move || started.set()
/// });
/// child.start()?;
/// assert!(started.wait(None)); // returns once the child has set it
/// assert!(started.is_set());
/// child.join()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[repr(C)]
#[derive(Default)]
pub struct Event {
    flag: AtomicU32,
}

// SAFETY: an atomic word, woken through a shared (non-private) futex.
unsafe impl ProcessShared for Event {}

impl Event {
    /// A cleared event, for threads of one process (keep it in an `Arc`, or borrow it
    /// in a `thread::scope`).
    pub fn new() -> Event {
        Event::default()
    }

    /// A cleared event in a new anonymous shared mapping, for processes.
    pub fn shared() -> io::Result<SharedMemory<Event>> {
        SharedMemory::new(Event::new())
    }

    /// Sets the flag and wakes every waiter (CPython: `set()`).
    pub fn set(&self) {
        self.flag.store(1, SeqCst);
        let _ = futex::wake(&self.flag, futex::Flags::empty(), u32::MAX);
    }

    /// Clears the flag (CPython: `clear()`).
    pub fn clear(&self) {
        self.flag.store(0, SeqCst);
    }

    /// Whether the flag is set (CPython: `is_set()`).
    pub fn is_set(&self) -> bool {
        self.flag.load(SeqCst) == 1
    }

    /// Waits until the flag is set, or at most `timeout`; returns the flag (CPython:
    /// `wait(timeout)`). Returns at once if it is set already.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        while !self.is_set() {
            let left = match deadline {
                None => None,
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return false,
                },
            };
            // Sleeps only while the flag is still 0; `set` wakes every sleeper.
            futex_wait(&self.flag, 0, left);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_between_threads() {
        let event = Event::new();
        assert!(!event.is_set() && !event.wait(Some(Duration::ZERO)));
        std::thread::scope(|s| {
            s.spawn(|| event.set());
            assert!(event.wait(Some(Duration::from_secs(10))));
        });
        assert!(event.wait(None), "set: at once");
        event.clear();
        assert!(!event.wait(Some(Duration::from_millis(10))));
    }
}
