//! Beyond note 003 "进程的锁机制": its value and lock in a segment with a name (CPython:
//! `shared_memory.SharedMemory(name=...)`), opened by two programs that are not forked
//! children (this one, run as `named_value add SEGMENT N`): they add 1 and 3, five times.
//!
//! | CPython                                          | Rust                              |
//! |--------------------------------------------------|-----------------------------------|
//! | `shm = SharedMemory(create=True, size=n)`        | `ShmemConf::new().size(n).create()?` (`shared_memory`) |
//! | `SharedMemory(name)`; `shm.unlink()`             | `ShmemConf::new().os_id(name).open()?`; `shm_unlink(name)?` |
//!
//! Run: `cargo run -p examples-ipc --bin named_value`
//!
//! ```text
//! named: created segment /shmem_A2307355091F0FA1       <- the name varies
//! job(1): 1 2 3 4 5                                      <- or job(3) first
//! job(3): 8 11 14 17 20
//! named: both adders attached; name removed              <- anywhere after "created"
//! named: value = 20
//! ```
//!
//! Where Rust differs: the name is removed once both adders have the segment mapped:
//! nothing is left in `/dev/shm` however they end (a Ctrl-C before that waits for it).
//!
//! Copy it: `cargo new named_value`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! cargo add nix@0.31 --features mman
//! cargo add shared_memory@0.12
//! ```

use std::io;
use std::mem::size_of;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

use examples_ipc::sync::RobustMutex;
use examples_process::{DeferTermination, Failure, die_with_parent};
use nix::sys::mman::shm_unlink;
use shared_memory::{Shmem, ShmemConf};

const USAGE: &str = "usage: named_value [add <segment> <amount 1..=1000>]";
fn main() -> Result<ExitCode, Failure> {
    examples_process::exit_on_stdout_failure();
    let args: Vec<String> =
        std::env::args_os().skip(1).map(|a| a.to_string_lossy().into()).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => named()?,
        ["add", segment, amount] => {
            let Ok(n @ 1..=1000) = amount.parse::<i32>() else {
                return Ok(usage(&format!("the amount must be 1 to 1000, not {amount:?}")));
            };
            let shmem = ShmemConf::new().os_id(segment).open();
            let Some(named) = shmem.as_ref().ok().and_then(NamedSegment::check) else {
                return Ok(usage(&format!("{segment:?} is not a segment this program made")));
            };
            named.attached.fetch_add(1, SeqCst); // the creator may remove the name now
            let mut value = named.value.lock()?; // the note's job(v, num, l), as in `value`
            let mut seen = Vec::new();
            for _ in 0..5 {
                *value += n;
                seen.push(value.to_string());
            }
            println!("job({n}): {}", seen.join(" ")); // still holding the lock: fine here
        }
        ["-h" | "--help"] => println!("{USAGE}"),
        _ => return Ok(usage(&format!("unexpected arguments {args:?}"))),
    }
    Ok(ExitCode::SUCCESS)
}

fn usage(what: &str) -> ExitCode {
    eprintln!("named_value: {what}; {USAGE}");
    ExitCode::from(2)
}

/// A tag (`add` touches only a segment that has it), the adders attached, the value.
#[repr(C)]
struct NamedSegment {
    tag: AtomicU64,
    attached: AtomicU32,
    value: RobustMutex<i32>,
}

impl NamedSegment {
    const TAG: u64 = u64::from_be_bytes(*b"valu:i32");
    fn check(segment: &Shmem) -> Option<&NamedSegment> {
        if segment.len() < size_of::<NamedSegment>() {
            return None;
        }
        let named = segment.as_ptr().cast::<NamedSegment>();
        // SAFETY: page-aligned and large enough, and any 8 bytes are a valid `AtomicU64`.
        // The tag is written once the lock is initialised (SeqCst both sides): a tagged
        // segment holds a `NamedSegment`, mapped while `segment` lives.
        unsafe { ((*named).tag.load(SeqCst) == NamedSegment::TAG).then(|| &*named) }
    }
}

/// Makes the segment, runs the two adders, removes the name once both have it mapped.
fn named() -> Result<(), Failure> {
    // Ctrl-C or SIGTERM from here until the name is removed waits for that removal.
    let hold_signals = DeferTermination::new()?;
    let segment = ShmemConf::new().size(size_of::<NamedSegment>()).create();
    let mut segment = segment.map_err(io::Error::other)?;
    let name = segment.get_os_id().to_string();
    let slot = segment.as_ptr().cast::<NamedSegment>();
    // SAFETY: the segment is new, zeroed, page-aligned and large enough; nobody else
    // has it yet. The tag goes in last, once the lock is ready.
    unsafe {
        RobustMutex::init(std::ptr::addr_of_mut!((*slot).value), 0)?;
        (*slot).tag.store(NamedSegment::TAG, SeqCst);
    }
    // SAFETY: initialised just above; `segment`, which keeps it mapped, lives to the end.
    let named = unsafe { &*slot };
    println!("named: created segment {name}");
    let me = std::env::current_exe()?;
    let mut adders = Vec::new();
    for amount in ["1", "3"] {
        adders.push(die_with_parent(&mut Command::new(&me))?.args(["add", &name, amount]).spawn()?);
    }
    while named.attached.load(SeqCst) < 2 {
        if let Some(ended) = adders.iter_mut().find_map(|a| a.try_wait().ok().flatten()) {
            check(ended, &name, &mut adders)?; // a success: it attached and is done already
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    segment.set_owner(false); // the name goes now: nothing can be left in /dev/shm
    shm_unlink(name.as_str())?;
    drop(hold_signals);
    println!("named: both adders attached; name removed");
    for i in 0..adders.len() {
        check(adders[i].wait()?, &name, &mut adders)?;
    }
    let end = *named.value.lock()?;
    println!("named: value = {end}");
    assert_eq!(end, 20);
    Ok(())
}

/// An adder's end: fine, an error, or (SIGPIPE: the output is closed) the quiet end,
/// once the adders are gone and the name removed (ending skips destructors).
fn check(status: ExitStatus, name: &str, adders: &mut [Child]) -> Result<(), Failure> {
    if status.signal() == Some(nix::libc::SIGPIPE) {
        adders.iter_mut().for_each(|a| drop((a.kill(), a.wait())));
        let _ = shm_unlink(name); // already gone if both adders had attached
        examples_process::end_as_stdout_closed();
    }
    status.success().then_some(()).ok_or_else(|| Failure::new(format!("an adder failed: {status}")))
}
