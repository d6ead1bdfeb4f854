//! The load generator of the server section of `npm run bench`
//! (`bench/server.mjs`): uploads files to vod-ugc-server over loopback the
//! way the package does (InitUploadUGC, every part with 4 in flight per
//! file, FinishUploadUGC), checking every answer.
//!
//! Native and light on purpose: the bench measures how fast the server
//! receives on a 2-core machine it shares with its client, so the client
//! should take as little of those cores as it can (Node's http client took
//! 0.5 to 0.9 s of CPU per GiB sent). One thread, keep-alive HTTP/1.1 over
//! plain TCP, bodies and digests computed before the timed window.
//!
//! `vod-ugc-load --addr 127.0.0.1:PORT --mib N --server-pid PID`, then one
//! line `run` on stdin per run; each run prints one JSON line on stdout:
//! `{"receiveMs", "finishMs", "serverCpu", "clientCpu"}` (CPU in seconds,
//! user + system, over the receive window: first Init to the last part's
//! answer).

use std::error::Error;
use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use md5::{Digest, Md5};
use serde_json::Value;
use sha1::Sha1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vod_ugc_upload::protocol::{code, to_hex, Answer, FinishQuery, InitQuery, PartQuery};

const MIB: usize = 1 << 20;
/// Uploads at once, and parts in flight per upload (the package's default).
const UPLOADS: usize = 4;
const IN_FLIGHT: usize = 4;
/// The protocol's endpoint on the server (its requests built by the
/// package's own `protocol` module, as the browser's are).
const ENDPOINT: &str = "/v2/index.php";

fn main() -> Result<(), BoxError> {
    let args = Args::parse()?;
    let mut shared = vec![0; args.mib * MIB];
    getrandom::fill(&mut shared)?;
    let part_md5s: Vec<String> = shared.chunks(MIB).map(md5_hex).collect();
    let shared = Arc::new(shared);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    for line in io::stdin().lock().lines() {
        if line?.trim() != "run" {
            return Err("stdin: expected `run`".into());
        }
        let files = Arc::new(prepare(&shared, &part_md5s)?);
        let outcome = runtime.block_on(run(&args, &shared, &files))?;
        let mut out = io::stdout().lock();
        writeln!(out, "{outcome}")?;
        out.flush()?;
    }
    Ok(())
}

struct Args {
    addr: String,
    mib: usize,
    server_pid: u32,
}

impl Args {
    fn parse() -> Result<Args, BoxError> {
        let (mut addr, mut mib, mut server_pid) = (None, None, None);
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--addr" => addr = Some(value),
                "--mib" => mib = Some(value.parse()?),
                "--server-pid" => server_pid = Some(value.parse()?),
                _ => return Err(format!("unknown argument {flag}").into()),
            }
        }
        let usage = "usage: vod-ugc-load --addr HOST:PORT --mib N --server-pid PID";
        Ok(Args {
            addr: addr.ok_or(usage)?,
            mib: mib.filter(|m| *m > 0).ok_or(usage)?,
            server_pid: server_pid.ok_or(usage)?,
        })
    }
}

/// One file of a run: the shared bytes but for a fresh first part (16
/// random bytes), so the server sees a new file (no instant upload).
struct File {
    first: Vec<u8>,
    sha: String,
    md5s: Vec<String>,
}

impl File {
    fn part<'a>(&'a self, shared: &'a [u8], index: usize) -> &'a [u8] {
        match index {
            0 => &self.first,
            _ => &shared[index * MIB..(index + 1) * MIB],
        }
    }
}

fn prepare(shared: &[u8], part_md5s: &[String]) -> Result<Vec<File>, getrandom::Error> {
    (0..UPLOADS)
        .map(|_| {
            let mut first = shared[..MIB].to_vec();
            getrandom::fill(&mut first[..16])?;
            let sha = Sha1::new()
                .chain_update(&first)
                .chain_update(&shared[MIB..])
                .finalize();
            let mut md5s = part_md5s.to_vec();
            md5s[0] = md5_hex(&first);
            Ok(File {
                sha: to_hex(&sha),
                md5s,
                first,
            })
        })
        .collect()
}

/// What one run measured.
struct Outcome {
    receive_ms: f64,
    finish_ms: f64,
    server_cpu: f64,
    client_cpu: f64,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::json!({
            "receiveMs": self.receive_ms,
            "finishMs": self.finish_ms,
            "serverCpu": self.server_cpu,
            "clientCpu": self.client_cpu,
        });
        write!(f, "{json}")
    }
}

type Files = Arc<Vec<File>>;
type BoxError = Box<dyn Error + Send + Sync>;

async fn run(args: &Args, shared: &Arc<Vec<u8>>, files: &Files) -> Result<Outcome, BoxError> {
    let addr = args.addr.as_str();
    let mut signatures = Vec::new();
    let mut conn = Conn::connect(addr).await?;
    for file in files.iter() {
        let target = format!("/signature?f=load&ft=bin&fs={}&uid=1", file.sha);
        let reply = conn.call("GET", &target, &[]).await?;
        let answer: Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let signature = answer["signature"]
            .as_str()
            .ok_or_else(|| reply.error("no signature"))?;
        signatures.push(signature.to_owned());
    }
    let signatures = Arc::new(signatures);
    let mib = args.mib;

    let cpu0 = (
        cpu_seconds(&args.server_pid.to_string())?,
        cpu_seconds("self")?,
    );
    let t0 = Instant::now();
    // InitUploadUGC of every file, each on its own connection (kept for
    // its parts); then the parts, IN_FLIGHT per file.
    let inits: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let (addr, files, signatures) = (addr.to_owned(), files.clone(), signatures.clone());
            tokio::spawn(async move {
                let mut conn = Conn::connect(&addr).await?;
                let target = InitQuery {
                    file_sha: files[i].sha.clone(),
                    file_size: (mib * MIB) as u64,
                    data_size: MIB as u64,
                    signature: signatures[i].clone(),
                }
                .url(ENDPOINT);
                conn.call("GET", &target, &[])
                    .await?
                    .expect_ok("InitUploadUGC")?;
                Ok::<_, BoxError>(conn)
            })
        })
        .collect();
    let mut conns = Vec::new();
    for init in inits {
        conns.push(Some(init.await??));
    }
    let mut workers = Vec::new();
    for (i, conn) in conns.iter_mut().enumerate() {
        let next = Arc::new(AtomicUsize::new(0));
        for w in 0..IN_FLIGHT {
            let reused = if w == 0 { conn.take() } else { None };
            let (addr, files, signatures) = (addr.to_owned(), files.clone(), signatures.clone());
            let (shared, next) = (shared.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                let mut conn = match reused {
                    Some(conn) => conn,
                    None => Conn::connect(&addr).await?,
                };
                let file = &files[i];
                loop {
                    let p = next.fetch_add(1, Ordering::Relaxed);
                    if p >= mib {
                        return Ok::<_, BoxError>(conn);
                    }
                    let target = PartQuery {
                        file_sha: file.sha.clone(),
                        offset: (p * MIB) as u64,
                        data_size: MIB as u64,
                        data_md5: file.md5s[p].clone(),
                        signature: signatures[i].clone(),
                    }
                    .url(ENDPOINT);
                    let reply = conn.call("POST", &target, file.part(&shared, p)).await?;
                    reply.expect_ok(&format!("UploadPartUGC of part {p}"))?;
                }
            }));
        }
    }
    let mut idle = Vec::new();
    for worker in workers {
        idle.push(worker.await??);
    }
    let receive_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let server_cpu = cpu_seconds(&args.server_pid.to_string())? - cpu0.0;
    let client_cpu = cpu_seconds("self")? - cpu0.1;

    let t1 = Instant::now();
    let finishes: Vec<_> = idle
        .into_iter()
        .step_by(IN_FLIGHT)
        .enumerate()
        .map(|(i, mut conn)| {
            let (files, signatures) = (files.clone(), signatures.clone());
            tokio::spawn(async move {
                let target = FinishQuery {
                    file_sha: files[i].sha.clone(),
                    signature: signatures[i].clone(),
                }
                .url(ENDPOINT);
                conn.call("GET", &target, &[])
                    .await?
                    .expect_ok("FinishUploadUGC")
            })
        })
        .collect();
    for finish in finishes {
        finish.await??;
    }
    Ok(Outcome {
        receive_ms,
        finish_ms: t1.elapsed().as_secs_f64() * 1000.0,
        server_cpu,
        client_cpu,
    })
}

/// An answer: its HTTP status and body.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    /// Fails unless the body is a protocol answer with code 0.
    fn expect_ok(&self, what: &str) -> Result<(), BoxError> {
        match Answer::parse(&self.body) {
            Some(answer) if answer.code == code::OK => Ok(()),
            _ => Err(self.error(what)),
        }
    }

    /// `what` failed: the status and the body, for the log.
    fn error(&self, what: &str) -> BoxError {
        let body = String::from_utf8_lossy(&self.body);
        format!("{what}: HTTP {}: {body}", self.status).into()
    }
}

/// One keep-alive HTTP/1.1 connection; answers must carry a Content-Length
/// (the server's JSON answers do).
struct Conn {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Conn {
    async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            host: addr.to_owned(),
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its answer.
    async fn call(&mut self, method: &str, target: &str, body: &[u8]) -> io::Result<Reply> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if method == "POST" {
            head += &format!(
                "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        head += "\r\n";
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.write_all(body).await?;

        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(invalid)?;
        // "HTTP/1.1 200 OK"
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid(format!("{method} {target}: no status line")))?;
        let len: usize = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse().ok())
            .ok_or_else(|| {
                invalid(format!(
                    "{method} {target}: an answer without Content-Length"
                ))
            })?;
        while self.buf.len() < head_end + len {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok(Reply { status, body })
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// CPU seconds (user + system) used so far by `/proc/{pid}`.
fn cpu_seconds(pid: &str) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .ok_or_else(|| invalid("odd /proc stat"))?
        .1
        .split(' ')
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| invalid("odd /proc stat"))
    };
    // utime and stime, in USER_HZ (100) ticks.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn md5_hex(bytes: &[u8]) -> String {
    to_hex(&Md5::digest(bytes))
}
