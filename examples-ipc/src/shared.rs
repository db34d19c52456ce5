//! Memory shared between a process and the children it forks afterwards.
//!
//! [`SharedMemory`] (from `examples_process`, re-exported here) is an anonymous
//! `MAP_SHARED` mapping. It has no name, so nothing appears in `/dev/shm` and nothing is
//! left behind, even if every process using it is killed: the kernel frees it when the
//! last process unmaps it or exits.
//!
//! Only types that implement [`ProcessShared`] can be put there: numbers, atomics,
//! arrays and tuples of them, and your own plain structs declared with
//! [`process_shared!`](crate::process_shared). The compiler refuses the rest, which
//! would be wrong in another process (more examples in `examples_process::shared`):
//!
//! ```compile_fail,E0277
//! // `&'static str` is `Copy`, yet it is a pointer into one process's memory.
//! let name = examples_ipc::sync::RobustMutex::shared("main");
//! ```
//!
//! The locks, semaphores and conditions that live in such memory are in
//! [`sync`](crate::sync).

pub use examples_process::shared::{ProcessShared, SharedMemory};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

    #[test]
    fn shared_memory_holds_a_value_for_every_clone() {
        let a = SharedMemory::new(AtomicU64::new(1)).unwrap();
        let b = a.clone();
        b.fetch_add(2, SeqCst);
        assert_eq!(a.load(SeqCst), 3);
        drop(a);
        assert_eq!(b.load(SeqCst), 3, "the mapping lives while a clone does");
    }
}
