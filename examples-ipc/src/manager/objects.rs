//! The objects the manager's server keeps, and what each does with a call. A call comes
//! from a session (one proxy's connection): a lock is held by a session, a waiter is a
//! session, and when a session ends (its proxy dropped, its process dead) everything it
//! held is released and every wait of it forgotten.

use std::collections::{BTreeMap, VecDeque};

use super::protocol::{Bytes, Call, Kind, Reply};

/// Who made a call: the server's number for a session.
pub(crate) type Session = u64;

/// What a call gets: an answer now, or one later (it waits for a lock, an item, a
/// notification).
pub(crate) enum Answer {
    Now(Reply),
    Later,
}

/// Answers owed to other sessions because of a call (a waiter that got the lock).
pub(crate) type Wakes = Vec<(Session, Reply)>;

/// One object the server made on request.
pub(crate) enum Object {
    /// Pairs in insertion order, as a Python dict keeps them.
    Dict(Vec<(Bytes, Bytes)>),
    List(Vec<Bytes>),
    Namespace(BTreeMap<String, Bytes>),
    Queue {
        items: VecDeque<Bytes>,
        getters: VecDeque<Session>,
    },
    Lock(Lock),
    Semaphore {
        permits: u32,
        waiting: VecDeque<Session>,
    },
    Condition {
        lock: Lock,
        asleep: VecDeque<Session>,
    },
}

impl Object {
    pub(crate) fn new(kind: Kind) -> Object {
        match kind {
            Kind::Dict => Object::Dict(Vec::new()),
            Kind::List(items) => Object::List(items),
            Kind::Namespace => Object::Namespace(BTreeMap::new()),
            Kind::Queue => Object::Queue { items: VecDeque::new(), getters: VecDeque::new() },
            Kind::RLock => Object::Lock(Lock { reentrant: true, ..Lock::default() }),
            Kind::Semaphore(permits) => Object::Semaphore { permits, waiting: VecDeque::new() },
            Kind::Condition => Object::Condition { lock: Lock::default(), asleep: VecDeque::new() },
        }
    }

    /// Does `call` for `caller`. `alive` says whether a session is still there (a waiter
    /// that is gone must not be given a lock or counted as woken).
    pub(crate) fn call(
        &mut self,
        call: Call,
        caller: Session,
        alive: &dyn Fn(Session) -> bool,
        wakes: &mut Wakes,
    ) -> Answer {
        let reply = match self {
            Object::Dict(pairs) => dict_call(pairs, call),
            Object::List(items) => list_call(items, call),
            Object::Namespace(attributes) => namespace_call(attributes, call),
            Object::Queue { items, getters } => {
                return queue_call(items, getters, call, caller, alive, wakes);
            }
            Object::Lock(lock) => return lock_call(lock, call, caller, alive, wakes),
            Object::Semaphore { permits, waiting } => {
                return semaphore_call(permits, waiting, call, caller, alive, wakes);
            }
            Object::Condition { lock, asleep } => {
                return condition_call(lock, asleep, call, caller, alive, wakes);
            }
        };
        Answer::Now(reply.unwrap_or_else(|| Reply::Refused("the object has no such call".into())))
    }

    /// `session` has ended: what it held is released, what it waited for is forgotten.
    pub(crate) fn forget(
        &mut self,
        session: Session,
        alive: &dyn Fn(Session) -> bool,
        wakes: &mut Wakes,
    ) {
        match self {
            Object::Queue { getters, .. } => getters.retain(|&g| g != session),
            Object::Lock(lock) => lock.forget(session, alive, wakes),
            Object::Semaphore { waiting, .. } => waiting.retain(|&w| w != session),
            Object::Condition { lock, asleep } => {
                asleep.retain(|&w| w != session);
                lock.forget(session, alive, wakes);
            }
            Object::Dict(_) | Object::List(_) | Object::Namespace(_) => {}
        }
    }
}

fn dict_call(pairs: &mut Vec<(Bytes, Bytes)>, call: Call) -> Option<Reply> {
    Some(match call {
        Call::DictSet(_, key, value) => match pairs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => Reply::Value(Some(std::mem::replace(old, value))),
            None => {
                pairs.push((key, value));
                Reply::Value(None)
            }
        },
        Call::DictGet(_, key) => {
            Reply::Value(pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
        }
        Call::DictRemove(_, key) => {
            let at = pairs.iter().position(|(k, _)| *k == key);
            Reply::Value(at.map(|i| pairs.remove(i).1))
        }
        Call::Len(_) => Reply::Count(pairs.len()),
        Call::Items(_) => Reply::Pairs(pairs.clone()),
        _ => return None,
    })
}

/// Python's index: from the start, or from the end if negative; `None` out of range.
fn python_index(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { index.checked_add(i64::try_from(len).ok()?)? } else { index };
    usize::try_from(index).ok().filter(|&i| i < len)
}

fn out_of_range() -> Reply {
    Reply::Refused("list index out of range".into())
}

fn list_call(items: &mut Vec<Bytes>, call: Call) -> Option<Reply> {
    Some(match call {
        Call::ListAppend(_, more) => {
            items.extend(more);
            Reply::Done
        }
        Call::ListSet(_, index, value) => match python_index(index, items.len()) {
            Some(i) => {
                items[i] = value;
                Reply::Done
            }
            None => out_of_range(),
        },
        Call::ListGet(_, index) => match python_index(index, items.len()) {
            Some(i) => Reply::Value(Some(items[i].clone())),
            None => out_of_range(),
        },
        Call::ListPop(_, index) => match python_index(index.unwrap_or(-1), items.len()) {
            Some(i) => Reply::Value(Some(items.remove(i))),
            None if items.is_empty() => Reply::Refused("pop from empty list".into()),
            None => out_of_range(),
        },
        Call::Len(_) => Reply::Count(items.len()),
        Call::Items(_) => Reply::Values(items.clone()),
        _ => return None,
    })
}

fn namespace_call(attributes: &mut BTreeMap<String, Bytes>, call: Call) -> Option<Reply> {
    Some(match call {
        Call::NsSet(_, name, value) => {
            attributes.insert(name, value);
            Reply::Done
        }
        Call::NsGet(_, name) => Reply::Value(attributes.get(&name).cloned()),
        _ => return None,
    })
}

fn queue_call(
    items: &mut VecDeque<Bytes>,
    getters: &mut VecDeque<Session>,
    call: Call,
    caller: Session,
    alive: &dyn Fn(Session) -> bool,
    wakes: &mut Wakes,
) -> Answer {
    Answer::Now(match call {
        Call::Put(_, value) => {
            // The first getter still there takes it; a getter that is gone is skipped.
            getters.retain(|&g| alive(g));
            match getters.pop_front() {
                Some(getter) => wakes.push((getter, Reply::Value(Some(value)))),
                None => items.push_back(value),
            }
            Reply::Done
        }
        Call::Take(_) => match items.pop_front() {
            Some(item) => Reply::Value(Some(item)),
            None => {
                getters.push_back(caller);
                return Answer::Later;
            }
        },
        Call::Len(_) => Reply::Count(items.len()),
        _ => Reply::Refused("a queue has no such call".into()),
    })
}

/// A lock on the server: which session holds it, how often (for an `RLock`), who waits.
#[derive(Default)]
pub(crate) struct Lock {
    holder: Option<(Session, usize)>,
    reentrant: bool,
    waiting: VecDeque<Session>,
}

impl Lock {
    /// Takes the lock for `who` if it can; else `who` waits in line.
    fn acquire(&mut self, who: Session) -> Answer {
        match &mut self.holder {
            None => self.holder = Some((who, 1)),
            Some((holder, count)) if self.reentrant && *holder == who => {
                *count = count.saturating_add(1);
            }
            Some(_) => {
                self.waiting.push_back(who);
                return Answer::Later;
            }
        }
        Answer::Now(Reply::Done)
    }

    /// Releases one hold of `who`'s; a lock let go goes to the next waiter.
    fn release(
        &mut self,
        who: Session,
        alive: &dyn Fn(Session) -> bool,
        wakes: &mut Wakes,
    ) -> Reply {
        match &mut self.holder {
            Some((holder, count)) if *holder == who => {
                *count -= 1;
                if *count == 0 {
                    self.holder = None;
                    self.pass_on(alive, wakes);
                }
                Reply::Done
            }
            _ => Reply::Refused("release of a lock this proxy does not hold".into()),
        }
    }

    fn held_by(&self, who: Session) -> bool {
        matches!(self.holder, Some((holder, _)) if holder == who)
    }

    /// Gives the free lock to the first waiter that is still there.
    fn pass_on(&mut self, alive: &dyn Fn(Session) -> bool, wakes: &mut Wakes) {
        while let Some(next) = self.waiting.pop_front() {
            if alive(next) {
                self.holder = Some((next, 1));
                wakes.push((next, Reply::Done));
                return;
            }
        }
    }

    /// `who` has ended: its place in line goes, and a lock it held is free again.
    fn forget(&mut self, who: Session, alive: &dyn Fn(Session) -> bool, wakes: &mut Wakes) {
        self.waiting.retain(|&w| w != who);
        if self.held_by(who) {
            self.holder = None;
            self.pass_on(alive, wakes);
        }
    }
}

fn lock_call(
    lock: &mut Lock,
    call: Call,
    caller: Session,
    alive: &dyn Fn(Session) -> bool,
    wakes: &mut Wakes,
) -> Answer {
    match call {
        Call::Acquire(_) => lock.acquire(caller),
        Call::Release(_) => Answer::Now(lock.release(caller, alive, wakes)),
        Call::Waiters(_) => Answer::Now(Reply::Count(lock.waiting.len())),
        _ => Answer::Now(Reply::Refused("a lock has no such call".into())),
    }
}

fn semaphore_call(
    permits: &mut u32,
    waiting: &mut VecDeque<Session>,
    call: Call,
    caller: Session,
    alive: &dyn Fn(Session) -> bool,
    wakes: &mut Wakes,
) -> Answer {
    Answer::Now(match call {
        Call::Acquire(_) if *permits == 0 => {
            waiting.push_back(caller);
            return Answer::Later;
        }
        Call::Acquire(_) => {
            *permits -= 1;
            Reply::Done
        }
        Call::Release(_) => {
            // A permit goes straight to a waiter that is still there, if one waits.
            waiting.retain(|&w| alive(w));
            match waiting.pop_front() {
                Some(next) => {
                    wakes.push((next, Reply::Done));
                    Reply::Done
                }
                None => match permits.checked_add(1) {
                    Some(more) => {
                        *permits = more;
                        Reply::Done
                    }
                    None => Reply::Refused("the semaphore cannot hold more permits".into()),
                },
            }
        }
        Call::Waiters(_) => Reply::Count(waiting.len()),
        _ => Reply::Refused("a semaphore has no such call".into()),
    })
}

fn condition_call(
    lock: &mut Lock,
    asleep: &mut VecDeque<Session>,
    call: Call,
    caller: Session,
    alive: &dyn Fn(Session) -> bool,
    wakes: &mut Wakes,
) -> Answer {
    Answer::Now(match call {
        Call::Acquire(_) => return lock.acquire(caller),
        Call::Release(_) => lock.release(caller, alive, wakes),
        Call::Waiters(_) => Reply::Count(lock.waiting.len() + asleep.len()),
        Call::Wait(_) if !lock.held_by(caller) => {
            Reply::Refused("cannot wait on un-acquired lock".into())
        }
        Call::Wait(_) => {
            // Let go of the lock; the answer comes once notified and holding it again.
            lock.holder = None;
            lock.pass_on(alive, wakes);
            asleep.push_back(caller);
            return Answer::Later;
        }
        Call::Notify(_, _) if !lock.held_by(caller) => {
            Reply::Refused("cannot notify on un-acquired lock".into())
        }
        Call::Notify(_, n) => {
            // The notified line up for the lock; their `wait` returns when they get it.
            // A waiter that is gone is not counted as woken.
            asleep.retain(|&w| alive(w));
            let woken = n.min(asleep.len());
            lock.waiting.extend(asleep.drain(..woken));
            Reply::Count(woken)
        }
        _ => Reply::Refused("a condition has no such call".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everyone(_: Session) -> bool {
        true
    }

    #[test]
    fn python_indexes_never_overflow() {
        assert_eq!(python_index(-1, 3), Some(2));
        assert_eq!(python_index(i64::MIN, 3), None);
        assert_eq!(python_index(i64::MAX, 3), None);
        assert_eq!(python_index(0, 0), None);
    }

    #[test]
    fn a_lock_held_by_a_session_that_ends_goes_to_a_live_waiter() {
        let mut lock = Lock::default();
        let mut wakes = Wakes::new();
        assert!(matches!(lock.acquire(1), Answer::Now(Reply::Done)));
        assert!(matches!(lock.acquire(2), Answer::Later));
        assert!(matches!(lock.acquire(3), Answer::Later));
        lock.forget(1, &|s| s != 2, &mut wakes); // 1 ends; 2 is gone too
        assert_eq!(wakes.len(), 1);
        assert_eq!(wakes[0].0, 3);
        assert!(lock.held_by(3));
    }

    #[test]
    fn notify_counts_only_live_waiters_and_a_full_semaphore_refuses() {
        let mut cond = Object::new(Kind::Condition);
        let mut wakes = Wakes::new();
        for who in [1, 2] {
            assert!(matches!(
                cond.call(Call::Acquire(0), who, &everyone, &mut wakes),
                Answer::Now(_)
            ));
            assert!(matches!(cond.call(Call::Wait(0), who, &everyone, &mut wakes), Answer::Later));
        }
        cond.call(Call::Acquire(0), 3, &everyone, &mut wakes);
        let notified = cond.call(Call::Notify(0, 1), 3, &|s| s != 1, &mut wakes);
        assert!(matches!(notified, Answer::Now(Reply::Count(1))));
        let mut sem = Object::new(Kind::Semaphore(u32::MAX));
        let released = sem.call(Call::Release(0), 1, &everyone, &mut wakes);
        assert!(matches!(released, Answer::Now(Reply::Refused(_))), "no overflow, no panic");
    }
}
