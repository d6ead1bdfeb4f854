//! Hashes of the file: SHA-1 of the whole file (the protocol's `fileSha`).

pub mod sha1;

pub use self::sha1::Sha1;
