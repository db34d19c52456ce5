//! `RLock`: a robust lock that the thread holding it may take again.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use examples_process::current_pid;

use super::{Guard, Lock, RobustMutex};
use crate::shared::SharedMemory;

/// CPython's `multiprocessing.RLock()`: a lock that the thread holding it may take
/// again; it is free once released as many times as taken. Robust, like
/// [`RobustMutex`]: a holder that dies does not leave it taken for ever.
///
/// ```
/// use examples_ipc::sync::RLock;
///
/// let rlock = RLock::shared()?;
/// let outer = rlock.acquire()?;
/// let inner = rlock.acquire()?; // the same thread: no deadlock
/// drop(inner);
/// drop(outer); // free again
/// assert!(rlock.try_acquire()?.is_some());
/// # Ok::<(), std::io::Error>(())
/// ```
#[repr(C)]
pub struct RLock {
    mutex: Lock,
    /// The holding thread, as (pid << 32 | tid); 0 when free.
    owner: AtomicU64,
    /// How many times the owner has taken it.
    count: AtomicU32,
}

impl RLock {
    /// A new reentrant lock in a new anonymous shared mapping.
    pub fn shared() -> io::Result<SharedMemory<RLock>> {
        let init = |slot: *mut RLock| {
            // SAFETY: fresh zeroed memory for one `RLock`: the atomics are valid at zero
            // and the mutex is set up here before anyone can use it.
            unsafe { RobustMutex::init(std::ptr::addr_of_mut!((*slot).mutex), ()) }
        };
        // SAFETY: on success the slot holds a process-shared robust mutex (set up by
        // `RobustMutex::init`) and atomics at zero, all meaningful in any process.
        unsafe { SharedMemory::init_in_place(init) }
    }

    /// Takes the lock, waiting if another thread holds it.
    pub fn acquire(&self) -> io::Result<RLockGuard<'_>> {
        self.take(|m| m.lock().map(Some)).map(|g| g.expect("a blocking lock either locks or fails"))
    }

    /// Takes the lock if this thread holds it or it is free, else `None` at once.
    pub fn try_acquire(&self) -> io::Result<Option<RLockGuard<'_>>> {
        self.take(Lock::try_lock)
    }

    /// Waits at most `timeout` for the lock.
    pub fn acquire_timeout(&self, timeout: Duration) -> io::Result<Option<RLockGuard<'_>>> {
        self.take(|m| m.lock_timeout(timeout))
    }

    fn take<'a>(
        &'a self,
        lock: impl FnOnce(&'a Lock) -> io::Result<Option<Guard<'a, ()>>>,
    ) -> io::Result<Option<RLockGuard<'a>>> {
        let me = this_thread();
        if self.owner.load(SeqCst) == me {
            self.count.fetch_add(1, SeqCst); // only this thread changes it now
            return Ok(Some(RLockGuard { rlock: self, _this_thread: PhantomData }));
        }
        let Some(guard) = lock(&self.mutex)? else { return Ok(None) };
        // The mutex stays locked until the last `RLockGuard` goes; a holder that died
        // left its count behind, which starts again here.
        std::mem::forget(guard);
        self.owner.store(me, SeqCst);
        self.count.store(1, SeqCst);
        Ok(Some(RLockGuard { rlock: self, _this_thread: PhantomData }))
    }
}

/// One hold of an [`RLock`]; dropping it releases that hold. Not `Send`, so it cannot
/// be moved into a forked child either:
///
/// ```compile_fail,E0277
/// let rlock = Box::leak(Box::new(examples_ipc::sync::RLock::shared()?));
/// let held = rlock.acquire()?;
/// let child = examples_process::Process::new(move || drop(held));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ```
/// let rlock = Box::leak(Box::new(examples_ipc::sync::RLock::shared()?));
/// let child = examples_process::Process::new(move || drop(rlock.acquire()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    /// Not `Send`: the holds belong to the thread that took them.
    _this_thread: PhantomData<*const ()>,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        if self.rlock.count.fetch_sub(1, SeqCst) == 1 {
            self.rlock.owner.store(0, SeqCst);
            // SAFETY: this thread took the mutex in `take` and forgot its guard; this is
            // the last hold, so the mutex is released exactly once.
            unsafe { self.rlock.mutex.unlock_forgotten() };
        }
    }
}

/// Who the calling thread is, across processes: its pid and its kernel thread id.
fn this_thread() -> u64 {
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    (u64::from(current_pid() as u32) << 32) | u64::from(tid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rlock_counts_and_excludes_other_threads() {
        let rlock = RLock::shared().unwrap();
        let outer = rlock.acquire().unwrap();
        let inner = rlock.try_acquire().unwrap().expect("the holder may take it again");
        std::thread::scope(|s| {
            let other =
                s.spawn(|| rlock.acquire_timeout(Duration::from_millis(20)).unwrap().is_some());
            assert!(!other.join().unwrap(), "another thread must wait");
        });
        drop(inner);
        drop(outer);
        std::thread::scope(|s| {
            assert!(s.spawn(|| rlock.try_acquire().unwrap().is_some()).join().unwrap());
        });
    }
}
