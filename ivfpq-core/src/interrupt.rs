//! Cooperative interruption of long work: training, encoding and out-of-core builds.
//!
//! A host that can be interrupted (the Python package on Ctrl-C) calls [`request`] from
//! another thread; k-means stops after its current iteration, and the call that was
//! running returns [`IvfPqError::Interrupted`] at its next check, with nothing half
//! written (file writes are atomic). One flag serves the process, as FAISS's interrupt
//! callback does: the work it stops runs on a shared thread pool anyway.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{IvfPqError, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks running work to stop at its next check.
pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Clears a request, before new work starts.
pub fn clear() {
    REQUESTED.store(false, Ordering::Relaxed);
}

/// Whether stopping was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// [`IvfPqError::Interrupted`] when stopping was requested.
pub fn check() -> Result<()> {
    if requested() {
        return Err(IvfPqError::Interrupted);
    }
    Ok(())
}
