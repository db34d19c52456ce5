//! Pool examples: `Pool.apply`, `apply_async`, `map`, and the GIL-style comparison.
//!
//! Each example is a binary in `src/bin/`; the README's notes map lists them.
