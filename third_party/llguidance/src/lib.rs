//! Re-exports llguidance so that its `extern "C"` functions (llguidance.h) land in this
//! static library.
pub use llguidance;
