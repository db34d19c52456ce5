//! The rest of CPython's synchronisation primitives for processes, in shared memory:
//! [`RLock`], [`Condition`], [`Event`], and [`Value`] with its lock. (A plain `Lock`,
//! `Semaphore` and `BoundedSemaphore` are in [`shared`](crate::shared).) Each works
//! between threads as well as between a process and the children it forks afterwards.
//!
//! | CPython (`multiprocessing`)          | here                                              |
//! |--------------------------------------|---------------------------------------------------|
//! | `Lock()`, `acquire(block, timeout)`  | [`new_lock`]`()?`: `lock()`, `try_lock()`, `lock_timeout(t)` |
//! | `RLock()`                            | `RLock::shared()?`: `acquire()?`, again in the same thread |
//! | `Semaphore(n)`, `BoundedSemaphore(n)` | `Semaphore::shared(n)?`, `Semaphore::bounded_shared(n)?` |
//! | `Condition()`: `wait`, `wait_for`, `notify(n)`, `notify_all` | `Condition::shared(state)?`: `lock()?` then the same on the guard |
//! | `Event()`: `set`, `clear`, `is_set`, `wait(timeout)` | `Event::shared()?`: the same            |
//! | `Value('i', 0)`, `v.value`           | `Value::new(0_i32)?`, `v.get()?` / `v.set(1)?`    |
//! | `Value('i', 0, lock=l)`              | `Value::with_lock(0, l)?`                         |
//! | `with v.get_lock(): v.get_obj()...`  | `let mut held = v.get_lock().lock()?; *v.get_obj(&mut held)? += 1` |
//! | `Value('i', 0, lock=False)`, `RawValue` | `SharedMemory::new(AtomicI32::new(0))?`: unlocked data must be atomic in Rust |
//! | `Array('i', 6)`                      | `Value::new([0_i32; 6])?`                         |

use std::cell::UnsafeCell;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use examples_process::current_pid;
use nix::libc;
use rustix::thread::futex;

use crate::shared::{Guard, Lock, ProcessShared, RobustMutex, SharedMemory, new_lock};

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

// SAFETY: a robust process-shared mutex and atomics, all meaningful in any process.
unsafe impl ProcessShared for RLock {}

impl RLock {
    /// A new reentrant lock in a new anonymous shared mapping.
    pub fn shared() -> io::Result<SharedMemory<RLock>> {
        SharedMemory::with_init(|slot: &mut MaybeUninit<RLock>| {
            let slot = slot.as_mut_ptr();
            // SAFETY: fresh zeroed memory for one `RLock`; the atomics are valid at zero
            // and the mutex is initialised here before anyone can use it.
            unsafe { RobustMutex::init(std::ptr::addr_of_mut!((*slot).mutex), ()) }
        })
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

/// One hold of an [`RLock`]; dropping it releases that hold.
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

/// CPython's `multiprocessing.Condition()`: a lock around a state, and a way to sleep
/// until another thread or process changes the state and says so.
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
    cond: UnsafeCell<libc::pthread_cond_t>,
}

// SAFETY: the state is reached only through the mutex's guard (`T: Send` lets it be
// any thread's), and a `pthread_cond_t` is made for concurrent use.
unsafe impl<T: ProcessShared + Send> Sync for Condition<T> {}
// SAFETY: a process-shared condition variable (`PTHREAD_PROCESS_SHARED`) holds no pointer
// and wakes through a shared futex; the mutex and state are `ProcessShared`.
unsafe impl<T: ProcessShared> ProcessShared for Condition<T> {}

impl<T: ProcessShared + Send> Condition<T> {
    /// `state` behind a lock and a condition variable, in a new anonymous shared mapping.
    pub fn shared(state: T) -> io::Result<SharedMemory<Condition<T>>> {
        SharedMemory::with_init(|slot: &mut MaybeUninit<Condition<T>>| {
            let slot = slot.as_mut_ptr();
            // SAFETY: fresh memory for one `Condition<T>`: the mutex and the condition
            // variable are initialised in place, process-shared, before any use; the
            // attribute object lives on this frame and is destroyed before returning.
            unsafe {
                RobustMutex::init(std::ptr::addr_of_mut!((*slot).mutex), state)?;
                let mut attr = MaybeUninit::<libc::pthread_condattr_t>::uninit();
                check(libc::pthread_condattr_init(attr.as_mut_ptr()))?;
                let attr = attr.as_mut_ptr();
                let made =
                    check(libc::pthread_condattr_setpshared(attr, libc::PTHREAD_PROCESS_SHARED))
                        .and_then(|()| {
                            check(libc::pthread_condattr_setclock(attr, libc::CLOCK_MONOTONIC))
                        })
                        .and_then(|()| {
                            check(libc::pthread_cond_init(
                                std::ptr::addr_of_mut!((*slot).cond).cast(),
                                attr,
                            ))
                        });
                libc::pthread_condattr_destroy(attr);
                made
            }
        })
    }

    /// Takes the lock (CPython: `with cond:`); wait and notify through the guard.
    pub fn lock(&self) -> io::Result<ConditionGuard<'_, T>> {
        Ok(ConditionGuard { guard: self.mutex.lock()?, cond: self })
    }
}

/// The lock of a [`Condition`], held: the state through `*guard`, and `wait` / `notify`.
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

    /// Wakes at most `n` waiters (CPython: `notify(n)`).
    pub fn notify(&self, n: usize) {
        for _ in 0..n {
            // SAFETY: an initialised condition variable.
            unsafe { libc::pthread_cond_signal(self.cond.cond.get()) };
        }
    }

    /// Wakes every waiter (CPython: `notify_all()`).
    pub fn notify_all(&self) {
        // SAFETY: an initialised condition variable.
        unsafe { libc::pthread_cond_broadcast(self.cond.cond.get()) };
    }

    /// Sleeps on the condition variable until woken or `deadline`; false on timeout.
    fn wait_until(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        let (cond, mutex) = (self.cond.cond.get(), self.guard.mutex_ptr());
        // SAFETY: this thread holds `mutex` (the guard), as `pthread_cond_wait` requires;
        // it is held again when the call returns, as the guard expects.
        let rc = unsafe {
            match deadline {
                None => libc::pthread_cond_wait(cond, mutex),
                Some(at) => {
                    let mut now = MaybeUninit::<libc::timespec>::uninit();
                    libc::clock_gettime(libc::CLOCK_MONOTONIC, now.as_mut_ptr());
                    let now = now.assume_init();
                    let left = at.saturating_duration_since(Instant::now());
                    let nanos = now.tv_nsec as u64 + u64::from(left.subsec_nanos());
                    let ts = libc::timespec {
                        tv_sec: now.tv_sec
                            + left.as_secs() as libc::time_t
                            + (nanos / 1_000_000_000) as libc::time_t,
                        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
                    };
                    libc::pthread_cond_timedwait(cond, mutex, &ts)
                }
            }
        };
        match rc {
            0 => Ok(true),
            libc::ETIMEDOUT => Ok(false),
            libc::EOWNERDEAD => {
                // The lock's last holder died; it is ours again, made consistent.
                // SAFETY: we hold the mutex (EOWNERDEAD means acquired).
                check(unsafe { libc::pthread_mutex_consistent(mutex) })?;
                Ok(true)
            }
            e => Err(io::Error::from_raw_os_error(e)),
        }
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
            let ts = left.map(|t| futex::Timespec {
                tv_sec: t.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: t.subsec_nanos().into(),
            });
            // Sleeps only while the flag is still 0; `set` wakes every sleeper.
            let _ = futex::wait(&self.flag, futex::Flags::empty(), 0, ts.as_ref());
        }
        true
    }
}

/// CPython's `Value(typecode, value)`: a value in shared memory and the lock that
/// guards it, which may be shared with other values (`lock=`). `Array` is a `Value` of
/// an array. Clone it to hand it to a child.
///
/// ```
/// use examples_ipc::shared::new_lock;
/// use examples_ipc::sync::Value;
///
/// let lock = new_lock()?;
/// let a = Value::with_lock(1_i32, lock.clone())?; // Value('i', 1, lock=lock)
/// let b = Value::with_lock(2_i32, lock.clone())?;
/// assert_eq!(a.get()?, 1); // a.value
/// {
///     // with lock: both values at once, under their one lock
///     let mut held = lock.lock()?;
///     *a.get_obj(&mut held)? += 10;
///     *b.get_obj(&mut held)? += 10;
/// }
/// assert_eq!((a.get()?, b.get()?), (11, 12));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Value<T: ProcessShared + Copy + Send> {
    cell: SharedMemory<Cell<T>>,
    lock: SharedMemory<Lock>,
}

/// The value itself, reached only while its lock is held.
struct Cell<T>(UnsafeCell<T>);

// SAFETY: the value is read and written only with its `Value`'s lock held (`get`, `set`,
// `get_obj`, which checks the guard), so one thread at a time; `T: Send` lets that be
// any thread.
unsafe impl<T: Send> Sync for Cell<T> {}
// SAFETY: the value is `ProcessShared`.
unsafe impl<T: ProcessShared> ProcessShared for Cell<T> {}

impl<T: ProcessShared + Copy + Send> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value { cell: self.cell.clone(), lock: self.lock.clone() }
    }
}

impl<T: ProcessShared + Copy + Send> Value<T> {
    /// `value` with a lock of its own (CPython: `Value(typecode, value)`).
    pub fn new(value: T) -> io::Result<Value<T>> {
        Value::with_lock(value, new_lock()?)
    }

    /// `value` guarded by `lock`, which other values may share (CPython:
    /// `Value(typecode, value, lock=lock)`).
    pub fn with_lock(value: T, lock: SharedMemory<Lock>) -> io::Result<Value<T>> {
        Ok(Value { cell: SharedMemory::new(Cell(UnsafeCell::new(value)))?, lock })
    }

    /// The lock (CPython: `get_lock()`).
    pub fn get_lock(&self) -> &SharedMemory<Lock> {
        &self.lock
    }

    /// Reads the value under its lock (CPython: `v.value`).
    pub fn get(&self) -> io::Result<T> {
        let mut held = self.lock.lock()?;
        Ok(*self.get_obj(&mut held)?)
    }

    /// Writes the value under its lock (CPython: `v.value = x`).
    pub fn set(&self, value: T) -> io::Result<()> {
        let mut held = self.lock.lock()?;
        *self.get_obj(&mut held)? = value;
        Ok(())
    }

    /// The value itself, while `held` (a guard of this value's lock) lives (CPython:
    /// `get_obj()`, which Python code must only touch with the lock held; here the
    /// compiler and this check make sure). An error if `held` is another lock's.
    pub fn get_obj<'g>(&self, held: &'g mut Guard<'_, ()>) -> io::Result<&'g mut T>
    where
        Self: 'g,
    {
        if !std::ptr::eq(held.mutex_ptr(), self.lock.mutex_ptr()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "that guard is another lock's",
            ));
        }
        // SAFETY: the caller holds this value's lock (checked just above) for as long as
        // `'g`, and `&mut` of the guard makes this the only reference made through it.
        Ok(unsafe { &mut *self.cell.0.get() })
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(rc)) }
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

    #[test]
    fn a_value_and_its_lock() {
        let v = Value::new([0_i32; 3]).unwrap();
        v.set([1, 2, 3]).unwrap();
        {
            let mut held = v.get_lock().lock().unwrap();
            v.get_obj(&mut held).unwrap()[0] = 10;
        }
        assert_eq!(v.get().unwrap(), [10, 2, 3]);
        let other = new_lock().unwrap();
        let mut wrong = other.lock().unwrap();
        assert!(v.get_obj(&mut wrong).is_err(), "another lock's guard is refused");
    }
}
