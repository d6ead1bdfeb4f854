// Type tests of vod-ugc-upload's declarations (tsc --noEmit, strict, run by
// tests/consumers/consumers.test.mjs): every option, progress, result and
// error field as an app uses them, and wrong uses that must not compile.
import init, {
  codes,
  hashFile,
  upload,
  type HashOptions,
  type SignatureInfo,
  type UgcError,
  type UgcErrorStage,
  type UploadOptions,
  type UploadProgress,
  type UploadResult,
  type UploadStage,
} from "vod-ugc-upload";

declare const file: File;
declare const blob: Blob;
declare const wasmModule: WebAssembly.Module;

// init(): optional, with nothing, a URL, bytes, a Response or a Module.
await init();
await init(new URL("https://cdn.example/vod_ugc_upload_bg.wasm"));
await init("/assets/vod_ugc_upload_bg.wasm");
await init(new Uint8Array(8));
await init(fetch("/assets/vod_ugc_upload_bg.wasm"));
await init(wasmModule);
await init({ module_or_path: wasmModule });

const getSignature = async (info: SignatureInfo): Promise<string> => {
  const { f, ft, fs, fileName, fileSize } = info;
  const name: string = `${f}.${ft} ${fileName}`;
  const size: number = fileSize;
  return `${name}${size}${fs}`;
};

const controller = new AbortController();
const stages: UploadStage[] = [];
const options: UploadOptions = {
  getSignature,
  endpoint: "/v2/index.php",
  partSize: 524288,
  concurrency: 4,
  retries: 5,
  retryDelayMs: 500,
  timeoutMs: 60000,
  cache: false,
  signal: controller.signal,
  onProgress: (progress: UploadProgress) => {
    const { stage, loaded, total, bytesPerSecond } = progress;
    stages.push(stage);
    const fraction: number = total ? loaded / total : bytesPerSecond;
    void fraction;
  },
};
const syncSigner: UploadOptions["getSignature"] = () => "signature";

try {
  const result: UploadResult = await upload(file, options);
  const { fileId, url, fileSha, instant, resumed, rehashed, partsUploaded, partsSkipped, bytesUploaded } = result;
  const text: string = fileId + url + fileSha;
  const flags: boolean[] = [instant, resumed, rehashed];
  const counts: number[] = [partsUploaded, partsSkipped, bytesUploaded];
  void [text, flags, counts];
  await upload(blob, { getSignature: syncSigner, partSize: 1048576 });
} catch (err) {
  if (err instanceof Error && err.name === "UgcError") {
    const error = err as UgcError;
    const code: number = error.code;
    const canRetry: boolean = error.canRetry;
    const stage: UgcErrorStage = error.stage;
    const message: string = error.message;
    if (code === codes.SIGNATURE_INVALID || code === codes.LOAD_FAILED) void [canRetry, stage, message];
  }
}

const hashOptions: HashOptions = { signal: controller.signal, onProgress: (p) => void p.loaded };
const sha1: string = await hashFile(blob, hashOptions);
const sha1Again: Promise<string> = hashFile(file);
void [sha1, sha1Again];

// The codes are literal constants.
const signatureInvalid: -10002 = codes.SIGNATURE_INVALID;
const badInput: -20001 = codes.BAD_INPUT;
void [signatureInvalid, badInput];

// Wrong uses.
// @ts-expect-error an unknown option (a typo of partSize)
await upload(file, { getSignature, partsize: 524288 });
// @ts-expect-error partSize is 524288 or 1048576
await upload(file, { getSignature, partSize: 3 });
// @ts-expect-error getSignature is required
await upload(file, { endpoint: "/v2/index.php" });
// @ts-expect-error getSignature gets the info and returns a string
await upload(file, { getSignature: (info: SignatureInfo) => info.fileSize });
// @ts-expect-error the file is a Blob or File
await upload("video.mp4", options);
// @ts-expect-error hashFile takes no upload options
await hashFile(file, { getSignature });
// @ts-expect-error codes are read-only
codes.BAD_INPUT = -1;
// @ts-expect-error a stage that does not exist
const wrongStage: UgcErrorStage = "upload";
void wrongStage;
