// A small W3C WebDriver client (plain fetch, no dependencies), to drive
// Firefox ESR (geckodriver) and WebKitGTK (WebKitWebDriver, under Xvfb) the
// way the browser tests do: the benchmark's per-engine sections and the
// WebKit stress test use it. Chromium is driven with playwright-core.

import { spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";

/** How to start each engine's driver, and the capabilities it is given. */
export const ENGINES = {
  firefox: {
    name: "Firefox ESR",
    command: (port) => ["geckodriver", ["--port", String(port), "--host", "127.0.0.1"]],
    capabilities: { browserName: "firefox", "moz:firefoxOptions": { args: ["-headless"] } },
  },
  webkit: {
    name: "WebKitGTK",
    // WebKitWebDriver needs a display, even headless.
    command: (port) => ["xvfb-run", ["-a", "/usr/bin/WebKitWebDriver", `--port=${port}`]],
    capabilities: {},
  },
};

async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/**
 * Starts `engine`'s driver and a session in it: `{ session, stop, pid }`.
 * `pid` is the driver process (the browser runs below it: its memory is
 * that process tree's). `env` adds to the driver's environment (it passes
 * it on to the browser).
 */
export async function startSession(engine, env = {}) {
  const spec = ENGINES[engine];
  if (!spec) throw new Error(`unknown engine ${engine}`);
  const port = await freePort();
  const [bin, args] = spec.command(port);
  const proc = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env }, detached: true });
  let stderr = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d) => { stderr = (stderr + d).slice(-5000); });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const answer = await res.json();
    if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${answer.value?.error}: ${answer.value?.message}`);
    return answer.value;
  };
  const stopDriver = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    // The driver and what it started (xvfb-run, Xvfb, the browser).
    try { process.kill(-proc.pid, "SIGTERM"); } catch {}
    const timer = setTimeout(() => { try { process.kill(-proc.pid, "SIGKILL"); } catch {} }, 5000);
    await once(proc, "exit").catch(() => {});
    clearTimeout(timer);
  };
  let id = null;
  let version = "";
  for (let i = 0; i < 100 && id === null; i++) {
    await new Promise((r) => setTimeout(r, 200));
    if (proc.exitCode !== null) break;
    try {
      const value = await call("POST", "/session", { capabilities: { alwaysMatch: spec.capabilities } });
      id = value.sessionId;
      version = `${value.capabilities?.browserName ?? ""} ${value.capabilities?.browserVersion ?? ""}`.trim();
    } catch (e) {
      if (!/fetch failed|ECONNREFUSED/.test(`${e.message} ${e.cause?.code}`)) {
        await stopDriver();
        throw e;
      }
    }
  }
  if (id === null) {
    await stopDriver();
    throw new Error(`${spec.name}: the driver did not start a session\n${stderr}`);
  }
  const s = `/session/${id}`;
  const session = {
    name: spec.name,
    /** The browser's name and version, as its driver says. */
    version,
    goto: (url) => call("POST", `${s}/url`, { url }),
    /** Runs `body` (a function's source taking `args`) in the page; awaits a promise it returns. */
    run: async (body, ...args) => {
      const script = `const done = arguments[arguments.length - 1];
        Promise.resolve().then(() => (${body})(...Array.from(arguments).slice(0, -1)))
          .then((value) => done({ ok: true, value }), (e) => done({ ok: false, error: String(e && e.stack || e) }));`;
      const r = await call("POST", `${s}/execute/async`, { script, args });
      if (!r.ok) throw new Error(r.error);
      return r.value;
    },
    /** Sets the file of `<input type=file>` matched by `css`. */
    setFile: async (css, filePath) => {
      const el = await call("POST", `${s}/element`, { using: "css selector", value: css });
      const ref = Object.values(el)[0];
      await call("POST", `${s}/element/${ref}/value`, { text: filePath });
    },
    setTimeouts: (ms) => call("POST", `${s}/timeouts`, { script: ms, pageLoad: ms }),
  };
  await session.setTimeouts(600_000);
  return {
    session,
    pid: proc.pid,
    async stop() {
      await call("DELETE", s).catch(() => {});
      await stopDriver();
    },
  };
}
