// A Node.js script as an app would write it: uploads FILE to ENDPOINT,
// signed by SIGNATURE_URL (?f=&ft=&fs= → {"signature"}), and prints
// {"sha1", "result"} as JSON. The file is read from disk as it goes.
//
//   node upload.mjs FILE ENDPOINT SIGNATURE_URL
import { openAsBlob } from "node:fs";
import { basename } from "node:path";
import { codes, hashFile, upload } from "vod-ugc-upload";

const [path, endpoint, signatureUrl] = process.argv.slice(2);
const file = new File([await openAsBlob(path)], basename(path));

async function getSignature({ f, ft, fs }) {
  const response = await fetch(`${signatureUrl}?${new URLSearchParams({ f, ft, fs })}`);
  return (await response.json()).signature;
}

try {
  const sha1 = await hashFile(file);
  const result = await upload(file, { getSignature, endpoint });
  console.log(JSON.stringify({ sha1, result }));
} catch (error) {
  const { name, code, stage, message } = error;
  console.log(JSON.stringify({ error: { name, code, stage, message, signatureInvalid: code === codes.SIGNATURE_INVALID } }));
  process.exitCode = 1;
}
