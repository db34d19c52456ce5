//! Races, locks and synchronisation examples: `Lock`, `RLock`, `Condition`, producer-consumer.
//!
//! Each example is a binary in `src/bin/`; the README's notes map lists them.
