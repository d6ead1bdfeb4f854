//! Hashes of the file: SHA-1 of the whole file (the protocol's `fileSha`)
//! and MD5 of each part (`dataMd5`), both built for speed in WebAssembly.

mod block;
pub mod file;
mod lanes;
pub mod md5;
#[cfg(not(target_arch = "wasm32"))]
pub mod md5_wide;
pub mod parts;
pub mod sha1;

pub use self::file::FileHasher;
pub use self::md5::Md5;
pub use self::parts::PartMd5s;
pub use self::sha1::Sha1;
