//! The command line. Flag names are a public contract (see `docs/server.md`):
//! apps, the demo page and outside tests start the server with them.

use std::path::PathBuf;

use clap::Parser;

/// A protocol-faithful VOD UGC upload server (InitUploadUGC, UploadPartUGC,
/// FinishUploadUGC) for development, tests, demos and self-hosting.
#[derive(Clone, Debug, Parser)]
#[command(name = "vod-ugc-server", version)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the startup line tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Folder for upload state and media; created if missing.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,

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
    fn fault_rate_is_a_fraction() {
        let base = ["--secret-id", "a", "--secret-key", "k"];
        assert_eq!(parse(&base).unwrap().fault_rate, 0.0);
        let c =
            parse(&[&base[..], &["--fault-rate", "0.3", "--fault-seed", "7"]].concat()).unwrap();
        assert_eq!((c.fault_rate, c.fault_seed), (0.3, 7));
        assert!(parse(&[&base[..], &["--fault-rate", "1.5"]].concat()).is_err());
        assert!(parse(&[&base[..], &["--fault-rate", "x"]].concat()).is_err());
    }
}
