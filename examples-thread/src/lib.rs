//! Thread examples: `threading.Thread` and friends in Rust.
//!
//! Each example is a binary in `src/bin/`; the README's notes map lists them.
