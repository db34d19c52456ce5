//! The `examples-ipc` library's own tests across real processes: the ring, shared
//! memory, the queue, the pipe and the manager, each used from forked children. Each
//! test runs in a single-threaded process of its own (see `harness::isolated`).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::thread::sleep;
use std::time::Duration;

use examples_ipc::connection;
use examples_ipc::manager::Manager;
use examples_ipc::process_shared;
use examples_ipc::queue::{Queue, QueueError};
use examples_ipc::ring::{self, RingError};
use examples_ipc::shared::SharedMemory;
use examples_ipc::sync::{Condition, Event, RLock, Value};
use examples_ipc::sync::{RobustMutex, Semaphore, new_lock};
use examples_process::{Process, current_pid};
use harness::isolated::run_isolated;
use harness::isolated_tests;

fn main() -> ExitCode {
    run_isolated(isolated_tests![
        ring_delivers_in_order_across_processes,
        ring_unused_producer_closes_when_dropped,
        ring_unused_end_moved_into_a_child_closes_there,
        ring_end_used_then_moved_delivers_everything,
        ring_second_process_on_a_used_end_gets_an_error,
        ring_first_process_to_use_an_end_claims_it,
        ring_consumer_moved_into_a_child,
        shared_memory_is_seen_by_every_process,
        robust_mutex_serialises_processes,
        robust_mutex_reports_a_dead_holder,
        semaphore_counts_across_processes,
        queue_between_processes_keeps_order_and_size,
        queue_many_processes_put_and_get_every_item_once,
        queue_with_a_putter_killed_mid_item_goes_on,
        queue_putter_learns_that_its_getter_died,
        queue_getter_terminated_while_idle_loses_nothing,
        queue_put_timeouts_bound_the_wait_for_room,
        joinable_queue_join_names_a_consumer_that_died,
        pipe_round_trip_and_end_of_file,
        manager_serves_every_process,
        manager_lists_and_dicts_behave_as_pythons,
        manager_lock_is_exclusive_across_processes,
        manager_moved_into_a_child_is_shut_down_there,
        manager_lock_skips_a_waiter_that_died,
        manager_namespace_and_queue_across_processes,
        manager_rlock_semaphore_and_condition,
        manager_releases_what_a_dead_client_held,
        manager_notify_wakes_a_live_waiter_not_a_dead_one,
        manager_client_killed_mid_send_costs_only_itself,
        process_lock_with_a_timeout,
        process_rlock_survives_a_dead_holder,
        process_condition_event_and_value,
        process_condition_wakes_a_live_waiter_after_one_was_killed,
    ])
}

/// Starts `target` in a child and returns its handle.
fn spawn(target: impl FnOnce() + Send + 'static) -> Process {
    let mut p = Process::new(target);
    p.start().expect("start");
    p
}

/// Joins and checks exit code 0 (a failed assertion in the child gives 1).
fn join_ok(p: Process) {
    assert_eq!(p.join().expect("join"), 0, "{} failed", p.name());
}

const PATIENCE: Duration = Duration::from_secs(10);

fn ring_delivers_in_order_across_processes() {
    let (tx, rx) = ring::channel::<u64, 64>().unwrap();
    let producer = spawn(move || (0..100_000).for_each(|i| tx.push(i).unwrap()));
    for expected in 0..100_000 {
        assert_eq!(rx.pop_timeout(PATIENCE), Ok(expected));
    }
    assert_eq!(rx.pop_timeout(PATIENCE), Err(RingError::Closed));
    join_ok(producer);
}

fn ring_unused_producer_closes_when_dropped() {
    let (tx, rx) = ring::channel::<u32, 4>().unwrap();
    let consumer = spawn(move || assert_eq!(rx.pop_timeout(PATIENCE), Err(RingError::Closed)));
    drop(tx); // never used: before, the consumer waited for ever
    join_ok(consumer);
}

fn ring_unused_end_moved_into_a_child_closes_there() {
    let (tx, rx) = ring::channel::<u32, 4>().unwrap();
    let child = spawn(move || drop(tx)); // the child gives it up unused
    assert_eq!(rx.pop_timeout(PATIENCE), Err(RingError::Closed));
    join_ok(child);
}

fn ring_end_used_then_moved_delivers_everything() {
    let (tx, rx) = ring::channel::<u32, 64>().unwrap();
    for i in 0..10 {
        tx.push(i).unwrap(); // the parent claims the end...
    }
    // ...and hands it over: dropping the parent's copy closes nothing.
    let child = spawn(move || (10..20).for_each(|i| tx.push(i).unwrap()));
    let got: Vec<u32> = std::iter::from_fn(|| rx.pop_timeout(PATIENCE).ok()).collect();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    join_ok(child);
}

thread_local! {
    /// A producer reachable from the parent and from every child it forks from this
    /// thread (`fork` copies thread-locals too), without moving it into a target.
    static TX: std::cell::OnceCell<ring::Producer<u32, 64>> = const { std::cell::OnceCell::new() };
}

fn with_tx<R>(f: impl FnOnce(&ring::Producer<u32, 64>) -> R) -> R {
    TX.with(|tx| f(tx.get().expect("set by the test")))
}

fn ring_second_process_on_a_used_end_gets_an_error() {
    let (tx, rx) = ring::channel::<u32, 64>().unwrap();
    TX.with(|cell| cell.set(tx).ok().expect("once"));
    with_tx(|tx| tx.push(1)).unwrap();
    let parent = current_pid();
    let child =
        spawn(move || assert_eq!(with_tx(|tx| tx.push(2)), Err(RingError::OtherProcess(parent))));
    join_ok(child);
    with_tx(|tx| tx.push(3)).unwrap();
    assert_eq!((rx.pop(), rx.pop()), (Ok(1), Ok(3)));
    assert_eq!(rx.pop_timeout(Duration::from_millis(10)), Err(RingError::Timeout));
}

fn ring_first_process_to_use_an_end_claims_it() {
    let (tx, rx) = ring::channel::<u32, 64>().unwrap();
    TX.with(|cell| cell.set(tx).ok().expect("once"));
    let child = spawn(|| with_tx(|tx| tx.push(7)).unwrap());
    let child_pid = child.pid().unwrap();
    join_ok(child);
    assert_eq!(with_tx(|tx| tx.push(8)), Err(RingError::OtherProcess(child_pid)));
    assert_eq!(rx.pop(), Ok(7));
}

fn ring_consumer_moved_into_a_child() {
    let (tx, rx) = ring::channel::<u64, 8>().unwrap();
    let sum = SharedMemory::new(AtomicU64::new(0)).unwrap();
    let consumer = spawn({
        let sum = sum.clone();
        move || {
            while let Ok(i) = rx.pop() {
                sum.fetch_add(i, SeqCst);
            }
        }
    });
    (1..=100).for_each(|i| tx.push(i).unwrap());
    drop(tx);
    join_ok(consumer);
    assert_eq!(sum.load(SeqCst), 5050);
}

fn shared_memory_is_seen_by_every_process() {
    let counters = SharedMemory::new([AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
    let children: Vec<Process> = (0..2)
        .map(|k| {
            let counters = counters.clone();
            spawn(move || {
                for _ in 0..1000 {
                    counters[k].fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    children.into_iter().for_each(join_ok);
    assert_eq!(counters.each_ref().map(|c| c.load(SeqCst)), [1000, 1000]);
}

process_shared! {
    struct Pair {
        a: i64,
        b: i64,
    }
}

fn robust_mutex_serialises_processes() {
    // Each child moves 1 from `a` to `b` a thousand times, holding the lock between
    // the two halves; the sum is right only if nobody saw a half-done move.
    let pair = RobustMutex::shared(Pair { a: 2000, b: 0 }).unwrap();
    let children: Vec<Process> = (0..2)
        .map(|_| {
            let pair = pair.clone();
            spawn(move || {
                for _ in 0..1000 {
                    let mut p = pair.lock().unwrap();
                    assert_eq!(p.a + p.b, 2000);
                    p.a -= 1;
                    std::hint::black_box(&mut *p);
                    p.b += 1;
                }
            })
        })
        .collect();
    children.into_iter().for_each(join_ok);
    let p = pair.lock().unwrap();
    assert_eq!((p.a, p.b, p.holder_died()), (0, 2000, false));
}

fn robust_mutex_reports_a_dead_holder() {
    let value = RobustMutex::shared(0_i32).unwrap();
    let holding = Semaphore::shared(0).unwrap();
    let holder = spawn({
        let (value, holding) = (value.clone(), holding.clone());
        move || {
            let mut v = value.lock().unwrap();
            *v = 41;
            holding.release().unwrap();
            sleep(Duration::from_secs(60)); // killed while holding the lock
        }
    });
    holding.acquire(None).unwrap();
    holder.kill().unwrap();
    assert_eq!(holder.join().unwrap(), -9);
    let mut v = value.lock().unwrap();
    assert!(v.holder_died());
    assert_eq!(*v, 41);
    *v += 1;
    drop(v);
    let v = value.lock().unwrap();
    assert_eq!((*v, v.holder_died()), (42, false));
}

fn semaphore_counts_across_processes() {
    let sem = Semaphore::shared(2).unwrap();
    let taker = spawn({
        let sem = sem.clone();
        move || {
            assert!(sem.acquire(None).unwrap());
            assert!(sem.acquire(Some(Duration::ZERO)).unwrap());
        }
    });
    join_ok(taker);
    assert_eq!(sem.value(), 0);
    assert!(!sem.acquire(Some(Duration::from_millis(20))).unwrap());
    sem.release().unwrap();
    assert!(sem.acquire(Some(Duration::MAX)).unwrap(), "a huge timeout waits, not panics");
}

fn queue_between_processes_keeps_order_and_size() {
    let q = Queue::<String>::bounded(3).unwrap();
    let filler = spawn({
        let q = q.clone();
        move || {
            for i in 1..=3 {
                q.put(format!("m{i}")).unwrap();
                assert_eq!(q.qsize(), i);
            }
        }
    });
    join_ok(filler);
    assert!(q.full());
    assert!(matches!(q.put_timeout("x".into(), Duration::from_millis(20)), Err(QueueError::Full)));
    let drainer = spawn({
        let q = q.clone();
        move || {
            let got: Vec<String> = (0..3).map(|_| q.get().unwrap()).collect();
            assert_eq!(got, ["m1", "m2", "m3"]);
        }
    });
    join_ok(drainer);
    assert_eq!(q.qsize(), 0);
    assert!(q.empty());
    assert!(matches!(q.get_timeout(Duration::from_millis(20)), Err(QueueError::Empty)));
}

fn pipe_round_trip_and_end_of_file() {
    let (here, there) = connection::pipe().unwrap();
    // The child sums what it gets until an empty message. (It could not wait for
    // end-of-file: it inherited a copy of the parent's end too.)
    let echo = spawn(move || {
        while let Ok(v) = there.recv::<Vec<u32>>() {
            there.send(&v.iter().sum::<u32>()).unwrap();
            if v.is_empty() {
                break;
            }
        }
    });
    for n in [1000_u32, 1, 0] {
        here.send(&(0..n).collect::<Vec<_>>()).unwrap();
        assert_eq!(here.recv::<u32>().unwrap(), (0..n).sum::<u32>());
    }
    join_ok(echo);
    // The child's end was moved into it, so its exit closed the last copy.
    assert_eq!(here.recv::<u32>().unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    let (quiet, _other) = connection::pipe().unwrap();
    assert!(!quiet.poll(Duration::from_millis(10)).unwrap());

    let (mut reader, mut writer) = connection::one_way().unwrap();
    let writer_child = spawn(move || writer.send(&"bye").unwrap());
    assert_eq!(reader.recv::<String>().unwrap(), "bye");
    join_ok(writer_child);
    let end = reader.recv::<String>().unwrap_err();
    assert_eq!(end.kind(), std::io::ErrorKind::UnexpectedEof);
}

fn manager_serves_every_process() {
    let manager = Manager::start().unwrap();
    let proxy = manager.proxy();
    let (d, l) = (proxy.dict::<i64, String>().unwrap(), proxy.list([1_i64]).unwrap());
    let other = proxy.list::<String>(Vec::new()).unwrap(); // several lists per server
    let children: Vec<Process> = (0..2)
        .map(|k| {
            let (d, l, other) = (d.clone(), l.clone(), other.clone());
            spawn(move || {
                l.append(10 + k).unwrap();
                d.insert(k, format!("child {k}")).unwrap();
                other.append(format!("from {k}")).unwrap();
            })
        })
        .collect();
    children.into_iter().for_each(join_ok);
    let mut list = l.to_vec().unwrap();
    list.sort();
    assert_eq!(list, [1, 10, 11]);
    let mut items = d.items().unwrap();
    items.sort();
    assert_eq!(items, [(0, "child 0".to_string()), (1, "child 1".to_string())]);
    assert_eq!(other.len().unwrap(), 2);
    manager.shutdown().unwrap();
    assert!(l.to_vec().is_err(), "an error, not a hang, after shutdown");
}

fn manager_lists_and_dicts_behave_as_pythons() {
    let manager = Manager::start().unwrap();
    let proxy = manager.proxy();
    let l = proxy.list(["a", "b", "c"].map(String::from)).unwrap();
    l.set(-1, "z".into()).unwrap(); // l[-1] = "z"
    assert_eq!(l.get(0).unwrap(), "a");
    assert_eq!(l.pop(Some(0)).unwrap(), "a");
    l.extend(["x".to_string(), "y".to_string()]).unwrap();
    assert_eq!(l.to_vec().unwrap(), ["b", "z", "x", "y"]);
    assert_eq!(l.len().unwrap(), 4);
    let err = l.get(10).unwrap_err();
    assert!(err.to_string().contains("list index out of range"), "{err}");
    let empty = proxy.list::<u8>(Vec::new()).unwrap();
    assert!(empty.pop(None).unwrap_err().to_string().contains("pop from empty list"));
    let d = proxy.dict::<String, Vec<u32>>().unwrap();
    assert_eq!(d.insert("b".into(), vec![1]).unwrap(), None);
    assert_eq!(d.insert("a".into(), vec![2]).unwrap(), None);
    assert_eq!(d.insert("b".into(), vec![3]).unwrap(), Some(vec![1]), "replaced, in place");
    let keys: Vec<String> = d.items().unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["b", "a"], "insertion order");
    assert_eq!(d.remove(&"b".into()).unwrap(), Some(vec![3]));
    assert_eq!((d.get(&"b".into()).unwrap(), d.len().unwrap()), (None, 1));
    let ns = proxy.namespace().unwrap();
    ns.set("point", &(1.5_f64, -2_i32)).unwrap();
    assert_eq!(ns.get::<(f64, i32)>("point").unwrap(), Some((1.5, -2)));
}

fn manager_lock_is_exclusive_across_processes() {
    let manager = Manager::start().unwrap();
    let inside = SharedMemory::new(AtomicU32::new(0)).unwrap();
    let children: Vec<Process> = (0..3)
        .map(|_| {
            let (proxy, inside) = (manager.proxy(), inside.clone());
            spawn(move || {
                for _ in 0..20 {
                    let _held = proxy.lock().unwrap();
                    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                    inside.fetch_sub(1, SeqCst);
                }
            })
        })
        .collect();
    children.into_iter().for_each(join_ok);
}

fn manager_moved_into_a_child_is_shut_down_there() {
    let manager = Manager::start().unwrap();
    let l = manager.proxy().list([1]).unwrap();
    let owner = spawn({
        let l = l.clone();
        move || {
            // The parent's copy was dropped by `start`: the server must still be there.
            l.append(2).unwrap();
            assert_eq!(l.to_vec().unwrap(), [1, 2]);
            drop(manager); // that shuts the server down
        }
    });
    join_ok(owner);
    assert!(l.to_vec().is_err(), "the child's drop shut the server down");
    // This process still reaps the server: the runner fails the test if a zombie is left.
    examples_process::active_children();
}

fn manager_lock_skips_a_waiter_that_died() {
    let manager = Manager::start().unwrap();
    let proxy = manager.proxy();
    let held = proxy.lock().unwrap();
    let waiter = |proxy: examples_ipc::manager::Proxy| {
        spawn(move || {
            let _lock = proxy.lock().unwrap();
        })
    };
    let doomed = waiter(manager.proxy());
    wait_until(|| proxy.lock_waiters().unwrap() == 1);
    let patient = waiter(manager.proxy());
    wait_until(|| proxy.lock_waiters().unwrap() == 2);
    doomed.kill().unwrap();
    assert_eq!(doomed.join().unwrap(), -9);
    drop(held); // goes to the first waiter that is alive: before, to the dead one
    assert_eq!(patient.join_timeout(PATIENCE).unwrap(), Some(0), "the live waiter got it");
    drop(proxy.lock().unwrap()); // and it is free again
}

/// Waits (at most `PATIENCE`) until `ready()`.
fn wait_until(ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "not ready after {PATIENCE:?}");
        sleep(Duration::from_millis(2));
    }
}

fn manager_namespace_and_queue_across_processes() {
    let manager = Manager::start().unwrap();
    let proxy = manager.proxy();
    let ns = proxy.namespace().unwrap();
    let queue = proxy.queue::<i64>().unwrap();
    let child = spawn({
        let (ns, queue) = (ns.clone(), queue.clone());
        move || {
            ns.set("x", &1).unwrap();
            ns.set("y", &2).unwrap();
            assert_eq!(queue.get().unwrap(), 10, "waits for the parent's put");
            queue.put(&20).unwrap();
        }
    });
    sleep(Duration::from_millis(50)); // the child is waiting in `get` by now, most likely
    queue.put(&10).unwrap();
    assert_eq!(queue.get().unwrap(), 20);
    join_ok(child);
    let get = |name| ns.get::<i32>(name).unwrap();
    assert_eq!((get("x"), get("y"), get("z")), (Some(1), Some(2), None));
}

fn manager_rlock_semaphore_and_condition() {
    let manager = Manager::start().unwrap();
    let proxy = manager.proxy();
    // An RLock taken twice by one process, released twice; then another may take it.
    let rlock = proxy.rlock().unwrap();
    let outer = rlock.acquire().unwrap();
    let inner = rlock.acquire().unwrap();
    drop(inner);
    let other = spawn({
        let rlock = rlock.clone();
        move || drop(rlock.acquire().unwrap())
    });
    wait_until(|| rlock.waiters().unwrap() == 1); // still held once
    drop(outer);
    join_ok(other);
    // A semaphore of 2: three processes, never more than two inside.
    let semaphore = proxy.semaphore(2).unwrap();
    let inside = SharedMemory::new([AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
    let workers: Vec<Process> = (0..3)
        .map(|_| {
            let (semaphore, inside) = (semaphore.clone(), inside.clone());
            spawn(move || {
                let _permit = semaphore.acquire().unwrap();
                let now = inside[0].fetch_add(1, SeqCst) + 1;
                inside[1].fetch_max(now, SeqCst);
                sleep(Duration::from_millis(50));
                inside[0].fetch_sub(1, SeqCst);
            })
        })
        .collect();
    workers.into_iter().for_each(join_ok);
    assert_eq!(inside[1].load(SeqCst), 2);
    // A condition: one child waits, another notifies.
    let condition = proxy.condition().unwrap();
    let waiter = spawn({
        let condition = condition.clone();
        move || {
            let mut held = condition.acquire().unwrap();
            held.wait().unwrap();
        }
    });
    wait_until(|| condition.waiters().unwrap() == 1);
    let notifier = spawn({
        let condition = condition.clone();
        move || assert_eq!(condition.acquire().unwrap().notify(1).unwrap(), 1)
    });
    join_ok(notifier);
    join_ok(waiter);
    // (Waiting without the lock, CPython's RuntimeError, does not compile: `wait` is a
    // method of the guard that `acquire` returns.)
}

/// A client killed while it holds the manager's lock: the lock is released (before, it
/// stayed taken for ever, as CPython's does).
fn manager_releases_what_a_dead_client_held() {
    let manager = Manager::start().unwrap();
    let holding = Event::shared().unwrap();
    let holder = spawn({
        let (proxy, holding) = (manager.proxy(), holding.clone());
        move || {
            let _held = proxy.lock().unwrap();
            holding.set();
            sleep(Duration::from_secs(60)); // killed while holding it
        }
    });
    assert!(holding.wait(Some(PATIENCE)));
    holder.kill().unwrap();
    assert_eq!(holder.join().unwrap(), -9);
    let taker = spawn({
        let proxy = manager.proxy();
        move || drop(proxy.lock().unwrap())
    });
    assert_eq!(taker.join_timeout(PATIENCE).unwrap(), Some(0), "the lock stayed taken");
}

/// `notify(1)` with a dead waiter and a live one: the live one is woken, and the count
/// says one (before, the dead waiter was counted and the live one slept on).
fn manager_notify_wakes_a_live_waiter_not_a_dead_one() {
    let manager = Manager::start().unwrap();
    let condition = manager.proxy().condition().unwrap();
    let waiter = |condition: examples_ipc::manager::ConditionProxy| {
        spawn(move || {
            let mut held = condition.acquire().unwrap();
            held.wait().unwrap();
        })
    };
    let doomed = waiter(condition.clone());
    wait_until(|| condition.waiters().unwrap() == 1);
    let live = waiter(condition.clone());
    wait_until(|| condition.waiters().unwrap() == 2);
    doomed.kill().unwrap();
    assert_eq!(doomed.join().unwrap(), -9);
    let woken = condition.acquire().unwrap().notify(1).unwrap();
    assert_eq!(woken, 1);
    assert_eq!(live.join_timeout(PATIENCE).unwrap(), Some(0), "the live waiter slept on");
}

/// A client killed half-way through sending a large value: the server goes on serving
/// everyone else (before, it ended the server). The kill comes at several moments, so
/// that some land in the middle of a send.
fn manager_client_killed_mid_send_costs_only_itself() {
    let manager = Manager::start().unwrap();
    let ns = manager.proxy().namespace().unwrap();
    for round in 0..10_u64 {
        let sender = spawn({
            let ns = ns.clone();
            let big = "x".repeat(32 << 20); // a string travels as one block: the send is long
            move || loop {
                ns.set("big", &big).unwrap();
            }
        });
        sleep(Duration::from_millis(20 + 15 * round));
        sender.kill().unwrap();
        assert_eq!(sender.join().unwrap(), -9);
        ns.set("small", &round).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(ns.get::<u64>("small").unwrap(), Some(round));
    }
}

fn process_lock_with_a_timeout() {
    let lock = new_lock().unwrap();
    let holding = Event::shared().unwrap();
    let holder = spawn({
        let (lock, holding) = (lock.clone(), holding.clone());
        move || {
            let _held = lock.lock().unwrap();
            holding.set();
            sleep(Duration::from_millis(300));
        }
    });
    assert!(holding.wait(Some(PATIENCE)));
    assert!(lock.try_lock().unwrap().is_none(), "taken by the child");
    assert!(lock.lock_timeout(Duration::from_millis(20)).unwrap().is_none());
    assert!(lock.lock_timeout(PATIENCE).unwrap().is_some(), "free once the child lets go");
    join_ok(holder);
    let bounded = Semaphore::bounded_shared(1).unwrap();
    let child = spawn({
        let bounded = bounded.clone();
        move || assert!(bounded.release().is_err(), "released too many times")
    });
    join_ok(child);
}

fn process_rlock_survives_a_dead_holder() {
    let rlock = RLock::shared().unwrap();
    let holding = Event::shared().unwrap();
    let holder = spawn({
        let (rlock, holding) = (rlock.clone(), holding.clone());
        move || {
            let _outer = rlock.acquire().unwrap();
            let _inner = rlock.acquire().unwrap(); // twice, then killed holding both
            holding.set();
            sleep(Duration::from_secs(60));
        }
    });
    assert!(holding.wait(Some(PATIENCE)));
    assert!(rlock.try_acquire().unwrap().is_none());
    holder.kill().unwrap();
    assert_eq!(holder.join().unwrap(), -9);
    let taken = rlock.acquire_timeout(PATIENCE).unwrap().expect("recovered from the dead holder");
    drop(taken);
    assert!(rlock.try_acquire().unwrap().is_some(), "and free after one release");
}

fn process_condition_event_and_value() {
    // A condition: the child waits for the state the parent sets.
    let cond = Condition::shared(0_u32).unwrap();
    let waiter = spawn({
        let cond = cond.clone();
        move || {
            let mut state = cond.lock().unwrap();
            assert!(state.wait_for(|n| *n == 7, Some(PATIENCE)).unwrap());
        }
    });
    sleep(Duration::from_millis(20));
    {
        let mut state = cond.lock().unwrap();
        *state = 7;
        state.notify_all();
    }
    join_ok(waiter);
    // An event set by a child; a value two children add to, under one external lock.
    let done = Event::shared().unwrap();
    let lock = new_lock().unwrap();
    let total = Value::with_lock(0_u64, lock.clone()).unwrap();
    let children: Vec<Process> = (0..2)
        .map(|_| {
            let (total, lock) = (total.clone(), lock.clone());
            spawn(move || {
                for _ in 0..1000 {
                    let mut held = lock.lock().unwrap();
                    *total.get_obj(&mut held).unwrap() += 1;
                }
            })
        })
        .collect();
    let setter = spawn({
        let done = done.clone();
        move || done.set()
    });
    children.into_iter().for_each(join_ok);
    join_ok(setter);
    assert!(done.wait(Some(Duration::ZERO)), "set by the child");
    assert_eq!(total.get().unwrap(), 2000);
}

/// A waiter killed while it sleeps on a condition leaves nothing behind: a notify then
/// returns at once, and the next waiter is woken by the next notify. (On a glibc
/// `pthread_cond_t`, the dead waiter stayed counted: the first notify went to it, and
/// the next one blocked for ever inside `pthread_cond_signal`, holding the lock.)
fn process_condition_wakes_a_live_waiter_after_one_was_killed() {
    let cond = Condition::shared(0_u32).unwrap();
    let asleep = Semaphore::shared(0).unwrap();
    let waiter = |cond: SharedMemory<Condition<u32>>, asleep: SharedMemory<Semaphore>| {
        move || {
            let mut state = cond.lock().unwrap();
            asleep.release().unwrap(); // the parent can take the lock once we wait
            let woken = state.wait_for(|n| *n > 0, Some(PATIENCE)).unwrap();
            assert!(woken, "not woken by the notify");
        }
    };
    // Each notify runs in a child, so that one that blocks fails the test in time.
    let notify = |cond: &SharedMemory<Condition<u32>>, set: u32| {
        let cond = cond.clone();
        let notifier = spawn(move || {
            let mut state = cond.lock().unwrap();
            *state = set;
            state.notify(1);
        });
        assert_eq!(notifier.join_timeout(PATIENCE).unwrap(), Some(0), "notify blocked");
    };
    let doomed = spawn(waiter(cond.clone(), asleep.clone()));
    asleep.acquire(None).unwrap();
    drop(cond.lock().unwrap()); // it has let go of the lock: it is asleep, or about to be
    sleep(Duration::from_millis(50));
    doomed.kill().unwrap();
    assert_eq!(doomed.join().unwrap(), -9);
    notify(&cond, 0); // nobody alive waits

    let live = spawn(waiter(cond.clone(), asleep.clone()));
    asleep.acquire(None).unwrap();
    notify(&cond, 1);
    join_ok(live);
}

fn queue_many_processes_put_and_get_every_item_once() {
    // Three putters and two getters, each a process; items of any size, some larger
    // than the ring, which stream through it.
    let q = Queue::<Vec<u32>>::unbounded().unwrap();
    let sums = SharedMemory::new([const { AtomicU64::new(0) }; 2]).unwrap();
    let mut processes = Vec::new();
    for p in 0..3_u32 {
        let q = q.clone();
        processes.push(Process::new(move || {
            for k in 0..200_u32 {
                let len = if k % 50 == 0 { 300_000 } else { (k % 7) as usize };
                q.put(vec![p * 1000 + k; len]).unwrap();
            }
        }));
    }
    for g in 0..2 {
        let (q, sums) = (q.clone(), sums.clone());
        processes.push(Process::new(move || {
            while let Ok(item) = q.get_timeout(Duration::from_secs(3)) {
                assert!(item.iter().all(|&x| x == item[0]), "an item arrives whole");
                sums[g].fetch_add(item.iter().map(|&x| u64::from(x)).sum(), SeqCst);
            }
        }));
    }
    processes.iter_mut().for_each(|p| p.start().unwrap());
    processes.iter().for_each(|p| assert_eq!(p.join().unwrap(), 0));
    let expected: u64 = (0..3_u64)
        .flat_map(|p| (0..200_u64).map(move |k| (p, k)))
        .map(|(p, k)| (p * 1000 + k) * if k % 50 == 0 { 300_000 } else { k % 7 })
        .sum();
    assert_eq!(sums[0].load(SeqCst) + sums[1].load(SeqCst), expected);
    assert_eq!(q.qsize(), 0);
}

/// Waits (at most 30 s) until process `pid` sleeps: it is waiting for something.
fn wait_until_asleep(pid: i32) {
    let stat = format!("/proc/{pid}/stat");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&stat).unwrap();
        let state = text.rsplit(") ").next().unwrap().chars().next();
        if state == Some('S') {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{pid} never slept");
        sleep(Duration::from_millis(5));
    }
}

fn send_signal(p: &Process, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid().unwrap()), signal).unwrap();
}

/// A putter killed in the middle of an item: the item was never put, and the queue goes
/// on (before, the queue was broken for good).
fn queue_with_a_putter_killed_mid_item_goes_on() {
    let q = Queue::<Vec<u8>>::unbounded().unwrap();
    // Three times the ring: it waits for room, holding the put lock, a third written.
    let putter = spawn({
        let q = q.clone();
        move || q.put(vec![7; 3 << 20]).unwrap()
    });
    wait_until_asleep(putter.pid().unwrap());
    putter.kill().unwrap();
    assert_eq!(putter.join().unwrap(), -9);
    assert_eq!(q.qsize(), 0, "no whole item was put");
    let next = spawn({
        let q = q.clone();
        move || q.put(vec![1, 2, 3]).unwrap()
    });
    assert_eq!(q.get_timeout(PATIENCE).unwrap(), [1, 2, 3], "the half-put item is dropped");
    join_ok(next);
    assert_eq!(q.qsize(), 0);
}

/// A getter killed in the middle of an item: the putter still writing it is told (before,
/// it waited for room for ever), later calls do not wait on the dead getter, and the
/// queue goes on.
fn queue_putter_learns_that_its_getter_died() {
    use nix::sys::signal::Signal;
    let q = Queue::<Vec<u8>>::unbounded().unwrap();
    let putter = spawn({
        let q = q.clone();
        move || match q.put(vec![7; 3 << 20]) {
            Err(QueueError::TakerDied) => std::process::exit(3),
            other => panic!("{other:?}"),
        }
    });
    wait_until_asleep(putter.pid().unwrap()); // a third written, waiting for room
    send_signal(&putter, Signal::SIGSTOP); // it holds the put lock, stopped
    let getter = spawn({
        let q = q.clone();
        move || drop(q.get()) // takes what is there, then waits for the rest
    });
    wait_until_asleep(getter.pid().unwrap());
    // The put lock's holder is stopped: a timed put gives up in time.
    let started = std::time::Instant::now();
    assert!(matches!(q.put_timeout(vec![1], Duration::from_millis(200)), Err(QueueError::Full)));
    assert!(started.elapsed() < Duration::from_secs(5));
    getter.kill().unwrap();
    assert_eq!(getter.join().unwrap(), -9);
    send_signal(&putter, Signal::SIGCONT);
    assert_eq!(putter.join_timeout(PATIENCE).unwrap(), Some(3), "the putter was not told");
    q.put(vec![9]).unwrap();
    assert_eq!(q.get_timeout(PATIENCE).unwrap(), [9], "the queue goes on");
    assert_eq!(q.qsize(), 0);
}

/// A getter terminated while it waits in `get()`, holding no item, loses nothing (before,
/// it marked the queue broken and the next item was lost).
fn queue_getter_terminated_while_idle_loses_nothing() {
    let q = Queue::<u32>::bounded(2).unwrap();
    let idle = spawn({
        let q = q.clone();
        move || drop(q.get())
    });
    wait_until_asleep(idle.pid().unwrap());
    idle.terminate().unwrap();
    assert_eq!(idle.join().unwrap(), -15);
    q.put(41).unwrap();
    assert_eq!((q.qsize(), q.get_timeout(PATIENCE).unwrap()), (1, 41));
}

/// Every timeout bounds every wait: the room in the ring too (before, `put_nowait` and
/// `put_timeout` waited for room for ever).
fn queue_put_timeouts_bound_the_wait_for_room() {
    let q = Queue::<Vec<u8>>::unbounded().unwrap();
    while q.put_timeout(vec![0; 100_000], Duration::from_millis(50)).is_ok() {} // fill it
    let started = std::time::Instant::now();
    assert!(matches!(q.put_nowait(vec![1; 200_000]), Err(QueueError::Full)));
    assert!(matches!(
        q.put_timeout(vec![1; 200_000], Duration::from_millis(50)),
        Err(QueueError::Full)
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    let items = q.qsize();
    assert!(items >= 10, "{items}");
    for _ in 0..items {
        assert_eq!(q.get_nowait().unwrap().len(), 100_000);
    }
    assert!(matches!(q.get_nowait(), Err(QueueError::Empty)));
}

/// A `JoinableQueue` consumer killed between `get` and `task_done`: `join` fails, naming
/// it, instead of waiting for ever.
fn joinable_queue_join_names_a_consumer_that_died() {
    use examples_ipc::queue::JoinableQueue;
    let q = JoinableQueue::<u32>::unbounded().unwrap();
    for i in 0..3 {
        q.put(i).unwrap();
    }
    let consumer = spawn({
        let q = q.clone();
        move || {
            q.get().unwrap();
            q.task_done().unwrap();
            q.get().unwrap();
            sleep(Duration::from_secs(60)); // killed before its task_done
        }
    });
    wait_until(|| q.qsize() == 1);
    consumer.kill().unwrap();
    let pid = consumer.pid().unwrap();
    assert_eq!(q.get().unwrap(), 2);
    q.task_done().unwrap();
    match q.join() {
        Err(QueueError::Died { pid: died, unfinished: 1 }) => assert_eq!(died, pid),
        other => panic!("{other:?}"),
    }
    assert_eq!(consumer.join().unwrap(), -9);
}
