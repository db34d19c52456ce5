//! Inter-process communication examples: `Queue`, `Pipe`, `Manager`, shared `Value`.
//!
//! Each example is a binary in `src/bin/`; the README's notes map lists them.
