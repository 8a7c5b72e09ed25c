//! Locking that survives a panic elsewhere: moonbrot's mutexes guard plain data (queues,
//! flags, the worker pool) that stays consistent even if a thread panicked while holding
//! the lock, so a poisoned lock is taken as it is rather than spreading the panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
