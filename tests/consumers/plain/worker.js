// Hashes and uploads the File it is sent, in a module Worker. Import maps do
// not apply to Workers: the package is imported by its path. The endpoint is
// relative: it resolves against this Worker's location, as fetch would.
import { hashFile, upload } from "./node_modules/vod-ugc-upload/vod_ugc_upload.js";

async function getSignature({ f, ft, fs }) {
  const response = await fetch(`/signature?${new URLSearchParams({ f, ft, fs })}`);
  return (await response.json()).signature;
}

onmessage = async ({ data: file }) => {
  try {
    const sha1 = await hashFile(file);
    const result = await upload(file, { getSignature, endpoint: "/v2/index.php" });
    postMessage({ sha1, result });
  } catch ({ name, code, stage, message }) {
    postMessage({ error: { name, code, stage, message } });
  }
};
