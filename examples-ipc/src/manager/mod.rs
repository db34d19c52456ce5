//! CPython's `multiprocessing.Manager()`: a server process that owns shared objects,
//! and proxies that other processes use to reach them.
//!
//! The server is a forked child that owns the shared objects and the manager's lock,
//! and makes more objects on request, as `manager.dict()`, `manager.list()`,
//! `manager.Namespace()` and the others do: any number of dicts and lists, namespaces,
//! queues, `RLock`s, semaphores and conditions. Values are any serde type: the server
//! keeps them serialised and never looks inside, and each proxy is typed, so a
//! `DictProxy<i64, String>` only takes and gives those. Each [`Proxy`] value has a
//! connection of its own to the server (a socket pair it makes on first use and hands
//! over through the manager's door), sends each call as a message and waits for the
//! answer. A request that cannot be answered yet (a lock that is taken, an empty queue,
//! a condition waited on) is queued, not waited for, so the server keeps answering
//! other clients meanwhile; the server reads and writes every connection without
//! blocking, so a client that stops, or talks nonsense, costs only itself (see the
//! `server` module).
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
//! Locks belong to a proxy (its connection), as the kernel tells the server who made it:
//! a lock taken through one proxy is released through it, and when its connection
//! closes, or its process dies, whatever it held is released and its waits forgotten
//! (CPython's manager keeps such a lock taken for ever). A clone of a proxy is another
//! connection; in a forked child, a proxy makes a connection of its own on first use.
//! A proxy's calls are made one at a time: give each thread its own clone. A proxy cannot
//! be stored inside another object (CPython allows nested proxies): the server keeps
//! values as bytes, and a proxy is a connection. The manager listens nowhere: the door is
//! an unnamed socket pair, reachable only by the program's own processes.
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
//!
//! The other objects the note lists, between processes: a `Queue` a child puts into,
//! an `RLock` taken twice, a `Semaphore(2)` a third taker waits for, and a `Condition`
//! one child waits on while another notifies.
//!
//! ```
//! use examples_ipc::manager::Manager;
//! use examples_process::Process;
//!
//! let manager = Manager::start()?;
//! let proxy = manager.proxy();
//! let queue = proxy.queue::<i64>()?; // manager.Queue()
//! let mut putter = Process::new({
//!     let queue = queue.clone();
//!     move || queue.put(&7).expect("the manager answers")
//! });
//! putter.start()?;
//! assert_eq!(queue.get()?, 7); // waits for the child's put
//! putter.join()?;
//!
//! let rlock = proxy.rlock()?; // manager.RLock(): its holder may take it again
//! let (outer, inner) = (rlock.acquire()?, rlock.acquire()?);
//! drop((inner, outer));
//!
//! let semaphore = proxy.semaphore(2)?; // manager.Semaphore(2)
//! let permits = [semaphore.acquire()?, semaphore.acquire()?];
//! let mut third = Process::new({
//!     let semaphore = semaphore.clone();
//!     move || drop(semaphore.acquire().expect("the manager answers"))
//! });
//! third.start()?;
//! while semaphore.waiters()? == 0 {} // the third taker waits for a permit
//! drop(permits);
//! assert_eq!(third.join()?, 0);
//!
//! let condition = proxy.condition()?; // manager.Condition()
//! let mut waiter = Process::new({
//!     let condition = condition.clone();
//!     move || condition.acquire().and_then(|mut held| held.wait()).expect("woken")
//! });
//! waiter.start()?;
//! while condition.waiters()? == 0 {} // asleep in wait(), the lock let go
//! assert_eq!(condition.acquire()?.notify(1)?, 1); // notify(1) woke one waiter
//! assert_eq!(waiter.join()?, 0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use examples_process::{Process, current_pid, moving_to_child};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::Connection;

mod objects;
mod protocol;
mod server;

use protocol::{Bytes, Call, Id, Kind, LOCK, Reply};

/// The running server; dropping it shuts the server down (CPython: leaving
/// `with Manager() as manager:`).
///
/// A `Manager` moved into a child belongs to that child from then on: the parent's copy,
/// dropped by `start`, leaves the server running, and the child's drop shuts it down.
/// (The parent still reaps the server process when it has ended.)
pub struct Manager {
    proxy: Proxy,
    server: Process,
    /// What `Shutdown` must carry: a random number only the manager's holder knows.
    token: u64,
}

/// How long `shutdown` and `drop` wait for the server to end before killing it.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

/// A handle to the manager's objects, for any process. Clone it for each child and
/// each thread: each clone is a connection of its own.
pub struct Proxy {
    /// The manager's door: a sequenced-packet socket on which a proxy hands the server
    /// one end of its connection.
    door: Arc<OwnedFd>,
    /// This proxy's connection, and the process that made it (a fork's copy is not its).
    connection: Mutex<Option<(i32, Connection)>>,
}

impl Clone for Proxy {
    fn clone(&self) -> Proxy {
        Proxy { door: Arc::clone(&self.door), connection: Mutex::new(None) }
    }
}

impl Manager {
    /// Forks the server, which starts with the manager's lock only.
    pub fn start() -> io::Result<Manager> {
        let (door, server_door) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        use std::hash::{BuildHasher, RandomState};
        let token = RandomState::new().hash_one(std::time::SystemTime::now());
        let mut server = Process::new(move || {
            server::close_all_but(&server_door); // the client's door end included
            server::serve(server_door, token)
        })
        .with_name("SyncManager");
        server.start()?; // the parent's copy of the server's end is dropped
        let door = Arc::new(door);
        Ok(Manager { server, proxy: Proxy { door, connection: Mutex::new(None) }, token })
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
        let asked = self.proxy.call(Call::Shutdown(self.token));
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
        Ok(Held { proxy: self, id, _not_send: PhantomData })
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
            Reply::Value(bytes) => bytes.map(|b| decode(&b)).transpose(),
            other => Err(unexpected(other)),
        }
    }

    /// Sends `call` on this proxy's connection (made on first use in this process) and
    /// waits for the answer.
    fn call(&self, call: Call) -> io::Result<Reply> {
        let gone =
            |e| io::Error::new(io::ErrorKind::BrokenPipe, format!("the manager is gone: {e}"));
        let mut connection = self.connection.lock();
        let me = current_pid();
        if connection.as_ref().is_none_or(|(pid, _)| *pid != me) {
            *connection = None; // a copy made by fork is the parent's: closed here
            *connection = Some((me, self.connect().map_err(gone)?));
        }
        let (_, conn) = connection.as_ref().expect("made above");
        let answer = conn.send(&call).and_then(|()| conn.recv::<Reply>());
        match answer {
            Ok(Reply::Refused(why)) => Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
            Ok(reply) => Ok(reply),
            Err(e) => {
                *connection = None; // broken: the next call starts afresh
                Err(gone(e))
            }
        }
    }

    /// A new connection to the server: a socket pair, one end handed over on the door.
    fn connect(&self) -> io::Result<Connection> {
        let (mine, theirs) = crate::connection::pipe()?;
        let theirs = OwnedFd::from(theirs);
        let fd = rustix::fd::AsFd::as_fd(&theirs);
        examples_process::reduction::send_fds(&*self.door, b"S", &[fd])?;
        debug_assert!(theirs.as_raw_fd() >= 0);
        Ok(mine)
    }
}

/// Holds a manager lock, `RLock` or semaphore permit; dropping it releases it. Not
/// `Send`: the hold belongs to the proxy's connection, used from this process.
///
/// ```compile_fail,E0277
/// let manager = examples_ipc::manager::Manager::start()?;
/// let proxy: &'static _ = Box::leak(Box::new(manager.proxy()));
/// let held = proxy.lock()?;
/// let child = examples_process::Process::new(move || drop(held));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Held<'a> {
    proxy: &'a Proxy,
    id: Id,
    _not_send: PhantomData<*const ()>,
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
    let bytes =
        postcard::to_stdvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(Bytes::from(bytes))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn unexpected(reply: Reply) -> io::Error {
    io::Error::other(format!("unexpected reply from the manager: {reply:?}"))
}
