//! CPython's `multiprocessing.Manager()`: a server process that owns shared objects,
//! and proxies that other processes use to reach them.
//!
//! The server is a forked child that owns a dict, a list and a lock. A [`Proxy`] sends
//! each call as a message over an `ipc-channel` channel, with a fresh reply channel
//! attached, and waits for the answer. A lock request that cannot be granted yet is
//! queued, not waited for, so the server keeps answering other clients meanwhile.
//!
//! ```
//! use examples_ipc::manager::Manager;
//!
//! let manager = Manager::start(vec![0, 1, 2])?;
//! let proxy = manager.proxy();
//! proxy.list_append(3)?;
//! assert_eq!(proxy.list()?, [0, 1, 2, 3]);
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

#[derive(Serialize, Deserialize, Debug)]
enum Call {
    DictInsert(i64, i64),
    Dict,
    ListAppend(i64),
    List,
    Acquire,
    Release,
    LockWaiters,
    Shutdown,
}

#[derive(Serialize, Deserialize, Debug)]
enum Reply {
    Done,
    Dict(Dict),
    List(Vec<i64>),
    Count(usize),
    NotHeld,
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
    /// Forks the server with an empty dict and the given list.
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
    pub fn lock(&self) -> io::Result<ProxyLockGuard<'_>> {
        self.call(Call::Acquire)?;
        Ok(ProxyLockGuard { proxy: self })
    }

    /// How many clients are waiting for the lock right now.
    pub fn lock_waiters(&self) -> io::Result<usize> {
        match self.call(Call::LockWaiters)? {
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
        answer.recv().map_err(gone)
    }
}

/// Holds the manager's lock; dropping it releases the lock.
pub struct ProxyLockGuard<'a> {
    proxy: &'a Proxy,
}

impl Drop for ProxyLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.proxy.call(Call::Release);
    }
}

/// The server loop: one request at a time, lock requests queued until granted.
fn serve(incoming: IpcReceiver<Request>, mut list: Vec<i64>) {
    let mut dict = Dict::new();
    let mut holder: Option<i32> = None;
    let mut waiting: VecDeque<(i32, IpcSender<Reply>)> = VecDeque::new();
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
            Call::Acquire if holder.is_none() => {
                holder = Some(client);
                Reply::Done
            }
            Call::Acquire => {
                waiting.push_back((client, reply));
                continue; // answered when the lock is passed on
            }
            Call::Release if holder == Some(client) => {
                // The lock goes to the first waiter that is still there: a waiter that
                // died (its reply channel is closed) cannot take it, and if it were
                // given the lock, nobody could ever take it again.
                holder = None;
                while let Some((next, next_reply)) = waiting.pop_front() {
                    if next_reply.send(Reply::Done).is_ok() {
                        holder = Some(next);
                        break;
                    }
                }
                Reply::Done
            }
            Call::Release => Reply::NotHeld,
            Call::LockWaiters => Reply::Count(waiting.len()),
            Call::Shutdown => {
                let _ = reply.send(Reply::Done);
                break;
            }
        };
        let _ = reply.send(answer); // a client that has gone away is not our problem
    }
}

fn unexpected(reply: Reply) -> io::Error {
    io::Error::other(format!("unexpected reply from the manager: {reply:?}"))
}
