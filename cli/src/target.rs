//! Where a command acts: the running node's admin API, or the data directory itself.
//!
//! If the node answers `/healthz` at the configured HTTP address, commands go through its
//! admin API with the token from `admin.token`; otherwise they open the store directly.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;

use crate::DataDirArg;

/// The chosen target.
pub enum Target {
    /// The node runs: use its API.
    Online(Api),
    /// The node is stopped: open it here.
    Offline(Arc<Core>),
}

/// A client of the local admin API.
pub struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    /// Sends a request; a refusal becomes an error with the node's reason.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        timeout: Option<Duration>,
    ) -> Result<ureq::Response> {
        let mut req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token));
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match result {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(code, resp)) => {
                let body: serde_json::Value = resp.into_json().unwrap_or_default();
                let msg = body["error"].as_str().unwrap_or("no details").to_string();
                Err(anyhow!("the node refused ({code}): {msg}"))
            }
            Err(e) => Err(anyhow!("cannot reach the node's API: {e}")),
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let resp = self.send(method, path, body, None)?;
        if resp.status() == 202 || resp.status() == 204 {
            return Ok(serde_json::Value::Null);
        }
        resp.into_json()
            .context("the node sent an unreadable answer")
    }

    /// POST with a JSON body, for an answer of bytes that may take up to `timeout`.
    pub fn post_for_bytes(
        &self,
        path: &str,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let resp = self.send("POST", path, Some(body), Some(timeout))?;
        let mut bytes = Vec::new();
        resp.into_reader()
            .read_to_end(&mut bytes)
            .context("the node's answer broke off")?;
        Ok(bytes)
    }

    /// GET.
    pub fn get(&self, path: &str) -> Result<serde_json::Value> {
        self.call("GET", path, None)
    }

    /// POST with a JSON body.
    pub fn post(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        self.call("POST", path, Some(body))
    }

    /// PUT with a JSON body.
    pub fn put(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        self.call("PUT", path, Some(body))
    }
}

/// Picks the target for `arg`.
pub fn choose(arg: &DataDirArg) -> Result<Target> {
    let dir = DataDir::new(&arg.data_dir);
    let config = dir.load_config()?;
    let mut addr = config.network.http_listen;
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .timeout_connect(Duration::from_millis(500))
        .build();
    let base = format!("http://{addr}");
    if let Ok(resp) = agent.get(&format!("{base}/healthz")).call() {
        // Only talk to it if it is this data directory's node: never send our admin token
        // to another node that happens to listen there.
        let health: serde_json::Value = resp.into_json().unwrap_or_default();
        let ours = dir.load_keys()?.node.public().to_string();
        if health["node_id"].as_str() != Some(ours.as_str()) {
            bail!(
                "another node answers at {base} (node id {}), not the node of {}; check network.http_listen in lotse.toml",
                health["node_id"].as_str().unwrap_or("unknown"),
                dir.root().display()
            );
        }
        let token = dir.load_token()?;
        return Ok(Target::Online(Api { base, token, agent }));
    }
    match Core::open(dir) {
        Ok(core) => Ok(Target::Offline(core)),
        Err(lotse_node::core::OpenError::Store(lotse_node::store::StoreError::Locked)) => bail!(
            "the node is running (its data directory is locked) but its API at {base} does not answer; check network.http_listen in lotse.toml"
        ),
        Err(e) => Err(e.into()),
    }
}

/// A tokio runtime for offline work.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
