//! `Value` and `Array`: a value in shared memory and the lock that guards it.

use std::cell::UnsafeCell;
use std::io;

use super::{Guard, Lock, new_lock};
use crate::shared::{ProcessShared, SharedMemory};

/// CPython's `Value(typecode, value)`: a value in shared memory and the lock that
/// guards it, which may be shared with other values (`lock=`). `Array` is a `Value` of
/// an array. Clone it to hand it to a child.
///
/// ```
/// use examples_ipc::sync::new_lock;
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

#[cfg(test)]
mod tests {
    use super::*;

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
