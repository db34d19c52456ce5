//! CPython's `multiprocessing.Manager()`: a server process that owns shared objects,
//! and proxies that other processes use to reach them.
//!
//! The server is a forked child that owns the shared objects and the manager's lock,
//! and makes more objects on request, as `manager.dict()`, `manager.list()`,
//! `manager.Namespace()` and the others do: any number of dicts and lists, namespaces,
//! queues, `RLock`s, semaphores and conditions. Values are any serde type: the server
//! keeps them serialised and never looks inside, and each proxy is typed, so a
//! `DictProxy<i64, String>` only takes and gives those. A [`Proxy`] sends each call as
//! a message over an `ipc-channel` channel, with a fresh reply channel attached, and
//! waits for the answer. A request that cannot be answered yet (a lock that is taken,
//! an empty queue, a condition waited on) is queued, not waited for, so the server keeps
//! answering other clients meanwhile.
//!
//! | CPython                                  | here                                          |
//! |------------------------------------------|-----------------------------------------------|
//! | `with Manager() as manager:`             | `let manager = Manager::start()?;` (dropping it shuts it down) |
//! | `d = manager.dict()`                     | `let d = proxy.dict::<K, V>()?;`              |
//! | `d[k] = v`, `d[k]`, `del d[k]`, `len(d)`, `d.items()` | `d.insert(k, v)?`, `d.get(&k)?`, `d.remove(&k)?`, `d.len()?`, `d.items()?` |
//! | `l = manager.list(range(5))`             | `let l = proxy.list(0..5)?;`                  |
//! | `l.append(x)`, `l.extend(xs)`, `l[i] = x`, `l[i]`, `l.pop()`, `len(l)`, `list(l)` | `l.append(x)?`, `l.extend(xs)?`, `l.set(i, x)?`, `l.get(i)?`, `l.pop(None)?`, `l.len()?`, `l.to_vec()?` |
//! | `lock = manager.Lock()`                  | `proxy.lock()?` (a guard)                     |
//! | `ns = manager.Namespace(); ns.x = 1`     | `let ns = proxy.namespace()?; ns.set("x", &1)?` |
//! | `q = manager.Queue(); q.put(1); q.get()` | `let q = proxy.queue::<T>()?; q.put(&1)?; q.get()?` |
//! | `r = manager.RLock()`                    | `let r = proxy.rlock()?; r.acquire()?`        |
//! | `s = manager.Semaphore(2)`               | `let s = proxy.semaphore(2)?; s.acquire()?`   |
//! | `c = manager.Condition(); with c: c.wait()` | `let c = proxy.condition()?; c.acquire()?.wait()?` |
//! | `c.notify()`, `c.notify_all()`           | `guard.notify(1)?`, `guard.notify_all()?`     |
//! | `IndexError`, `KeyError`                 | an `InvalidInput` error; `None`               |
//!
//! Locks belong to a process: a client is named by its pid, so two threads of one
//! process share its holds. A proxy cannot be stored inside another object (CPython
//! allows nested proxies): the server keeps values as bytes, and a proxy is a channel.
//!
//! ```
//! use examples_ipc::manager::Manager;
//!
//! let manager = Manager::start()?;
//! let proxy = manager.proxy();
//! let l = proxy.list(0..3)?;
//! l.append(3)?;
//! assert_eq!(l.to_vec()?, [0, 1, 2, 3]);
//! let d = proxy.dict::<String, Vec<u8>>()?;
//! d.insert("bytes".to_string(), vec![1, 2])?;
//! assert_eq!(d.get(&"bytes".to_string())?, Some(vec![1, 2]));
//! let ns = proxy.namespace()?;
//! ns.set("x", &10_i64)?;
//! assert_eq!(ns.get::<i64>("x")?, Some(10));
//! manager.shutdown()?;
//! assert!(l.to_vec().is_err()); // an error, not a hang, once the server is gone
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::marker::PhantomData;
use std::time::Duration;

use examples_process::{Process, current_pid, moving_to_child};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Which server-side object a call is about. Object 0 is the manager's `Lock`.
type Id = usize;

const LOCK: Id = 0;

/// A value as the server keeps it: serialised by the proxy, opaque to the server.
type Bytes = Vec<u8>;

#[derive(Serialize, Deserialize, Debug)]
enum Kind {
    Dict,
    List(Vec<Bytes>),
    Namespace,
    Queue,
    RLock,
    Semaphore(u32),
    Condition,
}

#[derive(Serialize, Deserialize, Debug)]
enum Call {
    New(Kind),
    Acquire(Id),
    Release(Id),
    Waiters(Id),
    Len(Id),
    Items(Id),
    DictSet(Id, Bytes, Bytes),
    DictGet(Id, Bytes),
    DictRemove(Id, Bytes),
    ListAppend(Id, Vec<Bytes>),
    ListSet(Id, i64, Bytes),
    ListGet(Id, i64),
    ListPop(Id, Option<i64>),
    NsSet(Id, String, Bytes),
    NsGet(Id, String),
    Put(Id, Bytes),
    Take(Id),
    Wait(Id),
    Notify(Id, usize),
    Shutdown,
}

#[derive(Serialize, Deserialize, Debug)]
enum Reply {
    Done,
    Count(usize),
    Made(Id),
    Value(Option<Bytes>),
    Values(Vec<Bytes>),
    Pairs(Vec<(Bytes, Bytes)>),
    /// The call does not fit the object, an index is out of range, or the caller does
    /// not hold the lock.
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
    /// Forks the server, which starts with the manager's lock only.
    pub fn start() -> io::Result<Manager> {
        let (requests, incoming) = ipc::channel::<Request>()?;
        let mut server = Process::new(move || serve(incoming)).with_name("SyncManager");
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
    /// A new, empty dict on the server (CPython: `manager.dict()`).
    pub fn dict<K, V>(&self) -> io::Result<DictProxy<K, V>> {
        Ok(DictProxy { proxy: self.clone(), id: self.new_object(Kind::Dict)?, types: PhantomData })
    }

    /// A new list on the server holding `items` (CPython: `manager.list(items)`).
    pub fn list<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> io::Result<ListProxy<T>> {
        let items = items.into_iter().map(|item| encode(&item)).collect::<io::Result<_>>()?;
        Ok(ListProxy {
            proxy: self.clone(),
            id: self.new_object(Kind::List(items))?,
            types: PhantomData,
        })
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
    pub fn queue<T>(&self) -> io::Result<QueueProxy<T>> {
        Ok(QueueProxy {
            proxy: self.clone(),
            id: self.new_object(Kind::Queue)?,
            types: PhantomData,
        })
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
        self.count(Call::Waiters(id))
    }

    fn count(&self, call: Call) -> io::Result<usize> {
        match self.call(call)? {
            Reply::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    fn value<T: DeserializeOwned>(&self, call: Call) -> io::Result<Option<T>> {
        match self.call(call)? {
            Reply::Value(bytes) => bytes.as_deref().map(decode).transpose(),
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
            Reply::Refused(why) => Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
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

/// A dict on the server (CPython: `manager.dict()`), in insertion order.
pub struct DictProxy<K, V> {
    proxy: Proxy,
    id: Id,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for DictProxy<K, V> {
    fn clone(&self) -> Self {
        DictProxy { proxy: self.proxy.clone(), id: self.id, types: PhantomData }
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// `d[key] = value`; returns the value it replaces.
    pub fn insert(&self, key: K, value: V) -> io::Result<Option<V>> {
        self.proxy.value(Call::DictSet(self.id, encode(&key)?, encode(&value)?))
    }

    /// `d.get(key)`.
    pub fn get(&self, key: &K) -> io::Result<Option<V>> {
        self.proxy.value(Call::DictGet(self.id, encode(key)?))
    }

    /// `d.pop(key, None)` (`del d[key]`): the value it held.
    pub fn remove(&self, key: &K) -> io::Result<Option<V>> {
        self.proxy.value(Call::DictRemove(self.id, encode(key)?))
    }

    /// `len(d)`.
    pub fn len(&self) -> io::Result<usize> {
        self.proxy.count(Call::Len(self.id))
    }

    /// `len(d) == 0`.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of every pair, in insertion order (CPython: `d.items()`, or `print(d)`,
    /// which fetches a copy the same way).
    pub fn items(&self) -> io::Result<Vec<(K, V)>> {
        match self.proxy.call(Call::Items(self.id))? {
            Reply::Pairs(pairs) => {
                pairs.iter().map(|(k, v)| Ok((decode(k)?, decode(v)?))).collect()
            }
            other => Err(unexpected(other)),
        }
    }
}

/// A list on the server (CPython: `manager.list()`). Indexes may be negative, counting
/// from the end, as in Python; out of range is an `InvalidInput` error (`IndexError`).
pub struct ListProxy<T> {
    proxy: Proxy,
    id: Id,
    types: PhantomData<fn() -> T>,
}

impl<T> Clone for ListProxy<T> {
    fn clone(&self) -> Self {
        ListProxy { proxy: self.proxy.clone(), id: self.id, types: PhantomData }
    }
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// `l.append(item)`.
    pub fn append(&self, item: T) -> io::Result<()> {
        self.extend([item])
    }

    /// `l.extend(items)`, in one call.
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> io::Result<()> {
        let items = items.into_iter().map(|item| encode(&item)).collect::<io::Result<_>>()?;
        self.proxy.call(Call::ListAppend(self.id, items)).map(drop)
    }

    /// `l[index] = item`.
    pub fn set(&self, index: i64, item: T) -> io::Result<()> {
        self.proxy.call(Call::ListSet(self.id, index, encode(&item)?)).map(drop)
    }

    /// `l[index]`.
    pub fn get(&self, index: i64) -> io::Result<T> {
        self.proxy.value(Call::ListGet(self.id, index))?.ok_or_else(|| unexpected(Reply::Done))
    }

    /// `l.pop()` (`None`: the last) or `l.pop(index)`.
    pub fn pop(&self, index: Option<i64>) -> io::Result<T> {
        self.proxy.value(Call::ListPop(self.id, index))?.ok_or_else(|| unexpected(Reply::Done))
    }

    /// `len(l)`.
    pub fn len(&self) -> io::Result<usize> {
        self.proxy.count(Call::Len(self.id))
    }

    /// `len(l) == 0`.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of the whole list (CPython: `list(l)`, `print(l)`); iterate over it.
    pub fn to_vec(&self) -> io::Result<Vec<T>> {
        match self.proxy.call(Call::Items(self.id))? {
            Reply::Values(items) => items.iter().map(|b| decode(b)).collect(),
            other => Err(unexpected(other)),
        }
    }
}

/// A namespace on the server: named attributes of any serde type (CPython: `ns.x = 1`,
/// `ns.x`).
#[derive(Clone)]
pub struct NamespaceProxy {
    proxy: Proxy,
    id: Id,
}

impl NamespaceProxy {
    /// `ns.name = value`.
    pub fn set<T: Serialize>(&self, name: &str, value: &T) -> io::Result<()> {
        self.proxy.call(Call::NsSet(self.id, name.to_string(), encode(value)?)).map(drop)
    }

    /// `ns.name`, or `None` if it was never set (CPython: `AttributeError`).
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> io::Result<Option<T>> {
        self.proxy.value(Call::NsGet(self.id, name.to_string()))
    }
}

/// A queue on the server (CPython: `manager.Queue()`), unbounded, first in first out.
pub struct QueueProxy<T> {
    proxy: Proxy,
    id: Id,
    types: PhantomData<fn() -> T>,
}

impl<T> Clone for QueueProxy<T> {
    fn clone(&self) -> Self {
        QueueProxy { proxy: self.proxy.clone(), id: self.id, types: PhantomData }
    }
}

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// `q.put(item)`.
    pub fn put(&self, item: &T) -> io::Result<()> {
        self.proxy.call(Call::Put(self.id, encode(item)?)).map(drop)
    }

    /// `q.get()`: waits until there is an item.
    pub fn get(&self) -> io::Result<T> {
        self.proxy.value(Call::Take(self.id))?.ok_or_else(|| unexpected(Reply::Done))
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
        self.held.proxy.count(Call::Notify(self.held.id, n))
    }

    /// Wakes every waiter (CPython: `cond.notify_all()`).
    pub fn notify_all(&self) -> io::Result<usize> {
        self.notify(usize::MAX)
    }
}

fn encode<T: Serialize>(value: &T) -> io::Result<Bytes> {
    postcard::to_stdvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
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
    /// Pairs in insertion order, as a Python dict keeps them.
    Dict(Vec<(Bytes, Bytes)>),
    List(Vec<Bytes>),
    Namespace(BTreeMap<String, Bytes>),
    Queue {
        items: VecDeque<Bytes>,
        getters: VecDeque<Waiter>,
    },
    Lock(Lock),
    Semaphore {
        permits: u32,
        waiting: VecDeque<Waiter>,
    },
    Condition {
        lock: Lock,
        notified_later: VecDeque<Waiter>,
    },
}

/// The server loop: one request at a time; requests that must wait are queued.
fn serve(incoming: IpcReceiver<Request>) {
    let mut objects: Vec<Object> = vec![Object::Lock(Lock::default())]; // LOCK
    // Every sender gone (or a broken channel) also ends the server.
    while let Ok(Request { call, client, reply }) = incoming.recv() {
        let answer = match call {
            Call::New(kind) => {
                objects.push(match kind {
                    Kind::Dict => Object::Dict(Vec::new()),
                    Kind::List(items) => Object::List(items),
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
                Some((reply, Reply::Made(objects.len() - 1)))
            }
            Call::Shutdown => {
                let _ = reply.send(Reply::Done);
                break;
            }
            call => object_call(&mut objects, call, client, reply),
        };
        if let Some((reply, answer)) = answer {
            let _ = reply.send(answer); // a client that has gone away is not our problem
        } // else: answered later
    }
}

/// Python's index: from the start, or from the end if negative; `None` out of range.
fn python_index(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { index + len as i64 } else { index };
    usize::try_from(index).ok().filter(|&i| i < len)
}

fn out_of_range() -> Reply {
    Reply::Refused("list index out of range".into())
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
        | Call::Len(id)
        | Call::Items(id)
        | Call::DictSet(id, ..)
        | Call::DictGet(id, _)
        | Call::DictRemove(id, _)
        | Call::ListAppend(id, _)
        | Call::ListSet(id, ..)
        | Call::ListGet(id, _)
        | Call::ListPop(id, _)
        | Call::NsSet(id, ..)
        | Call::NsGet(id, _)
        | Call::Put(id, _)
        | Call::Take(id)
        | Call::Wait(id)
        | Call::Notify(id, _) => *id,
        Call::New(_) | Call::Shutdown => {
            return Some((reply, Reply::Refused("not an object call".into())));
        }
    };
    let Some(object) = objects.get_mut(id) else {
        return Some((reply, Reply::Refused(format!("no object {id}"))));
    };
    let answer = match (object, call) {
        (Object::Dict(pairs), Call::DictSet(_, key, value)) => {
            match pairs.iter_mut().find(|(k, _)| *k == key) {
                Some((_, old)) => Reply::Value(Some(std::mem::replace(old, value))),
                None => {
                    pairs.push((key, value));
                    Reply::Value(None)
                }
            }
        }
        (Object::Dict(pairs), Call::DictGet(_, key)) => {
            Reply::Value(pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
        }
        (Object::Dict(pairs), Call::DictRemove(_, key)) => {
            let at = pairs.iter().position(|(k, _)| *k == key);
            Reply::Value(at.map(|i| pairs.remove(i).1))
        }
        (Object::Dict(pairs), Call::Len(_)) => Reply::Count(pairs.len()),
        (Object::Dict(pairs), Call::Items(_)) => Reply::Pairs(pairs.clone()),
        (Object::List(items), Call::ListAppend(_, more)) => {
            items.extend(more);
            Reply::Done
        }
        (Object::List(items), Call::ListSet(_, index, value)) => {
            match python_index(index, items.len()) {
                Some(i) => {
                    items[i] = value;
                    Reply::Done
                }
                None => out_of_range(),
            }
        }
        (Object::List(items), Call::ListGet(_, index)) => match python_index(index, items.len()) {
            Some(i) => Reply::Value(Some(items[i].clone())),
            None => out_of_range(),
        },
        (Object::List(items), Call::ListPop(_, index)) => {
            match python_index(index.unwrap_or(-1), items.len()) {
                Some(i) => Reply::Value(Some(items.remove(i))),
                None if items.is_empty() => Reply::Refused("pop from empty list".into()),
                None => out_of_range(),
            }
        }
        (Object::List(items), Call::Len(_)) => Reply::Count(items.len()),
        (Object::List(items), Call::Items(_)) => Reply::Values(items.clone()),
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
        (Object::Namespace(attributes), Call::NsSet(_, name, value)) => {
            attributes.insert(name, value);
            Reply::Done
        }
        (Object::Namespace(attributes), Call::NsGet(_, name)) => {
            Reply::Value(attributes.get(&name).cloned())
        }
        (Object::Queue { items, getters }, Call::Put(_, value)) => {
            items.push_back(value);
            // The first getter still there takes it (a getter that died is skipped).
            while let Some(item) = items.pop_front() {
                let Some((_, getter)) = getters.pop_front() else {
                    items.push_front(item); // nobody waits: it stays queued
                    break;
                };
                if getter.send(Reply::Value(Some(item.clone()))).is_err() {
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
        (Object::Queue { items, .. }, Call::Len(_)) => Reply::Count(items.len()),
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
