//! Base images: fetched (downloaded or copied), verified against their
//! SHA-256 and kept in the local cache under it, once per base per run,
//! whatever backend then builds from them.

mod fetch;
mod fetched_base;

pub use fetch::{FetchOptions, expected_sha256, fetch};
pub use fetched_base::FetchedBase;
