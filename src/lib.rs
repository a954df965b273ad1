//! kiln.
pub use kiln_runtime as runtime;
