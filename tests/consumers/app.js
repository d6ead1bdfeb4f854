// The app of every browser fixture (tests/consumers/*/): consumers.test.mjs
// copies it into each as src/index.js, so that each bundler builds the same
// code, written as an app would write it. Pick a file: it is hashed and
// uploaded; the outcome is shown as JSON in #out.
import { codes, hashFile, upload } from "vod-ugc-upload";

// The upload server is this page's own origin (relative URLs, resolved as
// fetch resolves them), unless ?server= names another (Vite's dev server).
const server = new URLSearchParams(location.search).get("server") ?? "";
const out = document.querySelector("#out");

async function getSignature({ f, ft, fs }) {
  const response = await fetch(`${server}/signature?${new URLSearchParams({ f, ft, fs })}`);
  if (!response.ok) throw new Error(`signature: HTTP ${response.status}`);
  return (await response.json()).signature;
}

document.querySelector("#file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  try {
    const sha1 = await hashFile(file);
    const result = await upload(file, { getSignature, endpoint: `${server}/v2/index.php` });
    out.textContent = JSON.stringify({ sha1, result });
  } catch (error) {
    const { name, code, stage, canRetry, message } = error;
    const known = Object.keys(codes).find((key) => codes[key] === code) ?? null;
    out.textContent = JSON.stringify({ error: { name, code, known, stage, canRetry, message } });
  }
});
document.body.dataset.ready = "true";
