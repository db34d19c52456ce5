//! CPython's `multiprocessing.Manager()`: a server process that owns shared objects,
//! and proxies that other processes use to reach them.
//!
//! The server is a forked child that owns a dict, a list and a lock from the start, and
//! makes more objects on request: a `Namespace`, a `Queue`, an `RLock`, a `Semaphore`
//! and a `Condition`, as `manager.Namespace()` and the others do. A [`Proxy`] sends
//! each call as a message over an `ipc-channel` channel, with a fresh reply channel
//! attached, and waits for the answer. A request that cannot be answered yet (a lock
//! that is taken, an empty queue, a condition waited on) is queued, not waited for, so
//! the server keeps answering other clients meanwhile.
//!
//! | CPython                                  | here                                          |
//! |------------------------------------------|-----------------------------------------------|
//! | `manager = Manager()`                    | `let manager = Manager::start(list)?;`        |
//! | `d = manager.dict()`, `l = manager.list()` | `proxy.dict_insert(k, v)?`, `proxy.list_append(x)?` |
//! | `lock = manager.Lock()`                  | `proxy.lock()?` (a guard)                     |
//! | `ns = manager.Namespace(); ns.x = 1`     | `let ns = proxy.namespace()?; ns.set("x", 1)?` |
//! | `q = manager.Queue(); q.put(1); q.get()` | `let q = proxy.queue()?; q.put(1)?; q.get()?` |
//! | `r = manager.RLock()`                    | `let r = proxy.rlock()?; r.acquire()?`        |
//! | `s = manager.Semaphore(2)`               | `let s = proxy.semaphore(2)?; s.acquire()?`   |
//! | `c = manager.Condition(); with c: c.wait()` | `let c = proxy.condition()?; c.acquire()?.wait()?` |
//! | `c.notify()`, `c.notify_all()`           | `guard.notify(1)?`, `guard.notify_all()?`     |
//!
//! Locks belong to a process: a client is named by its pid, so two threads of one
//! process share its holds.
//!
//! ```
//! use examples_ipc::manager::Manager;
//!
//! let manager = Manager::start(vec![0, 1, 2])?;
//! let proxy = manager.proxy();
//! proxy.list_append(3)?;
//! assert_eq!(proxy.list()?, [0, 1, 2, 3]);
//! let ns = proxy.namespace()?;
//! ns.set("x", 10)?;
//! assert_eq!(ns.get("x")?, Some(10));
//! manager.shutdown()?;
//! assert!(proxy.list().is_err()); // an error, not a hang, once the server is gone
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::time::Duration;

use examples_process::{Process, current_pid, moving_to_child};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

/// The shared dict: CPython's `manager.dict()`, here with integer keys and values.
pub type Dict = BTreeMap<i64, i64>;

/// Which server-side object a call is about. Object 0 is the manager's `Lock`.
type Id = usize;

const LOCK: Id = 0;

#[derive(Serialize, Deserialize, Debug)]
enum Kind {
    Namespace,
    Queue,
    RLock,
    Semaphore(u32),
    Condition,
}

#[derive(Serialize, Deserialize, Debug)]
enum Call {
    DictInsert(i64, i64),
    Dict,
    ListAppend(i64),
    List,
    New(Kind),
    Acquire(Id),
    Release(Id),
    Waiters(Id),
    Set(Id, String, i64),
    Get(Id, String),
    Put(Id, i64),
    Take(Id),
    Wait(Id),
    Notify(Id, usize),
    Shutdown,
}

#[derive(Serialize, Deserialize, Debug)]
enum Reply {
    Done,
    Dict(Dict),
    List(Vec<i64>),
    Count(usize),
    Made(Id),
    Value(Option<i64>),
    /// The call does not fit the object, or the caller does not hold the lock.
    Refused(String),
}

#[derive(Serialize, Deserialize)]
struct Request {
    call: Call,
    client: i32,
    reply: IpcSender<Reply>,
}

/// The running server; dropping it shuts the server down (CPython: leaving
/// `with Manager() as manager:`).
///
/// A `Manager` moved into a child belongs to that child from then on: the parent's copy,
/// dropped by `start`, leaves the server running, and the child's drop shuts it down.
/// (The parent still reaps the server process when it has ended.)
pub struct Manager {
    proxy: Proxy,
    server: Process,
}

/// How long `shutdown` and `drop` wait for the server to end before killing it.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

/// A handle to the manager's objects, for any process. Clone it for each child.
#[derive(Clone)]
pub struct Proxy {
    requests: IpcSender<Request>,
}

impl Manager {
    /// Forks the server with an empty dict, the given list and a lock.
    pub fn start(list: Vec<i64>) -> io::Result<Manager> {
        let (requests, incoming) = ipc::channel::<Request>()?;
        let mut server = Process::new(move || serve(incoming, list)).with_name("SyncManager");
        server.start()?; // the parent's copy of `incoming` is dropped: only the server reads
        Ok(Manager { server, proxy: Proxy { requests } })
    }

    /// A proxy to hand to a child.
    pub fn proxy(&self) -> Proxy {
        self.proxy.clone()
    }

    /// The server's pid.
    pub fn pid(&self) -> Option<i32> {
        self.server.pid()
    }

    /// Asks the server to stop and waits for it to end (CPython: `manager.shutdown()`).
    pub fn shutdown(self) -> io::Result<()> {
        self.stop()
    } // `Drop` runs next: the server has ended, so it only reaps.

    /// Asks the server to stop; waits a while for it to end, then kills it.
    fn stop(&self) -> io::Result<()> {
        if !self.server.is_alive() {
            return Ok(());
        }
        let asked = self.proxy.call(Call::Shutdown);
        if !self.server.wait_ended(STOP_PATIENCE)? {
            self.server.kill()?;
            self.server.wait_ended(STOP_PATIENCE)?;
        }
        asked.map(drop)
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if moving_to_child().is_some() {
            return; // the child that holds the manager now shuts it down
        }
        let _ = self.stop();
    } // then `server` is dropped: it has ended, so the parent only reaps it
}

impl Proxy {
    /// `d[key] = value`.
    pub fn dict_insert(&self, key: i64, value: i64) -> io::Result<()> {
        self.call(Call::DictInsert(key, value)).map(drop)
    }

    /// A copy of the whole dict (CPython: `print(d)` fetches it the same way).
    pub fn dict(&self) -> io::Result<Dict> {
        match self.call(Call::Dict)? {
            Reply::Dict(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    /// `l.append(value)`.
    pub fn list_append(&self, value: i64) -> io::Result<()> {
        self.call(Call::ListAppend(value)).map(drop)
    }

    /// A copy of the whole list.
    pub fn list(&self) -> io::Result<Vec<i64>> {
        match self.call(Call::List)? {
            Reply::List(l) => Ok(l),
            other => Err(unexpected(other)),
        }
    }

    /// Waits for the manager's lock (CPython: `lock.acquire()` on `manager.Lock()`);
    /// it is released when the guard is dropped.
    pub fn lock(&self) -> io::Result<Held<'_>> {
        self.acquire(LOCK)
    }

    /// How many clients are waiting for the manager's lock right now.
    pub fn lock_waiters(&self) -> io::Result<usize> {
        self.waiters(LOCK)
    }

    /// A new namespace on the server (CPython: `manager.Namespace()`).
    pub fn namespace(&self) -> io::Result<NamespaceProxy> {
        Ok(NamespaceProxy { proxy: self.clone(), id: self.new_object(Kind::Namespace)? })
    }

    /// A new queue on the server (CPython: `manager.Queue()`).
    pub fn queue(&self) -> io::Result<QueueProxy> {
        Ok(QueueProxy { proxy: self.clone(), id: self.new_object(Kind::Queue)? })
    }

    /// A new reentrant lock on the server (CPython: `manager.RLock()`).
    pub fn rlock(&self) -> io::Result<LockProxy> {
        Ok(LockProxy { proxy: self.clone(), id: self.new_object(Kind::RLock)? })
    }

    /// A new semaphore holding `value` permits (CPython: `manager.Semaphore(value)`).
    pub fn semaphore(&self, value: u32) -> io::Result<LockProxy> {
        Ok(LockProxy { proxy: self.clone(), id: self.new_object(Kind::Semaphore(value))? })
    }

    /// A new condition, with a lock of its own (CPython: `manager.Condition()`).
    pub fn condition(&self) -> io::Result<ConditionProxy> {
        Ok(ConditionProxy { proxy: self.clone(), id: self.new_object(Kind::Condition)? })
    }

    fn new_object(&self, kind: Kind) -> io::Result<Id> {
        match self.call(Call::New(kind))? {
            Reply::Made(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    fn acquire(&self, id: Id) -> io::Result<Held<'_>> {
        self.call(Call::Acquire(id))?;
        Ok(Held { proxy: self, id })
    }

    fn waiters(&self, id: Id) -> io::Result<usize> {
        match self.call(Call::Waiters(id))? {
            Reply::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    fn call(&self, call: Call) -> io::Result<Reply> {
        let gone =
            |e| io::Error::new(io::ErrorKind::BrokenPipe, format!("the manager is gone: {e}"));
        let (reply, answer) = ipc::channel()?;
        self.requests.send(Request { call, client: current_pid(), reply }).map_err(gone)?;
        // If the server ends before answering, the reply channel is closed: an error.
        match answer.recv().map_err(gone)? {
            Reply::Refused(why) => Err(io::Error::other(why)),
            reply => Ok(reply),
        }
    }
}

/// Holds a manager lock, `RLock` or semaphore permit; dropping it releases it.
pub struct Held<'a> {
    proxy: &'a Proxy,
    id: Id,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = self.proxy.call(Call::Release(self.id));
    }
}

/// A namespace on the server: named integer attributes (CPython: `ns.x = 1`, `ns.x`).
#[derive(Clone)]
pub struct NamespaceProxy {
    proxy: Proxy,
    id: Id,
}

impl NamespaceProxy {
    /// `ns.name = value`.
    pub fn set(&self, name: &str, value: i64) -> io::Result<()> {
        self.proxy.call(Call::Set(self.id, name.to_string(), value)).map(drop)
    }

    /// `ns.name`, or `None` if it was never set (CPython: `AttributeError`).
    pub fn get(&self, name: &str) -> io::Result<Option<i64>> {
        match self.proxy.call(Call::Get(self.id, name.to_string()))? {
            Reply::Value(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }
}

/// A queue on the server (CPython: `manager.Queue()`), unbounded, first in first out.
#[derive(Clone)]
pub struct QueueProxy {
    proxy: Proxy,
    id: Id,
}

impl QueueProxy {
    /// `q.put(value)`.
    pub fn put(&self, value: i64) -> io::Result<()> {
        self.proxy.call(Call::Put(self.id, value)).map(drop)
    }

    /// `q.get()`: waits until there is an item.
    pub fn get(&self) -> io::Result<i64> {
        match self.proxy.call(Call::Take(self.id))? {
            Reply::Value(Some(v)) => Ok(v),
            other => Err(unexpected(other)),
        }
    }
}

/// An `RLock` or a `Semaphore` on the server.
#[derive(Clone)]
pub struct LockProxy {
    proxy: Proxy,
    id: Id,
}

impl LockProxy {
    /// Waits for the lock or a permit; released when the guard is dropped. An `RLock`
    /// may be taken again by the process that holds it.
    pub fn acquire(&self) -> io::Result<Held<'_>> {
        self.proxy.acquire(self.id)
    }

    /// How many clients are waiting for it right now.
    pub fn waiters(&self) -> io::Result<usize> {
        self.proxy.waiters(self.id)
    }
}

/// A condition on the server: a lock, and a set of clients waiting to be notified.
#[derive(Clone)]
pub struct ConditionProxy {
    proxy: Proxy,
    id: Id,
}

impl ConditionProxy {
    /// Takes the condition's lock (CPython: `with cond:`).
    pub fn acquire(&self) -> io::Result<ConditionGuard<'_>> {
        Ok(ConditionGuard { held: self.proxy.acquire(self.id)? })
    }

    /// How many clients wait on the condition (notified or not yet) or for its lock.
    pub fn waiters(&self) -> io::Result<usize> {
        self.proxy.waiters(self.id)
    }
}

/// Holds a condition's lock: wait on it, or notify its waiters.
pub struct ConditionGuard<'a> {
    held: Held<'a>,
}

impl ConditionGuard<'_> {
    /// Releases the lock, waits until notified, takes the lock again (CPython:
    /// `cond.wait()`).
    pub fn wait(&mut self) -> io::Result<()> {
        self.held.proxy.call(Call::Wait(self.held.id)).map(drop)
    }

    /// Wakes at most `n` waiters (CPython: `cond.notify(n)`); each goes on once it has
    /// the lock again. Returns how many were woken.
    pub fn notify(&self, n: usize) -> io::Result<usize> {
        match self.held.proxy.call(Call::Notify(self.held.id, n))? {
            Reply::Count(woken) => Ok(woken),
            other => Err(unexpected(other)),
        }
    }

    /// Wakes every waiter (CPython: `cond.notify_all()`).
    pub fn notify_all(&self) -> io::Result<usize> {
        self.notify(usize::MAX)
    }
}

/// A client waiting for an answer: its pid and where to send the answer.
type Waiter = (i32, IpcSender<Reply>);

/// A lock on the server: who holds it, how often (for an `RLock`), who waits.
#[derive(Default)]
struct Lock {
    holder: Option<(i32, usize)>,
    reentrant: bool,
    waiting: VecDeque<Waiter>,
}

impl Lock {
    /// Takes the lock for `client` if it can: `Some(reply)` to send now, else `None`
    /// (the request waits in line).
    fn acquire(
        &mut self,
        client: i32,
        reply: IpcSender<Reply>,
    ) -> Option<(IpcSender<Reply>, Reply)> {
        match &mut self.holder {
            None => self.holder = Some((client, 1)),
            Some((holder, count)) if self.reentrant && *holder == client => *count += 1,
            Some(_) => {
                self.waiting.push_back((client, reply));
                return None;
            }
        }
        Some((reply, Reply::Done))
    }

    /// Releases one hold of `client`'s; a lock let go goes to the next waiter.
    fn release(&mut self, client: i32) -> Reply {
        match &mut self.holder {
            Some((holder, count)) if *holder == client => {
                *count -= 1;
                if *count == 0 {
                    self.holder = None;
                    self.pass_on();
                }
                Reply::Done
            }
            _ => Reply::Refused("release of a lock this process does not hold".into()),
        }
    }

    /// Gives the free lock to the first waiter that is still there: a waiter that died
    /// (its reply channel is closed) cannot take it, and if it were given the lock,
    /// nobody could ever take it again.
    fn pass_on(&mut self) {
        while let Some((next, reply)) = self.waiting.pop_front() {
            if reply.send(Reply::Done).is_ok() {
                self.holder = Some((next, 1));
                return;
            }
        }
    }
}

/// One object the server made on request.
enum Object {
    Namespace(BTreeMap<String, i64>),
    Queue { items: VecDeque<i64>, getters: VecDeque<Waiter> },
    Lock(Lock),
    Semaphore { permits: u32, waiting: VecDeque<Waiter> },
    Condition { lock: Lock, notified_later: VecDeque<Waiter> },
}

/// The server loop: one request at a time; requests that must wait are queued.
fn serve(incoming: IpcReceiver<Request>, mut list: Vec<i64>) {
    let mut dict = Dict::new();
    let mut objects: Vec<Object> = vec![Object::Lock(Lock::default())]; // LOCK
    // Every sender gone (or a broken channel) also ends the server.
    while let Ok(Request { call, client, reply }) = incoming.recv() {
        let answer = match call {
            Call::DictInsert(k, v) => {
                dict.insert(k, v);
                Reply::Done
            }
            Call::Dict => Reply::Dict(dict.clone()),
            Call::ListAppend(v) => {
                list.push(v);
                Reply::Done
            }
            Call::List => Reply::List(list.clone()),
            Call::New(kind) => {
                objects.push(match kind {
                    Kind::Namespace => Object::Namespace(BTreeMap::new()),
                    Kind::Queue => {
                        Object::Queue { items: VecDeque::new(), getters: VecDeque::new() }
                    }
                    Kind::RLock => Object::Lock(Lock { reentrant: true, ..Lock::default() }),
                    Kind::Semaphore(permits) => {
                        Object::Semaphore { permits, waiting: VecDeque::new() }
                    }
                    Kind::Condition => {
                        Object::Condition { lock: Lock::default(), notified_later: VecDeque::new() }
                    }
                });
                Reply::Made(objects.len() - 1)
            }
            Call::Shutdown => {
                let _ = reply.send(Reply::Done);
                break;
            }
            call => match object_call(&mut objects, call, client, reply) {
                Some((reply, answer)) => {
                    let _ = reply.send(answer); // a client that has gone away is not our problem
                    continue;
                }
                None => continue, // answered later
            },
        };
        let _ = reply.send(answer);
    }
}

/// A call on one of the objects: `Some((where, answer))` to answer now, `None` if the
/// request waits (for a lock, a permit, an item, a notification).
fn object_call(
    objects: &mut [Object],
    call: Call,
    client: i32,
    reply: IpcSender<Reply>,
) -> Option<(IpcSender<Reply>, Reply)> {
    let id = match &call {
        Call::Acquire(id)
        | Call::Release(id)
        | Call::Waiters(id)
        | Call::Set(id, ..)
        | Call::Get(id, _)
        | Call::Put(id, _)
        | Call::Take(id)
        | Call::Wait(id)
        | Call::Notify(id, _) => *id,
        _ => return Some((reply, Reply::Refused("not an object call".into()))),
    };
    let Some(object) = objects.get_mut(id) else {
        return Some((reply, Reply::Refused(format!("no object {id}"))));
    };
    let answer = match (object, call) {
        (Object::Lock(lock) | Object::Condition { lock, .. }, Call::Acquire(_)) => {
            return lock.acquire(client, reply);
        }
        (Object::Lock(lock) | Object::Condition { lock, .. }, Call::Release(_)) => {
            lock.release(client)
        }
        (Object::Lock(lock), Call::Waiters(_)) => Reply::Count(lock.waiting.len()),
        (Object::Condition { lock, notified_later }, Call::Waiters(_)) => {
            Reply::Count(lock.waiting.len() + notified_later.len())
        }
        (Object::Namespace(attributes), Call::Set(_, name, value)) => {
            attributes.insert(name, value);
            Reply::Done
        }
        (Object::Namespace(attributes), Call::Get(_, name)) => {
            Reply::Value(attributes.get(&name).copied())
        }
        (Object::Queue { items, getters }, Call::Put(_, value)) => {
            items.push_back(value);
            // The first getter still there takes it (a getter that died is skipped).
            while let Some(item) = items.pop_front() {
                let Some((_, getter)) = getters.pop_front() else {
                    items.push_front(item); // nobody waits: it stays queued
                    break;
                };
                if getter.send(Reply::Value(Some(item))).is_err() {
                    items.push_front(item);
                }
            }
            Reply::Done
        }
        (Object::Queue { items, getters }, Call::Take(_)) => match items.pop_front() {
            Some(item) => Reply::Value(Some(item)),
            None => {
                getters.push_back((client, reply));
                return None;
            }
        },
        (Object::Semaphore { permits, waiting }, Call::Acquire(_)) => {
            if *permits == 0 {
                waiting.push_back((client, reply));
                return None;
            }
            *permits -= 1;
            Reply::Done
        }
        (Object::Semaphore { permits, waiting }, Call::Release(_)) => {
            *permits += 1;
            while *permits > 0 {
                let Some((_, next)) = waiting.pop_front() else { break };
                if next.send(Reply::Done).is_ok() {
                    *permits -= 1;
                }
            }
            Reply::Done
        }
        (Object::Semaphore { waiting, .. }, Call::Waiters(_)) => Reply::Count(waiting.len()),
        (Object::Condition { lock, notified_later }, Call::Wait(_)) => {
            if !matches!(lock.holder, Some((holder, _)) if holder == client) {
                Reply::Refused("cannot wait on un-acquired lock".into())
            } else {
                // Let go of the lock; the answer comes once notified and holding it again.
                lock.holder = None;
                lock.pass_on();
                notified_later.push_back((client, reply));
                return None;
            }
        }
        (Object::Condition { lock, notified_later }, Call::Notify(_, n)) => {
            if !matches!(lock.holder, Some((holder, _)) if holder == client) {
                Reply::Refused("cannot notify on un-acquired lock".into())
            } else {
                // The notified line up for the lock; their `wait` returns when they get it.
                let woken = n.min(notified_later.len());
                lock.waiting.extend(notified_later.drain(..woken));
                Reply::Count(woken)
            }
        }
        _ => Reply::Refused(format!("object {id} has no such call")),
    };
    Some((reply, answer))
}

fn unexpected(reply: Reply) -> io::Error {
    io::Error::other(format!("unexpected reply from the manager: {reply:?}"))
}
