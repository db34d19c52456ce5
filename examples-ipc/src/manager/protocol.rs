//! What a proxy says to the manager's server, and what it answers. Each is one frame on
//! the proxy's own connection: a 4-byte big-endian length, then the postcard bytes (as
//! a [`Connection`](crate::connection::Connection) sends them).

use serde::{Deserialize, Serialize};

/// Which server-side object a call is about. Object 0 is the manager's `Lock`.
pub(crate) type Id = usize;

pub(crate) const LOCK: Id = 0;

/// A value as the server keeps it: serialised by the proxy, opaque to the server.
pub(crate) type Bytes = serde_bytes::ByteBuf;

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Kind {
    Dict,
    List(Vec<Bytes>),
    Namespace,
    Queue,
    RLock,
    Semaphore(u32),
    Condition,
}

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Call {
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
    /// Stop serving: only with the token the `Manager` was made with, so that no
    /// proxy (and no garbage on a connection) can end the server for everyone.
    Shutdown(u64),
}

impl Call {
    /// The object the call is about, if it is about one.
    pub(crate) fn object(&self) -> Option<Id> {
        match self {
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
            | Call::Notify(id, _) => Some(*id),
            Call::New(_) | Call::Shutdown(_) => None,
        }
    }
}

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Reply {
    Done,
    Count(usize),
    Made(Id),
    Value(Option<Bytes>),
    Values(Vec<Bytes>),
    Pairs(Vec<(Bytes, Bytes)>),
    /// The call does not fit the object, an index is out of range, the caller does not
    /// hold the lock, or the request made no sense.
    Refused(String),
}
