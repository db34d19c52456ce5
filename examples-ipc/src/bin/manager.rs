//! A manager process owns a dict, a list and a lock; children reach them by proxy.
//!
//! Mirrors note 001 "3. c. Manager": two children each take the lock, put their pid into
//! the shared dict, append it to the shared list `[0, 1, 2, 3, 4]`, print the list and
//! release the lock; the parent then prints the dict and the list. Then the other
//! objects the note lists, one step each: a `Namespace` with two attributes, a `Queue`
//! a child puts into, an `RLock` taken twice, a `Semaphore(2)` that a third taker waits
//! for, and a `Condition` that one child waits on and another notifies.
//!
//! | CPython                                    | Rust (`examples_ipc::manager`)             |
//! |--------------------------------------------|--------------------------------------------|
//! | `with Manager() as manager:`               | `let manager = Manager::start()?;` (dropped: shut down) |
//! | `d = manager.dict()`, `l = manager.list(range(5))` | `proxy.dict::<i64, i64>()?`, `proxy.list(0..5)?` |
//! | `lock = manager.Lock()`                    | the server's lock, through `proxy.lock()?` |
//! | `Process(target=f, args=(d, l, lock))`     | `Process::new(move \|\| f(&d, &l, &proxy))` with cloned proxies |
//! | `d[os.getpid()] = os.getpid()`             | `d.insert(pid, pid)?`                      |
//! | `l.append(os.getpid())`, `print(l)`        | `l.append(pid)?`, `l.to_vec()?`            |
//! | `l[0] = 100`, `l.pop()`, `l.extend(xs)`, `len(l)` | `l.set(0, 100)?`, `l.pop(None)?`, `l.extend(xs)?`, `l.len()?` |
//! | `ns = manager.Namespace(); ns.x = 1`       | `let ns = proxy.namespace()?; ns.set("x", &1)?` |
//! | `q = manager.Queue()`, `q.put`, `q.get`    | `proxy.queue::<i64>()?`, `put(&v)?`, `get()?` |
//! | `manager.RLock()`, `manager.Semaphore(2)`  | `proxy.rlock()?`, `proxy.semaphore(2)?`, then `acquire()?` |
//! | `c = manager.Condition()`, `c.wait()`, `c.notify()` | `proxy.condition()?`, `acquire()?.wait()?`, `.notify(1)?` |
//!
//! Run: `cargo run -p examples-ipc --bin manager`
//!
//! Output: the parent holds the manager's lock while both children start; they queue
//! for it, and meanwhile the manager still answers the parent ("2 clients waiting,
//! list still [0, 1, 2, 3, 4]"). Then each child, in turn, prints the list with its pid
//! appended; the parent prints the dict (both pids, in insertion order) and the 7-item
//! list, then changes the list as Python code would (`l[0] = 100`, `pop`, `extend`);
//! then one line per other object; after shutdown, a proxy call returns an error. What varies: the
//! pids, and which child goes first.
//!
//! Where Rust differs: a proxy's calls are typed methods, not attribute access on a
//! generic proxy object, and each proxy holds one type of value (any serde type),
//! where CPython's holds any picklable object and can register any type. `wait` and `notify` are methods of the
//! guard `acquire` returns, so calling them without the lock (CPython: `RuntimeError:
//! cannot wait on un-acquired lock`) does not compile. A call to a manager that has
//! shut down returns `Err` immediately.
//!
//! In your own program: a server you talk to over a socket (a database, Redis) when
//! several programs share state; `Arc<Mutex<_>>` when they are threads of one.
//!
//! Copy it: `cargo new manager`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! cargo add nix@0.31 --features process
//! ```

use std::io;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_ipc::manager::{DictProxy, ListProxy, Manager, Proxy};
use examples_process::{Failure, Process};
use nix::unistd::getpid;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let manager = Manager::start()?;
    let proxy = manager.proxy();
    println!("main: manager server pid={}", manager.pid().unwrap_or_default());
    let d = proxy.dict::<i64, i64>()?; // manager.dict()
    let l = proxy.list(0..5_i64)?; // manager.list(range(5))

    let mut children: Vec<Process> = (0..2)
        .map(|_| {
            let (d, l, proxy) = (d.clone(), l.clone(), manager.proxy());
            Process::new(move || f(&d, &l, &proxy).expect("the manager answers"))
        })
        .collect();
    // Hold the lock while the children start, so both queue up at the server. Taken
    // after `children` is declared, so that if anything below fails, the lock is
    // released before the children's handles wait for them (locals drop in reverse).
    let held = proxy.lock()?;
    for child in &mut children {
        child.start()?;
    }
    let waiting = wait_for_waiters(&proxy, 2)?;
    let list_meanwhile = l.to_vec()?;
    println!(
        "main: {waiting} clients waiting for the lock; the manager still answers: list {list_meanwhile:?}"
    );
    // Keep them waiting a moment, long enough to watch (or to press Ctrl-C).
    sleep(Duration::from_millis(300));
    drop(held); // lock.release(): the first waiter gets it

    let codes = children.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;
    let dict = d.items()?;
    let list = l.to_vec()?;
    let shown: Vec<String> = dict.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("main: d = {{{}}}", shown.join(", ")); // in insertion order, as Python's
    println!("main: l = {list:?}");

    // A list proxy does what a list does, each step a call to the server.
    l.set(0, 100)?; // l[0] = 100
    let last = l.pop(None)?; // l.pop()
    l.extend([7, 8])?;
    println!(
        "main: after l[0] = 100, l.pop() -> {last}, l.extend([7, 8]): l = {:?}, len {}",
        l.to_vec()?,
        l.len()?
    );
    let out_of_range = l.get(99).is_err(); // IndexError

    let others = other_objects(&proxy)?;

    manager.shutdown()?;
    let after = l.to_vec();
    println!("main: a call after shutdown returns an error: {}", after.is_err());

    let pids: Vec<i64> = children.iter().filter_map(|c| c.pid()).map(i64::from).collect();
    assert_eq!(codes, [0, 0]);
    assert_eq!((waiting, list_meanwhile.as_slice()), (2, &[0, 1, 2, 3, 4][..]));
    assert_eq!(dict.len(), 2);
    assert!(pids.iter().all(|pid| dict.contains(&(*pid, *pid))));
    assert!(out_of_range);
    assert_eq!(list.len(), 7);
    assert_eq!(list[..5], [0, 1, 2, 3, 4]);
    assert!(pids.iter().all(|pid| list[5..].contains(pid)));
    assert!(after.is_err());
    let expected = Others { x: Some(1), y: Some(2), from_child: true, waited: 1, codes: [0, 0] };
    assert_eq!(others, expected);
    println!("main: ok");
    Ok(())
}

/// The note's `f(d, l, lock)`.
fn f(d: &DictProxy<i64, i64>, l: &ListProxy<i64>, proxy: &Proxy) -> io::Result<()> {
    let pid = i64::from(getpid().as_raw());
    let _lock = proxy.lock()?; // lock.acquire(); released at the end of `f`
    d.insert(pid, pid)?;
    l.append(pid)?;
    println!("child pid={pid}: l = {:?}", l.to_vec()?);
    Ok(())
}

/// What `other_objects` saw, for main's checks.
#[derive(Debug, PartialEq)]
struct Others {
    x: Option<i64>,
    y: Option<i64>,
    /// The queue gave the pid of the child that put it.
    from_child: bool,
    /// Processes that waited for the semaphore's third permit.
    waited: usize,
    /// The condition's notifier (which checks that it woke one) and waiter.
    codes: [i32; 2],
}

/// The rest of what note 001 lists next to dict and list: Namespace, Queue, RLock,
/// Semaphore and Condition, one step each.
fn other_objects(proxy: &Proxy) -> io::Result<Others> {
    let ns = proxy.namespace()?; // manager.Namespace()
    ns.set("x", &1_i64)?;
    ns.set("y", &2_i64)?;
    let (x, y) = (ns.get::<i64>("x")?, ns.get::<i64>("y")?);
    println!("namespace: ns.x={x:?} ns.y={y:?}");

    let queue = proxy.queue::<i64>()?; // manager.Queue(), handed to a child
    let mut putter = Process::new({
        let queue = queue.clone();
        move || queue.put(&i64::from(getpid().as_raw())).expect("the manager answers")
    });
    putter.start()?;
    let got = queue.get()?;
    putter.join()?;
    println!("queue: got {got} from the child that put its pid");

    let rlock = proxy.rlock()?; // manager.RLock(): one process may take it twice
    {
        let _outer = rlock.acquire()?;
        let _inner = rlock.acquire()?;
        println!("rlock: taken twice by this process, released twice");
    }

    let semaphore = proxy.semaphore(2)?; // manager.Semaphore(2): a third taker waits
    let mut third = Process::new({
        let semaphore = semaphore.clone();
        move || drop(semaphore.acquire().expect("the manager answers"))
    });
    let permits = [semaphore.acquire()?, semaphore.acquire()?];
    third.start()?;
    let waited = wait_until(|| semaphore.waiters(), 1)?;
    drop(permits); // the third process gets one
    third.join()?;
    println!("semaphore(2): two permits taken here, {waited} process waited for a third");

    let condition = proxy.condition()?; // manager.Condition(): one waits, another notifies
    let mut waiter = Process::new({
        let condition = condition.clone();
        move || {
            let mut held = condition.acquire().expect("the manager answers");
            held.wait().expect("the manager answers"); // lets go of the lock meanwhile
            println!("condition: the waiter woke, holding the lock again");
        }
    });
    let mut notifier = Process::new({
        let condition = condition.clone();
        move || {
            let held = condition.acquire().expect("the manager answers");
            let woken = held.notify(1).expect("the manager answers");
            // Still holding the lock: the waiter wakes only once `held` goes, after this.
            println!("condition: notify(1) woke {woken}");
            assert_eq!(woken, 1);
            drop(held);
        }
    });
    waiter.start()?;
    wait_until(|| condition.waiters(), 1)?;
    notifier.start()?;
    let codes = [notifier.join()?, waiter.join()?];
    let from_child = putter.pid().is_some_and(|pid| got == i64::from(pid));
    Ok(Others { x, y, from_child, waited, codes })
}

/// Asks `count` until it reaches `n` (at most 10 s); returns the last answer.
fn wait_until(count: impl Fn() -> io::Result<usize>, n: usize) -> io::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = count()?;
        if now >= n || Instant::now() >= deadline {
            return Ok(now);
        }
        sleep(Duration::from_millis(5));
    }
}

/// Asks the manager until `n` clients wait for its lock (at most 10 s).
fn wait_for_waiters(proxy: &Proxy, n: usize) -> io::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = proxy.lock_waiters()?;
        if waiting >= n || Instant::now() >= deadline {
            return Ok(waiting);
        }
        sleep(Duration::from_millis(5));
    }
}
