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
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use examples_process::current_pid;
use nix::libc;
use rustix::thread::futex;

use crate::shared::{Guard, Lock, ProcessShared, RobustMutex, SharedMemory, new_lock};
use crate::wait::futex_wait;

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

/// CPython's `multiprocessing.Condition()`: a lock around a state, and a way to sleep
/// until another thread or process changes the state and says so.
///
/// The lock is a [`RobustMutex`]; the sleeping is on one futex word that every
/// `notify` bumps, as [`Event`] sleeps on its flag. A waiter killed while it sleeps
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
        let mutex = self.guard.mutex_ptr();
        // SAFETY: this thread holds the mutex (the guard); it takes it again below
        // before returning, as the guard expects.
        unsafe { libc::pthread_mutex_unlock(mutex) };
        let notified = loop {
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
        };
        // SAFETY: the mutex was set up by `RobustMutex::init`; this thread let it go above.
        match unsafe { libc::pthread_mutex_lock(mutex) } {
            0 => Ok(notified),
            libc::EOWNERDEAD => {
                // Its last holder died holding it; it is ours again, made consistent.
                // SAFETY: we hold the mutex (EOWNERDEAD means acquired).
                check(unsafe { libc::pthread_mutex_consistent(mutex) })?;
                Ok(notified)
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
            // Sleeps only while the flag is still 0; `set` wakes every sleeper.
            futex_wait(&self.flag, 0, left);
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
