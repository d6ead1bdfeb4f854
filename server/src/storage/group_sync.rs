//! fdatasyncs shared by the parts of one file written at once: group
//! commit, as databases do for their logs.
//!
//! Every stored part needs its bytes and record durable before it is
//! answered, and each fdatasync ends with a flush of the disk's write
//! cache. With four parts of an upload in flight, each syncing by itself,
//! the syncs queued behind one another on the machine of BENCHMARKS.md
//! (a third of a part's time on the server). Here a part whose writes are
//! done waits for the next sync of its file to *start*, and that one sync
//! covers every part written before it: the first to arrive while none is
//! running runs it, for everyone waiting.
//!
//! A sync that started before a part's writes were done does not count for
//! that part (it may have missed them); one that fails fails every part
//! waiting on the file, and every part after, while any is in flight (a
//! failed writeback may have dropped pages: a later sync's success would
//! not prove them kept).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The files being synced, by device and inode (not by path: an upload's
/// file deleted and made again at the same path is another file, whose
/// writes the old one's sync would not cover); a file's entry lives while
/// parts of it are being synced.
#[derive(Default)]
pub struct GroupSync {
    files: Mutex<HashMap<(u64, u64), Arc<FileSync>>>,
}

#[derive(Default)]
struct FileSync {
    state: Mutex<SyncState>,
    /// Signalled when a sync ends.
    ended: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Syncs started, counting the one running.
    started: u64,
    /// The last sync that succeeded (its number among `started`).
    succeeded: u64,
    running: bool,
    failed: bool,
    /// Parts syncing this file now.
    users: usize,
}

impl GroupSync {
    /// Makes what was written to `file` before this call durable, as
    /// `file.sync_data()` does: by a sync that starts after this call, run
    /// here or by another part of the same file.
    pub fn sync_data(&self, file: &File) -> io::Result<()> {
        let held = file.metadata()?;
        let key = (held.dev(), held.ino());
        let entry = {
            let mut files = lock(&self.files);
            let entry = Arc::clone(files.entry(key).or_default());
            lock(&entry.state).users += 1;
            entry
        };
        let synced = entry.sync_data(file);
        let mut files = lock(&self.files);
        let mut state = lock(&entry.state);
        state.users -= 1;
        if state.users == 0 {
            files.remove(&key);
        }
        synced
    }
}

impl FileSync {
    fn sync_data(&self, file: &File) -> io::Result<()> {
        let mut state = lock(&self.state);
        // The first sync to start from now on.
        let wanted = state.started + 1;
        loop {
            if state.failed {
                return Err(io::Error::other(
                    "an fdatasync of this upload's file failed",
                ));
            }
            if state.succeeded >= wanted {
                return Ok(());
            }
            if state.running {
                state = self.ended.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.running = true;
            state.started += 1;
            let this = state.started;
            drop(state);
            let synced = file.sync_data();
            state = lock(&self.state);
            state.running = false;
            match synced {
                Ok(()) => state.succeeded = this,
                Err(_) => state.failed = true,
            }
            self.ended.notify_all();
            synced?;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A new empty file in a folder of its own (kept while the folder is).
    fn new_file() -> (tempfile::TempDir, std::path::PathBuf, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let file = File::create(&path).unwrap();
        (dir, path, file)
    }

    /// Many writers of one file at once: each returns with its write
    /// synced and in the file, and the file's entry is gone once they are
    /// done.
    #[test]
    fn writers_of_one_file_share_syncs() {
        let (_dir, path, _) = new_file();
        let group = GroupSync::default();
        std::thread::scope(|scope| {
            for i in 0..16u64 {
                let (group, path) = (&group, &path);
                scope.spawn(move || {
                    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                    file.write_all_at(&[i as u8; 512], i * 512).unwrap();
                    group.sync_data(&file).unwrap();
                });
            }
        });
        assert!(lock(&group.files).is_empty());
        let data = std::fs::read(&path).unwrap();
        for i in 0..16u64 {
            assert!(data[i as usize * 512..][..512]
                .iter()
                .all(|&b| b == i as u8));
        }
    }

    /// A sync running when a part arrives does not count for it: it waits
    /// for the next one, which it runs itself when nobody else does.
    #[test]
    fn a_sync_started_before_does_not_count() {
        let (_dir, _, file) = new_file();
        let entry = FileSync::default();
        {
            let mut state = lock(&entry.state);
            state.started = 1;
            state.running = true;
        }
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| entry.sync_data(&file));
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!waiter.is_finished(), "it waits for the running sync");
            {
                let mut state = lock(&entry.state);
                state.running = false;
                state.succeeded = 1;
            }
            entry.ended.notify_all();
            waiter.join().unwrap().unwrap();
        });
        let state = lock(&entry.state);
        assert_eq!(
            (state.started, state.succeeded),
            (2, 2),
            "it ran a sync of its own"
        );
    }

    /// After a failed sync, every part of the file fails.
    #[test]
    fn a_failed_sync_fails_every_part_of_the_file() {
        let (_dir, _, file) = new_file();
        let entry = FileSync::default();
        lock(&entry.state).failed = true;
        assert!(entry.sync_data(&file).is_err());
    }
}
