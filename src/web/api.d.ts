/** What `getSignature` is given: the fields a signature is made of. */
export interface SignatureInfo {
  /** The file name without its extension. */
  f: string;
  /** The extension without the dot, lowercase ("" when there is none). */
  ft: string;
  /** SHA-1 of the whole file, 40 lowercase hex digits. */
  fs: string;
  /** The full file name; a Blob with no name gives "blob". */
  fileName: string;
  /** Size in bytes. */
  fileSize: number;
}

export type UploadStage = "hash" | "upload" | "finish";

/** A progress report: `loaded`/`total` in bytes of that stage. */
export interface UploadProgress {
  stage: UploadStage;
  loaded: number;
  total: number;
  /** Smoothed rate of this stage. */
  bytesPerSecond: number;
}

export interface UploadOptions {
  /**
   * Asks the app's backend for a signature; called once, after hashing (or
   * finding the remembered hash), and again for the new `fs` when a stale
   * remembered hash forced a re-hash.
   */
  getSignature: (info: SignatureInfo) => string | Promise<string>;
  /** Default "https://vod2.qcloud.com/v2/index.php". */
  endpoint?: string;
  /** Part size asked for: 524288 or 1048576 (default). On resume the server's size wins. */
  partSize?: 524288 | 1048576;
  /** Parts in flight, 1 to 16, default 4. */
  concurrency?: number;
  /** Extra tries per request, 0 to 20, default 5. */
  retries?: number;
  /** Backoff base in ms (exponential, full jitter), 0 to 60000, default 500. */
  retryDelayMs?: number;
  /** Time limit per request in ms, 100 to 3600000, default 60000. */
  timeoutMs?: number;
  /**
   * Default true: remember the file's SHA-1 and part MD5s (IndexedDB, 7
   * days, forgotten when the upload finishes), so that uploading the same
   * File again, even after a reload, skips hashing. Storage that fails
   * (private mode, quota, no IndexedDB) just means hashing.
   */
  cache?: boolean;
  /** Aborting it stops all work and requests; the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Called at least once per part and every 4 MiB while hashing. */
  onProgress?: (progress: UploadProgress) => void;
}

export interface UploadResult {
  fileId: string;
  url: string;
  fileSha: string;
  /** InitUploadUGC answered 2: the server already had the file. */
  instant: boolean;
  /** InitUploadUGC answered 1: stored parts were skipped. */
  resumed: boolean;
  /**
   * The remembered hash was stale (the file changed in place: same name,
   * size and date, other bytes), so the file was hashed and uploaded again.
   */
  rehashed: boolean;
  partsUploaded: number;
  partsSkipped: number;
  bytesUploaded: number;
}

/** "load": the WebAssembly module could not be loaded (code -20007, `codes.LOAD_FAILED`). */
export type UgcErrorStage = "load" | "input" | "hash" | "sign" | "init" | "part" | "finish";

/**
 * How `upload` and `hashFile` reject, except on abort (a DOMException named
 * "AbortError"). `code` is the server's negative code or a client code:
 * -20001 bad input, -20002 getSignature failed, -20003 network failure after
 * all retries, -20004 timeout after all retries, -20005 answer not understood,
 * -20006 the file could not be read (changed, moved or deleted since it was
 * picked: pick it again, the upload resumes),
 * -20007 the WebAssembly module could not be loaded (no WebAssembly SIMD, or
 * the .wasm not found). `codes` names them all.
 */
export interface UgcError extends Error {
  name: "UgcError";
  code: number;
  canRetry: boolean;
  stage: UgcErrorStage;
}

export interface HashOptions {
  onProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
}

/** Uploads a File or Blob with InitUploadUGC, UploadPartUGC and FinishUploadUGC. */
export function upload(file: Blob, options: UploadOptions): Promise<UploadResult>;

/** SHA-1 of a File or Blob, read in chunks: 40 lowercase hex digits. */
export function hashFile(file: Blob, options?: HashOptions): Promise<string>;
