//! The connection's tests: messages, descriptors, threads, and a fuzz of the reader.

use super::*;

#[test]
fn messages_of_any_serde_type_arrive_whole_and_in_order() {
    let (a, b) = pipe().unwrap();
    a.send(&"one").unwrap();
    a.send(&vec![1_u64, 2, 3]).unwrap();
    a.send(&(7_i8, Some('x'))).unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "one");
    assert_eq!(b.recv::<Vec<u64>>().unwrap(), [1, 2, 3]);
    assert_eq!(b.recv::<(i8, Option<char>)>().unwrap(), (7, Some('x')));
    b.send(&'!').unwrap(); // and back: the pipe is duplex
    assert_eq!(a.recv::<char>().unwrap(), '!');
}

#[test]
fn messages_that_came_together_are_read_at_once_and_polled_from_the_buffer() {
    let (a, b) = pipe().unwrap();
    for i in 0..100_u32 {
        a.send(&i).unwrap();
    }
    // Larger than one read ahead, and than the socket's buffer: sent from a thread.
    let sender = std::thread::spawn(move || a.send_bytes(&vec![9; 200_000]).unwrap());
    assert_eq!(b.recv::<u32>().unwrap(), 0);
    assert!(b.buffered(), "the next ones were read with the first");
    assert!(b.poll(Duration::ZERO).unwrap());
    for i in 1..100_u32 {
        assert_eq!(b.recv::<u32>().unwrap(), i);
    }
    assert_eq!(b.recv_bytes().unwrap(), vec![9; 200_000]);
    sender.join().unwrap(); // and `a` is gone with it: end-of-file comes next
    assert!(!b.buffered());
    assert_eq!(b.recv::<u32>().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn poll_sees_a_message_and_end_of_file() {
    let (a, b) = pipe().unwrap();
    assert!(!b.poll(Duration::ZERO).unwrap());
    a.send(&1_u8).unwrap();
    assert!(b.poll(Duration::from_secs(10)).unwrap());
    assert_eq!(b.recv::<u8>().unwrap(), 1);
    drop(a);
    assert!(b.poll(Duration::from_secs(10)).unwrap(), "end-of-file is readable too");
    assert_eq!(b.recv::<u8>().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn too_large_and_corrupt_messages_are_refused() {
    let (a, b) = pipe().unwrap();
    let huge = vec![0_u8; MAX_MESSAGE + 1];
    assert_eq!(a.send(&huge).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    // A header announcing more than the limit: refused before allocating it.
    (&a.stream).write_all(&u32::MAX.to_be_bytes()).unwrap();
    assert_eq!(b.recv::<u8>().unwrap_err().kind(), io::ErrorKind::InvalidData);
    // A body that cannot be the type asked for (postcard is not self-describing, so
    // only bytes that fit no value of the type are caught).
    a.send(&u64::MAX).unwrap();
    assert_eq!(b.recv::<bool>().unwrap_err().kind(), io::ErrorKind::InvalidData);
}

#[test]
fn raw_bytes_and_serialised_messages_share_the_pipe() {
    let (a, b) = pipe().unwrap();
    a.send_bytes(&b"0123456789"[2..5]).unwrap(); // offset 2, size 3
    a.send(&7_u8).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"234");
    assert_eq!(b.recv_bytes().unwrap(), postcard::to_stdvec(&7_u8).unwrap());
    a.send_bytes(b"").unwrap();
    let mut buf = [9_u8; 4];
    assert_eq!(b.recv_bytes_into(&mut buf).unwrap(), 0, "an empty message");
}

#[test]
fn a_descriptor_passes_between_messages() {
    let (a, b) = pipe().unwrap();
    let (reader, mut writer) = io::pipe().unwrap();
    a.send(&"before").unwrap();
    a.send_fd(&reader).unwrap();
    a.send(&"after").unwrap();
    drop(reader); // the receiver's copy keeps the pipe open
    assert_eq!(b.recv::<String>().unwrap(), "before");
    let received = io::PipeReader::from(b.recv_fd().unwrap());
    assert_eq!(b.recv::<String>().unwrap(), "after");
    writer.write_all(b"through the passed end").unwrap();
    drop(writer);
    let mut text = String::new();
    (&received).read_to_string(&mut text).unwrap();
    assert_eq!(text, "through the passed end");
    a.send(&1_u8).unwrap();
    assert_eq!(b.recv_fd().unwrap_err().kind(), io::ErrorKind::InvalidData, "not a descriptor");
}

#[test]
fn two_threads_sending_at_once_never_interleave() {
    let (a, b) = pipe().unwrap();
    let a = std::sync::Arc::new(a);
    // Each message is larger than the socket's buffer, so each write takes several
    // system calls: unserialised, the other thread's bytes would land in between.
    let senders: Vec<_> = (0..2_u8)
        .map(|k| {
            let a = std::sync::Arc::clone(&a);
            std::thread::spawn(move || {
                for _ in 0..20 {
                    a.send_bytes(&vec![k; 300_000]).unwrap();
                }
            })
        })
        .collect();
    drop(a); // the senders' copies go when they end: then end-of-file
    for _ in 0..40 {
        let message = b.recv_bytes().expect("a whole message");
        assert_eq!(message.len(), 300_000);
        assert!(message.iter().all(|&x| x == message[0]), "two messages interleaved");
    }
    senders.into_iter().for_each(|s| s.join().unwrap());
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn descriptors_nobody_asked_for_are_closed() {
    let (a, b) = pipe().unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    let before = open_descriptors();
    for i in 0..3000_u32 {
        // A plain message with a descriptor riding on it (a confused or hostile peer).
        let mut frame = 4_u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&i.to_le_bytes());
        examples_process::reduction::send_fds(&a.stream, &frame, &[file.as_fd()]).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), i.to_le_bytes());
    }
    // Other tests run meanwhile on other threads: allow for their few descriptors.
    let after = open_descriptors();
    assert!(after < before + 50, "{before} descriptors before, {after} after");
    // A descriptor that does come as one is still handed over.
    a.send_fd(&file).unwrap();
    drop(b.recv_fd().unwrap());
}

/// Seeds from `FUZZ_SEEDS` (`FUZZ_SEEDS=1000`: seeds 1 to 1000), else a fixed few.
fn fuzz_seeds() -> Vec<u64> {
    match std::env::var("FUZZ_SEEDS").ok().and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => (1..=n).collect(),
        None => (1..=200).collect(),
    }
}

/// Random bytes from a peer, lengths huge or short, then the end: the reader gives
/// messages or errors, never panics, never waits once the writer has gone.
#[test]
fn random_frames_give_errors_not_panics() {
    for seed in fuzz_seeds() {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (a, b) = pipe().unwrap();
        let mut bytes = Vec::new();
        for _ in 0..(next() % 6 + 1) {
            let len = if next() % 3 == 0 { next() as u32 } else { (next() % 64) as u32 };
            bytes.extend(len.to_be_bytes());
            bytes.extend((0..next() % 96).map(|_| next() as u8));
        }
        (&a.stream).write_all(&bytes).unwrap();
        drop(a);
        for _ in 0..64 {
            match b.recv::<(u32, String, Vec<u8>)>() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "seed {seed}: {e}"),
            }
            if b.recv_bytes().is_err() {
                break;
            }
        }
    }
}

#[test]
fn a_one_way_reader_can_poll() {
    let (r, mut w) = one_way().unwrap();
    assert!(!r.poll(Duration::ZERO).unwrap());
    w.send(&1_u8).unwrap();
    assert!(r.poll(Duration::from_secs(10)).unwrap());
}

#[test]
fn a_one_way_pipe_ends_when_its_writer_does() {
    let (mut r, mut w) = one_way().unwrap();
    w.send(&"only").unwrap();
    drop(w);
    assert_eq!(r.recv::<String>().unwrap(), "only");
    assert_eq!(r.recv::<String>().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}
