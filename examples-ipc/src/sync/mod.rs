//! CPython's synchronisation primitives for processes, in shared memory: one file each.
//! Each works between threads as well as between a process and the children it forks
//! afterwards, and each is robust: a holder or waiter that dies is an error or is
//! skipped, never a wait for ever.
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
//!
//! The lock, the semaphore, `RLock` and `Condition` are set up in place by their own
//! constructors (`shared`): a zeroed `sem_t` or `pthread_mutex_t` is a
//! *process-private* one, whose waiters in another process would never be woken. So
//! they are not [`ProcessShared`](crate::shared::ProcessShared), and safe code cannot
//! make one out of zero bytes:
//!
//! ```compile_fail,E0277
//! use examples_ipc::{shared::SharedMemory, sync::RobustMutex};
//! let zeroed = SharedMemory::<RobustMutex<u32>>::zeroed();
//! ```
//!
//! ```compile_fail,E0277
//! use examples_ipc::{shared::SharedMemory, sync::Semaphore};
//! let zeroed = SharedMemory::<Semaphore>::zeroed();
//! ```
//!
//! ```compile_fail,E0277
//! use examples_ipc::{shared::SharedMemory, sync::RLock};
//! let zeroed = SharedMemory::<RLock>::zeroed();
//! ```
//!
//! ```compile_fail,E0277
//! use examples_ipc::{shared::SharedMemory, sync::Condition};
//! let zeroed = SharedMemory::<Condition<u32>>::zeroed();
//! ```
//!
//! ```
//! use examples_ipc::{shared::SharedMemory, sync::RobustMutex};
//! let made = RobustMutex::shared(0_u32)?; // the way to make one
//! let zeroed = SharedMemory::<[u32; 2]>::zeroed()?; // plain values may start at zero
//! # Ok::<(), std::io::Error>(())
//! ```

mod condition;
mod event;
mod mutex;
mod rlock;
mod semaphore;
mod value;

pub use condition::{Condition, ConditionGuard};
pub use event::Event;
pub use mutex::{Guard, Lock, RobustMutex, new_lock};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::Semaphore;
pub use value::Value;
