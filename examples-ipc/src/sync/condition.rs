//! `Condition`: a robust lock around a state, and a futex word to sleep on until the
//! state changes.

use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use rustix::thread::futex;

use super::{Guard, RobustMutex};
use crate::shared::{ProcessShared, SharedMemory};
use crate::wait::futex_wait;

/// CPython's `multiprocessing.Condition()`: a lock around a state, and a way to sleep
/// until another thread or process changes the state and says so.
///
/// The lock is a [`RobustMutex`]; the sleeping is on one futex word that every
/// `notify` bumps, as [`Event`](super::Event) sleeps on its flag. A waiter killed while it sleeps
/// leaves nothing behind: the kernel drops it from the futex's queue, so the next
/// `notify(1)` wakes a live waiter. (glibc's `pthread_cond_t`, used here before, keeps
/// counting a killed waiter: the next signal went to it, and the one after waited for
/// it for ever.)
///
/// `notify(n)` wakes `n` of the waiters asleep; a waiter that has let go of the lock
/// but is not asleep yet sees the bump and returns too, so a wake-up may come to one
/// more waiter than asked, as any condition variable allows: check the state, as
/// [`wait_for`](ConditionGuard::wait_for) does.
///
/// ```
/// use examples_ipc::sync::Condition;
/// use examples_process::Process;
///
/// let ready = Condition::shared(0_u32)?; // the state: how many items are ready
/// let mut producer = Process::new({
///     let ready = ready.clone();
///     move || {
///         let mut state = ready.lock().expect("lock");
///         *state += 1;
///         state.notify(1);
///     }
/// });
/// let mut state = ready.lock()?;
/// producer.start()?;
/// // wait_for releases the lock while it sleeps, so the producer can take it.
/// assert!(state.wait_for(|n| *n > 0, None)?);
/// drop(state);
/// producer.join()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[repr(C)]
pub struct Condition<T> {
    mutex: RobustMutex<T>,
    /// Bumped by every notify; waiters sleep on it (a futex word, shared flag).
    notified: AtomicU32,
}

// SAFETY: the state is reached only through the mutex's guard (`T: Send` lets it be
// any thread's), and the futex word is atomic.
unsafe impl<T: ProcessShared + Send> Sync for Condition<T> {}

impl<T: ProcessShared + Send> Condition<T> {
    /// `state` behind a lock and a condition, in a new anonymous shared mapping.
    pub fn shared(state: T) -> io::Result<SharedMemory<Condition<T>>> {
        let init = |slot: *mut Condition<T>| {
            // SAFETY: fresh zeroed memory for one `Condition<T>`: the futex word is valid
            // at zero, and the mutex is set up here, before anyone can use it.
            unsafe { RobustMutex::init(std::ptr::addr_of_mut!((*slot).mutex), state) }
        };
        // SAFETY: on success the slot holds a process-shared robust mutex, a
        // `ProcessShared` state and an atomic word: all meaningful in any process.
        unsafe { SharedMemory::init_in_place(init) }
    }

    /// Takes the lock (CPython: `with cond:`); wait and notify through the guard.
    pub fn lock(&self) -> io::Result<ConditionGuard<'_, T>> {
        Ok(ConditionGuard { guard: self.mutex.lock()?, cond: self })
    }
}

/// The lock of a [`Condition`], held: the state through `*guard`, and `wait` / `notify`.
/// Not `Send`, so it cannot be moved into a forked child either:
///
/// ```compile_fail,E0277
/// let cond = Box::leak(Box::new(examples_ipc::sync::Condition::shared(0_u32)?));
/// let mut held = cond.lock()?;
/// let child = examples_process::Process::new(move || held.notify(1));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ```
/// let cond = Box::leak(Box::new(examples_ipc::sync::Condition::shared(0_u32)?));
/// let child = examples_process::Process::new(move || cond.lock().expect("lock").notify(1));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ConditionGuard<'a, T> {
    guard: Guard<'a, T>,
    cond: &'a Condition<T>,
}

impl<T> ConditionGuard<'_, T> {
    /// Releases the lock, sleeps until notified, takes the lock again (CPython:
    /// `wait()`). It may also return without a notification (a spurious wake-up), which
    /// is why [`wait_for`](ConditionGuard::wait_for) checks a predicate.
    pub fn wait(&mut self) -> io::Result<()> {
        self.wait_until(None).map(drop)
    }

    /// `wait` for at most `timeout`; false if the timeout passed (CPython:
    /// `wait(timeout)`).
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<bool> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `predicate(&state)` holds, or `timeout` passes; returns the
    /// predicate's last value (CPython: `wait_for(predicate, timeout)`).
    pub fn wait_for(
        &mut self,
        mut predicate: impl FnMut(&T) -> bool,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        while !predicate(&self.guard) {
            if !self.wait_until(deadline)? {
                return Ok(predicate(&self.guard));
            }
        }
        Ok(true)
    }

    /// Wakes `n` waiters (CPython: `notify(n)`).
    pub fn notify(&self, n: usize) {
        self.cond.notified.fetch_add(1, SeqCst);
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let _ = futex::wake(&self.cond.notified, futex::Flags::empty(), n);
    }

    /// Wakes every waiter (CPython: `notify_all()`).
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }

    /// Lets go of the lock, sleeps until notified or `deadline`, takes the lock again;
    /// false if the deadline passed first.
    fn wait_until(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        let word = &self.cond.notified;
        // Read while holding the lock: a notify, which needs the lock, comes after this.
        let seen = word.load(SeqCst);
        Ok(self.guard.unlocked(|| {
            loop {
                let left = match deadline {
                    None => None,
                    Some(at) => match at.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => Some(left),
                        _ => break word.load(SeqCst) != seen,
                    },
                };
                // Sleeps only while the word is still `seen`; a notify bumps it, then wakes.
                futex_wait(word, seen, left);
                if word.load(SeqCst) != seen {
                    break true;
                }
            }
        }))
    }
}

impl<T> Deref for ConditionGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for ConditionGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_wakes_a_waiter_between_threads() {
        let cond = Condition::shared(false).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                let mut ready = cond.lock().unwrap();
                *ready = true;
                ready.notify_all();
            });
            let mut ready = cond.lock().unwrap();
            assert!(ready.wait_for(|r| *r, Some(Duration::from_secs(10))).unwrap());
        });
        let mut state = cond.lock().unwrap();
        assert!(!state.wait_timeout(Duration::from_millis(10)).unwrap(), "nobody notifies");
        assert!(!state.wait_for(|_| false, Some(Duration::from_millis(10))).unwrap());
    }
}
