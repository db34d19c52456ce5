//! `Lock`: a robust, process-shared `pthread_mutex_t` that owns the value it guards.

use std::cell::UnsafeCell;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::libc;

use crate::shared::{ProcessShared, SharedMemory};

/// A value and the lock that guards it, in shared memory: CPython's `Value('i', 0)`
/// with its `get_lock()`, except that here the lock owns the value.
///
/// The lock is a process-shared, *robust* `pthread_mutex_t`: if a process dies while
/// holding it, the next `lock` succeeds and says so ([`Guard::holder_died`]) instead of
/// waiting for ever, as CPython's `multiprocessing.Lock` does. It works in any memory
/// that several processes map: [`RobustMutex::shared`] makes an anonymous mapping for
/// forked children; [`RobustMutex::init`] sets one up in memory mapped by name.
///
/// ```
/// use examples_ipc::sync::RobustMutex;
/// use examples_process::Process;
///
/// let counter = RobustMutex::shared(0_i32)?;
/// let mut child = Process::new({
///     let counter = counter.clone();
///     move || *counter.lock().expect("lock") += 5
/// });
/// child.start()?;
/// child.join()?;
/// assert_eq!(*counter.lock()?, 5); // the child's change, seen by the parent
/// # Ok::<(), std::io::Error>(())
/// ```
#[repr(C)]
pub struct RobustMutex<T> {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through a guard that holds `mutex`, so one thread at
// a time uses it, and `T: Send` lets that be any thread (as for `std::sync::Mutex`).
unsafe impl<T: ProcessShared + Send> Sync for RobustMutex<T> {}

impl<T: ProcessShared + Send> RobustMutex<T> {
    /// `value` behind a new lock, in a new anonymous shared mapping.
    pub fn shared(value: T) -> io::Result<SharedMemory<RobustMutex<T>>> {
        // SAFETY: fresh, writable memory for one `RobustMutex<T>`, unused so far.
        let init = |slot| unsafe { RobustMutex::init(slot, value) };
        // SAFETY: on success `init` has made a process-shared robust mutex (no pointer:
        // glibc keeps the robust list in each thread, not in the mutex; waiters sleep on
        // a shared futex) beside a `ProcessShared` value.
        unsafe { SharedMemory::init_in_place(init) }
    }

    /// Initialises a lock holding `value` at `slot`, in memory that other processes
    /// map too (for example a named segment). Call it once, before anyone locks.
    ///
    /// # Safety
    /// `slot` must be valid for writes of `size_of::<RobustMutex<T>>()` bytes, suitably
    /// aligned, and not in use by any process yet.
    pub unsafe fn init(slot: *mut RobustMutex<T>, value: T) -> io::Result<()> {
        // SAFETY: the caller guarantees `slot`; the attribute object lives on this
        // stack frame and is destroyed before returning.
        unsafe {
            std::ptr::addr_of_mut!((*slot).value).write(UnsafeCell::new(value));
            let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let attr = attr.as_mut_ptr();
            let result =
                check(libc::pthread_mutexattr_setpshared(attr, libc::PTHREAD_PROCESS_SHARED))
                    .and_then(|()| {
                        check(libc::pthread_mutexattr_setrobust(attr, libc::PTHREAD_MUTEX_ROBUST))
                    })
                    .and_then(|()| {
                        check(libc::pthread_mutex_init(
                            std::ptr::addr_of_mut!((*slot).mutex).cast(),
                            attr,
                        ))
                    });
            libc::pthread_mutexattr_destroy(attr);
            result
        }
    }

    /// Waits for the lock. If its last holder died holding it, the lock is made
    /// consistent again and the guard's [`Guard::holder_died`] is true: the value may
    /// be half-updated, and it is yours to check.
    pub fn lock(&self) -> io::Result<Guard<'_, T>> {
        // SAFETY: initialised process-shared mutex.
        let rc = unsafe { libc::pthread_mutex_lock(self.mutex.get()) };
        self.locked(rc).map(|guard| guard.expect("a blocking lock either locks or fails"))
    }

    /// Takes the lock if it is free now, else `None` at once (CPython:
    /// `lock.acquire(block=False)`).
    pub fn try_lock(&self) -> io::Result<Option<Guard<'_, T>>> {
        // SAFETY: initialised process-shared mutex.
        self.locked(unsafe { libc::pthread_mutex_trylock(self.mutex.get()) })
    }

    /// Waits at most `timeout` for the lock, `None` if it stayed taken (CPython:
    /// `lock.acquire(timeout=t)`). A timeout too large for the clock waits for ever.
    pub fn lock_timeout(&self, timeout: Duration) -> io::Result<Option<Guard<'_, T>>> {
        let Some(at) = SystemTime::now().checked_add(timeout) else {
            return self.lock().map(Some);
        };
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let ts = libc::timespec {
            tv_sec: since.as_secs() as libc::time_t,
            tv_nsec: since.subsec_nanos() as libc::c_long,
        };
        // SAFETY: initialised process-shared mutex; `ts` is a valid absolute time.
        self.locked(unsafe { libc::pthread_mutex_timedlock(self.mutex.get(), &ts) })
    }

    /// The mutex itself, to tell locks apart and to wait on a condition variable.
    pub(crate) fn mutex_ptr(&self) -> *mut libc::pthread_mutex_t {
        self.mutex.get()
    }

    /// Unlocks a mutex whose guard was forgotten (an `RLock` keeps it locked across
    /// several holds).
    ///
    /// # Safety
    /// The calling thread holds the mutex, and no guard for that hold will be dropped.
    pub(crate) unsafe fn unlock_forgotten(&self) {
        // SAFETY: the caller holds the mutex.
        unsafe { libc::pthread_mutex_unlock(self.mutex.get()) };
    }

    /// The guard for a lock call's return code: `None` if the lock was busy.
    fn locked(&self, rc: libc::c_int) -> io::Result<Option<Guard<'_, T>>> {
        let held = acquired(self.mutex.get(), rc)?;
        Ok(held.map(|holder_died| Guard { cell: self, holder_died, _not_send: PhantomData }))
    }
}

/// What a lock call's return code means: `Some(holder_died)` if the lock is held now
/// (a lock whose last holder died is made consistent first), `None` if it was busy.
fn acquired(mutex: *mut libc::pthread_mutex_t, rc: libc::c_int) -> io::Result<Option<bool>> {
    match rc {
        0 => Ok(Some(false)),
        libc::EOWNERDEAD => {
            // SAFETY: this thread holds the mutex (EOWNERDEAD means acquired).
            check(unsafe { libc::pthread_mutex_consistent(mutex) })?;
            Ok(Some(true))
        }
        libc::EBUSY | libc::ETIMEDOUT => Ok(None),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// CPython's `multiprocessing.Lock()`: a process-shared lock with nothing inside
/// (`RobustMutex<()>`). [`new_lock`] makes one in shared memory.
///
/// ```
/// use std::time::Duration;
/// use examples_ipc::sync::new_lock;
///
/// let lock = new_lock()?;
/// let held = lock.lock()?;                                      // acquire()
/// assert!(lock.try_lock()?.is_none());                          // acquire(block=False)
/// assert!(lock.lock_timeout(Duration::from_millis(10))?.is_none()); // acquire(timeout=0.01)
/// drop(held);                                                   // release()
/// assert!(lock.try_lock()?.is_some());
/// # Ok::<(), std::io::Error>(())
/// ```
pub type Lock = RobustMutex<()>;

/// A new lock in a new anonymous shared mapping (CPython: `Lock()`).
pub fn new_lock() -> io::Result<SharedMemory<Lock>> {
    RobustMutex::shared(())
}

/// Access to a [`RobustMutex`]'s value; the lock is released when it is dropped.
///
/// Not `Send`: it stays with the thread that locked, and so it cannot be moved into a
/// forked child either (where the parent's copy, dropped by `start`, would unlock while
/// the child still writes):
///
/// ```compile_fail,E0277
/// use examples_ipc::sync::RobustMutex;
/// use examples_process::Process;
///
/// let counter = Box::leak(Box::new(RobustMutex::shared(0_u64)?));
/// let mut held = counter.lock()?;
/// let child = Process::new(move || *held += 1);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ```
/// use examples_ipc::sync::RobustMutex;
/// use examples_process::Process;
///
/// let counter = Box::leak(Box::new(RobustMutex::shared(0_u64)?));
/// let child = Process::new(move || *counter.lock().expect("lock") += 1); // lock there
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Guard<'a, T> {
    cell: &'a RobustMutex<T>,
    holder_died: bool,
    /// Not `Send`: a pthread mutex must be unlocked by the thread that locked it.
    _not_send: PhantomData<*const ()>,
}

impl<T> Guard<'_, T> {
    /// Whether the previous holder died while holding the lock (it was recovered).
    pub fn holder_died(&self) -> bool {
        self.holder_died
    }

    /// The mutex this guard holds.
    pub(crate) fn mutex_ptr(&self) -> *mut libc::pthread_mutex_t {
        self.cell.mutex.get()
    }

    /// Lets go of the lock while `f` runs, then takes it again (a condition's wait).
    /// If a holder died in between, [`holder_died`](Guard::holder_died) turns true.
    ///
    /// # Panics
    /// If the lock cannot be taken again (the mutex reports an error other than a dead
    /// holder, which this module's use of it never causes): the guard must not give
    /// access to a value it no longer guards, and a panic ends a child process.
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let mutex = self.mutex_ptr();
        // SAFETY: this guard holds the mutex; it is taken again below before the guard
        // can be used or dropped.
        unsafe { libc::pthread_mutex_unlock(mutex) };
        let result = f();
        // SAFETY: an initialised process-shared mutex, let go by this thread above.
        match acquired(mutex, unsafe { libc::pthread_mutex_lock(mutex) }) {
            Ok(Some(died)) => self.holder_died |= died,
            Ok(None) => unreachable!("a blocking lock either locks or fails"),
            Err(e) => panic!("cannot take a lock again after waiting: {e}"),
        }
        result
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we hold the lock.
        unsafe { libc::pthread_mutex_unlock(self.cell.mutex.get()) };
    }
}

/// A pthread function's return code as a result.
pub(super) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(rc)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::process_shared! {
        /// A struct made shareable by the macro.
        #[derive(Debug, PartialEq)]
        struct Point {
            x: i32,
            y: [u8; 2],
        }
    }

    #[test]
    fn a_robust_mutex_guards_a_declared_struct() {
        let point = RobustMutex::shared(Point { x: 1, y: [2, 3] }).unwrap();
        {
            let mut p = point.lock().unwrap();
            assert!(!p.holder_died());
            p.x += 10;
        }
        assert_eq!(*point.lock().unwrap(), Point { x: 11, y: [2, 3] });
    }

    #[test]
    fn a_mutex_is_shared_between_threads_too() {
        let count = RobustMutex::shared(0_u64).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..1000).for_each(|_| *count.lock().unwrap() += 1));
            }
        });
        assert_eq!(*count.lock().unwrap(), 4000);
    }
}
