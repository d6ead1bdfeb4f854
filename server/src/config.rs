//! The command line. Flag names are a public contract (see `docs/server.md`):
//! apps, the demo page and outside tests start the server with them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::storage::MAX_FILE_SIZE;

/// A protocol-faithful VOD UGC upload server (InitUploadUGC, UploadPartUGC,
/// FinishUploadUGC) for development, tests, demos and self-hosting.
#[derive(Clone, Debug, Parser)]
#[command(name = "vod-ugc-server", version)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the startup line tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Folder for upload state and media; created if missing. Needed
    /// unless --storage names a bucket.
    #[arg(long, value_name = "DIR", required_unless_present = "storage")]
    pub data: Option<PathBuf>,

    /// Keep uploads and media in an S3-compatible bucket instead of --data:
    /// s3://BUCKET/PREFIX, with endpoint, region and keys from the usual
    /// AWS_* environment variables. Any number of servers may share it.
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    pub storage: Option<String>,

    /// Delete unfinished uploads (state and parts) that received nothing
    /// for this long: 7d, 12h, 30m, 45s, or a sum such as 1h30m.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub expire_unfinished_after: Duration,

    /// A SecretId apps sign with; repeat together with --secret-key, in pairs.
    #[arg(long = "secret-id", value_name = "ID", required = true)]
    pub secret_ids: Vec<String>,

    /// The SecretKey of the --secret-id at the same position.
    #[arg(long = "secret-key", value_name = "KEY", required = true)]
    pub secret_keys: Vec<String>,

    /// Serve this folder at `/` (`/` gives index.html).
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,

    /// Serve the built npm package (wasm-pack output) at `/pkg/`.
    #[arg(long, value_name = "DIR")]
    pub pkg: Option<PathBuf>,

    /// Add `GET /signature?f=&ft=&fs=&uid=`, signing with the first key pair
    /// (a stand-in for an app's backend; never enable it on a public server).
    #[arg(long)]
    pub dev_signer: bool,

    /// Base of the media `url` in answers (default: http:// and the bound address).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// Fraction (0 to 1) of UploadPartUGC requests that fail on purpose.
    #[arg(long, value_name = "R", default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_rate: f64,

    /// Seed of the fault injection, so that a run can be repeated.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fault_seed: u64,

    /// Largest fileSize accepted at InitUploadUGC (bigger files get -10003).
    #[arg(long, value_name = "BYTES", default_value_t = MAX_FILE_SIZE,
          value_parser = clap::value_parser!(u64).range(1..=MAX_FILE_SIZE))]
    pub max_file_size: u64,

    /// Time a client has to send a request's headers, from the connection's
    /// start or the first byte of a later request (e.g. 30s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// How long a kept-alive connection may wait for its next request.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// A request body that sends no byte for this long is cut (a slow body
    /// that keeps moving is not).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub body_stall_timeout: Duration,

    /// Most connections open at once; more wait in the kernel's queue until
    /// one closes. Lowered to fit the open-file limit.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// POST `{fileId, url, fileSha, fileSize, secretId, fileName}` (JSON)
    /// here after each file is published; retried with backoff, in the
    /// background.
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<String>,
}


impl Config {
    /// The (SecretId, SecretKey) pairs, in the order given. Fails when the
    /// flags do not pair up, since a key silently attached to the wrong id
    /// would refuse every upload of that app.
    pub fn key_pairs(&self) -> Result<Vec<(String, String)>, String> {
        if self.secret_ids.len() != self.secret_keys.len() {
            return Err(format!(
                "--secret-id and --secret-key come in pairs: got {} ids and {} keys",
                self.secret_ids.len(),
                self.secret_keys.len()
            ));
        }
        if let Some(empty) = self.secret_ids.iter().position(|id| id.is_empty()) {
            return Err(format!("--secret-id number {} is empty", empty + 1));
        }
        Ok(self
            .secret_ids
            .iter()
            .cloned()
            .zip(self.secret_keys.iter().cloned())
            .collect())
    }
}

/// A duration such as `30s`, `500ms`, `2m` or `7d` (humantime's format);
/// zero is refused, since a zero limit would refuse everything.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if duration.is_zero() {
        return Err(format!("{text:?} is zero"));
    }
    Ok(duration)
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("{rate} is not between 0 and 1"));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(["vod-ugc-server", "--data", "/tmp/x"].iter().chain(args))
    }

    #[test]
    fn keys_come_in_pairs() {
        let c = parse(&[
            "--secret-id",
            "a",
            "--secret-key",
            "ka",
            "--secret-id",
            "b",
            "--secret-key",
            "kb",
        ])
        .unwrap();
        assert_eq!(
            c.key_pairs().unwrap(),
            vec![("a".into(), "ka".into()), ("b".into(), "kb".into())]
        );
        let c = parse(&["--secret-id", "a", "--secret-key", "ka", "--secret-id", "b"]).unwrap();
        assert!(c.key_pairs().unwrap_err().contains("2 ids and 1 keys"));
        assert!(parse(&["--secret-key", "k"]).is_err());
    }

    #[test]
    fn durations() {
        let d = |t| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(d("7d"), Ok(604_800));
        assert_eq!(d("12h"), Ok(43_200));
        assert_eq!(d("30m"), Ok(1_800));
        assert_eq!(d("1h30m"), Ok(5_400));
        assert_eq!(d("2s"), Ok(2));
        for bad in ["", "7", "d", "0s", "-1h", "99999999999999999999d"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn storage_is_a_folder_or_a_bucket() {
        let keys = ["--secret-id", "a", "--secret-key", "k"];
        let with = |args: &[&str]| {
            Config::try_parse_from(["vod-ugc-server"].iter().chain(&keys).chain(args))
        };
        let c = with(&["--storage", "s3://b/p"]).unwrap();
        assert_eq!((c.data, c.storage.as_deref()), (None, Some("s3://b/p")));
        assert_eq!(c.expire_unfinished_after, Duration::from_secs(7 * 86_400));
        assert!(with(&[]).is_err(), "one of --data and --storage is needed");
        assert!(with(&["--data", "d", "--storage", "s3://b"]).is_err());
    }

    #[test]
    fn fault_rate_is_a_fraction() {
        let base = ["--secret-id", "a", "--secret-key", "k"];
        assert_eq!(parse(&base).unwrap().fault_rate, 0.0);
        let c =
            parse(&[&base[..], &["--fault-rate", "0.3", "--fault-seed", "7"]].concat()).unwrap();
        assert_eq!((c.fault_rate, c.fault_seed), (0.3, 7));
        assert!(parse(&[&base[..], &["--fault-rate", "1.5"]].concat()).is_err());
        assert!(parse(&[&base[..], &["--fault-rate", "x"]].concat()).is_err());
    }

    #[test]
    fn limits_have_defaults_and_take_durations() {
        let base = ["--secret-id", "a", "--secret-key", "k"];
        let c = parse(&base).unwrap();
        assert_eq!(c.max_file_size, MAX_FILE_SIZE);
        assert_eq!(
            (c.header_timeout, c.idle_timeout, c.body_stall_timeout),
            (Duration::from_secs(30), Duration::from_secs(60), Duration::from_secs(60))
        );
        assert_eq!(c.max_connections, 10_000);
        let c = parse(&[&base[..], &["--max-file-size", "1000", "--header-timeout", "500ms",
            "--idle-timeout", "2m", "--body-stall-timeout", "1s", "--max-connections", "8"]].concat())
        .unwrap();
        assert_eq!(c.max_file_size, 1000);
        assert_eq!(
            (c.header_timeout, c.idle_timeout, c.body_stall_timeout),
            (Duration::from_millis(500), Duration::from_secs(120), Duration::from_secs(1))
        );
        assert_eq!(c.max_connections, 8);
        for bad in [
            &["--max-file-size", "0"][..],
            &["--max-file-size", "1099511627777"],
            &["--header-timeout", "0s"],
            &["--idle-timeout", "soon"],
            &["--max-connections", "0"],
        ] {
            assert!(parse(&[&base[..], bad].concat()).is_err(), "{bad:?}");
        }
    }
}
