// Storage of the hash cache (src/cache.rs has its rules, src/web/cache.rs
// uses it): one IndexedDB object store, entries keyed by the text of
// cache::key. Each call resolves, never rejects: with no IndexedDB (Node.js,
// some private modes), a full quota, a blocked or broken database, or no
// answer within STORAGE_TIMEOUT_MS, a read finds nothing and a write keeps
// nothing, and the upload hashes the file as it would without a cache.

const DATABASE = "vod-ugc-upload";
const STORE = "hashes";
/** A database that does not answer must not hold an upload up. */
const STORAGE_TIMEOUT_MS = 3000;

let opened;

/** The database, opened once per page (and again after a failure). */
function database() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(DATABASE, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => {
        const db = request.result;
        // Another tab with a newer version of this package wants to
        // upgrade the database: let it.
        db.onversionchange = () => {
          db.close();
          opened = undefined;
        };
        resolve(db);
      };
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("blocked"));
    });
    opened.catch(() => {
      opened = undefined;
    });
  }
  return opened;
}

/**
 * Runs `work(store)` in a transaction; resolves to what the request
 * `work` returns gave, once the transaction is committed, or to
 * `undefined` on any failure.
 */
function transaction(mode, work) {
  if (typeof indexedDB === "undefined") return Promise.resolve(undefined);
  const done = (async () => {
    const db = await database();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request && request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  })();
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, STORAGE_TIMEOUT_MS);
  });
  return Promise.race([done, timeout])
    .catch(() => undefined)
    .finally(() => clearTimeout(timer));
}

/** The entry stored under `key`: `{ sha, partSize, md5s, savedAt }`, or undefined. */
export function cacheGet(key) {
  return transaction("readonly", (store) => store.get(key));
}

/**
 * Stores `{ sha, partSize, md5s, savedAt }` under `key`, and drops entries
 * saved before `cutoff` (ms since the epoch). `md5s` is a view of the
 * module's memory: copied.
 */
export function cachePut(key, sha, partSize, md5s, savedAt, cutoff) {
  const entry = { sha, partSize, md5s: md5s.slice(), savedAt };
  return transaction("readwrite", (store) => {
    store.openCursor().onsuccess = (event) => {
      const cursor = event.target.result;
      if (!cursor) return;
      const savedAt = cursor.value && cursor.value.savedAt;
      if (!(savedAt >= cutoff)) cursor.delete();
      cursor.continue();
    };
    store.put(entry, key);
  });
}

/** Forgets the entry stored under `key`. */
export function cacheDelete(key) {
  return transaction("readwrite", (store) => {
    store.delete(key);
  });
}
