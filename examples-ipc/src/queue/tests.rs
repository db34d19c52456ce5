//! The queue's tests within one process: order, counts, timeouts, closing, join.

use super::*;

#[test]
fn a_bounded_queue_is_first_in_first_out_and_counts() {
    let q = Queue::bounded(2).unwrap();
    assert!(q.empty());
    q.put(1_u8).unwrap();
    q.put_nowait(2).unwrap();
    assert_eq!((q.qsize(), q.full()), (2, true));
    assert!(matches!(q.put_nowait(3), Err(QueueError::Full)));
    assert!(matches!(q.put_timeout(3, Duration::from_millis(10)), Err(QueueError::Full)));
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.get_nowait().unwrap(), 2);
    assert!(matches!(q.get_nowait(), Err(QueueError::Empty)));
    assert!(matches!(q.get_timeout(Duration::from_millis(10)), Err(QueueError::Empty)));
    assert_eq!(q.qsize(), 0);
}

#[test]
fn clones_are_the_same_queue() {
    let q = Queue::bounded(4).unwrap();
    let other = q.clone();
    other.put("from the clone".to_string()).unwrap();
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get().unwrap(), "from the clone");
    assert!(other.empty());
}

#[test]
fn a_huge_timeout_does_not_panic() {
    let q = Queue::bounded(1).unwrap();
    q.put_timeout(5_u8, Duration::MAX).unwrap();
    assert_eq!(q.get_timeout(Duration::MAX).unwrap(), 5);
}

#[test]
fn an_unbounded_queue_counts_and_can_be_empty() {
    let q = Queue::unbounded().unwrap();
    let mut sizes = vec![q.qsize()];
    assert!(q.empty() && !q.full());
    q.put(1_u8).unwrap();
    sizes.push(q.qsize());
    q.put(2).unwrap();
    sizes.push(q.qsize());
    q.get().unwrap();
    sizes.push(q.qsize());
    q.get().unwrap();
    sizes.push(q.qsize());
    assert_eq!(sizes, [0, 1, 2, 1, 0], "as CPython's on Linux");
    assert!(q.empty(), "before, an unbounded queue was never empty");
}

/// A value whose serialisation always fails.
struct Unsendable;

impl Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value cannot be sent"))
    }
}

impl<'de> serde::Deserialize<'de> for Unsendable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unsendable)
    }
}

#[test]
fn a_failed_put_takes_no_room() {
    let q = Queue::<Unsendable>::bounded(1).unwrap();
    assert!(q.put(Unsendable).is_err());
    assert_eq!((q.qsize(), q.full(), q.empty()), (0, false, true));
    // The error is the serialisation's, not `Full`: nothing holds the one place.
    assert!(matches!(q.put_timeout(Unsendable, Duration::from_millis(50)), Err(QueueError::Io(_))));
}

#[test]
fn a_closed_queue_refuses_put_and_get_here() {
    let q = Queue::unbounded().unwrap();
    q.put(1_u8).unwrap();
    let other = q.clone();
    q.close();
    q.join_thread();
    assert!(matches!(q.put(2), Err(QueueError::Closed)));
    assert!(matches!(other.get(), Err(QueueError::Closed)), "every handle of this process");
    assert_eq!(q.qsize(), 1, "what was put stays for other processes");
}

#[test]
fn join_waits_for_every_task_done() {
    let q = JoinableQueue::unbounded().unwrap();
    for i in 0..3_u32 {
        q.put(i).unwrap();
    }
    let worker = {
        let q = q.clone();
        std::thread::spawn(move || {
            for _ in 0..3 {
                q.get().unwrap();
                std::thread::sleep(Duration::from_millis(20));
                q.task_done().unwrap();
            }
        })
    };
    let started = std::time::Instant::now();
    q.join().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50), "join waited for the tasks");
    worker.join().unwrap();
    assert!(matches!(q.task_done(), Err(QueueError::TaskDoneTooOften)));
    q.join().unwrap(); // nothing unfinished: at once
}

#[test]
fn a_capacity_of_zero_is_refused() {
    let err = Queue::<u8>::bounded(0).err().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn items_of_every_size_around_the_stack_buffer_come_back_whole() {
    // `put` serialises an item of up to SMALL bytes on the stack, a larger one in a
    // buffer of its thread: both ways, and the sizes where one ends, give the same.
    let q = Queue::<Vec<u8>>::unbounded().unwrap();
    let sizes: Vec<usize> = (0..8).chain(SMALL - 4..SMALL + 4).chain([4096, 100_000]).collect();
    for &n in &sizes {
        q.put((0..n).map(|i| i as u8).collect()).unwrap();
    }
    for &n in &sizes {
        let item = q.get().unwrap();
        assert_eq!(item.len(), n);
        assert!(item.iter().enumerate().all(|(i, &b)| b == i as u8), "item of {n} bytes");
    }
}
