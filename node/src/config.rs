//! `lotse.toml`: the node's configuration, with defaults that work on one machine.
//!
//! Unknown keys are an error (`deny_unknown_fields`), so a typo is reported, not ignored.
//! Every duration has a unit in its name.

use std::net::SocketAddr;
use std::path::Path;

use lotse_protocol::AuthorityId;
use serde::{Deserialize, Serialize};

/// What the node is in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An agency's node.
    Agency,
    /// The KI's directory node: holds the authority key, admits members.
    Directory,
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The agency's name.
    pub name: String,
    /// Agency or directory node.
    pub role: Role,
    /// Network settings.
    pub network: NetworkConfig,
    /// Delivery settings.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Referral workflow settings.
    #[serde(default)]
    pub referrals: ReferralConfig,
    /// Aggregate figures for the KI.
    #[serde(default)]
    pub statistics: StatisticsConfig,
    /// The HSDS feed under `/hsds/`.
    #[serde(default)]
    pub hsds: HsdsConfig,
    /// Sign-in sessions and API tokens.
    #[serde(default)]
    pub auth: AuthConfig,
    /// What a peer may cost: timeouts, stream and connection caps, the request budget.
    #[serde(default)]
    pub transport: crate::transport::limits::Limits,
    /// The KI's directory: how often members may change their profiles, how often
    /// snapshots are pushed.
    #[serde(default)]
    pub directory: crate::directory::authority::DirectoryConfig,
}

/// Listen addresses and trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// UDP address for QUIC.
    pub quic_listen: SocketAddr,
    /// Addresses other nodes use to reach this one (published in the directory).
    pub public_addresses: Vec<String>,
    /// TCP address for the web UI and the API.
    pub http_listen: SocketAddr,
    /// The directory authority this node trusts (set by joining).
    #[serde(default)]
    pub authority: Option<AuthorityId>,
    /// Where the KI's directory node is (set by joining).
    #[serde(default)]
    pub directory_addresses: Vec<String>,
}

/// Delivery timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// An undelivered message expires after this many seconds (default 14 days).
    pub message_expiry_secs: u64,
    /// First retry delay.
    pub backoff_initial_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
    /// How often to look for a newer directory.
    pub directory_sync_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            message_expiry_secs: 14 * 24 * 3600,
            backoff_initial_ms: 500,
            backoff_max_ms: 5 * 60 * 1000,
            directory_sync_ms: 60 * 1000,
        }
    }
}

/// Referral workflow timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralConfig {
    /// A referral without an answer expires at the sender after this many seconds
    /// (default 14 days).
    pub answer_deadline_secs: u64,
}

impl Default for ReferralConfig {
    fn default() -> Self {
        Self {
            answer_deadline_secs: 14 * 24 * 3600,
        }
    }
}

/// Aggregate figures for the KI's social planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatisticsConfig {
    /// How often an agency node sends its aggregate figures (counts from 1 to 4
    /// suppressed, nothing about a single case) to the KI; 0 sends none. Default 6 hours.
    pub report_ms: u64,
}

impl Default for StatisticsConfig {
    fn default() -> Self {
        Self {
            report_ms: 6 * 3600 * 1000,
        }
    }
}

/// The HSDS feed (`/hsds/`, docs/hsds.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HsdsConfig {
    /// Serve the feed to anyone, not only to signed-in users: the municipality's open
    /// service guide. Only the KI's directory node may; off by default.
    pub public: bool,
}

/// How long sign-in sessions and API tokens live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A session ends after this many seconds without a request (default 4 hours).
    pub session_idle_secs: u64,
    /// A session ends this many seconds after sign-in, however active (default 12 hours,
    /// a long working day).
    pub session_absolute_secs: u64,
    /// An API token expires this many seconds after it was made (default 90 days); whoever
    /// makes one may ask for less.
    pub api_token_lifetime_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_secs: 4 * 3600,
            session_absolute_secs: 12 * 3600,
            api_token_lifetime_secs: 90 * 24 * 3600,
        }
    }
}

/// The configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Could not read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Invalid TOML or values.
    #[error("{path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads and checks `lotse.toml`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and checks configuration text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if self.network.public_addresses.is_empty() {
            return Err("network.public_addresses needs at least one address".into());
        }
        let d = &self.delivery;
        if d.backoff_initial_ms == 0 || d.backoff_max_ms < d.backoff_initial_ms {
            return Err(
                "delivery.backoff_initial_ms must be > 0 and at most delivery.backoff_max_ms"
                    .into(),
            );
        }
        if d.message_expiry_secs == 0 || d.directory_sync_ms == 0 {
            return Err("delivery.message_expiry_secs and directory_sync_ms must be > 0".into());
        }
        let a = &self.auth;
        if a.session_idle_secs == 0
            || a.session_absolute_secs < a.session_idle_secs
            || a.api_token_lifetime_secs == 0
        {
            return Err(
                "auth.session_idle_secs and auth.api_token_lifetime_secs must be > 0, and auth.session_absolute_secs at least auth.session_idle_secs"
                    .into(),
            );
        }
        if self.referrals.answer_deadline_secs == 0 {
            return Err("referrals.answer_deadline_secs must be > 0".into());
        }
        if self.hsds.public && self.role != Role::Directory {
            return Err("hsds.public = true is only for the KI's directory node (role = \"directory\"), whose feed lists the whole network; remove it on this agency node (its services appear in the KI's feed)".into());
        }
        self.transport.check().map_err(|e| e.to_string())?;
        self.directory.check().map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        Config {
            name: "MBE".into(),
            role: Role::Agency,
            network: NetworkConfig {
                quic_listen: "127.0.0.1:7401".parse().unwrap(),
                public_addresses: vec!["127.0.0.1:7401".into()],
                http_listen: "127.0.0.1:7480".parse().unwrap(),
                authority: None,
                directory_addresses: vec![],
            },
            delivery: DeliveryConfig::default(),
            referrals: ReferralConfig::default(),
            statistics: StatisticsConfig::default(),
            hsds: HsdsConfig::default(),
            auth: AuthConfig::default(),
            transport: Default::default(),
            directory: Default::default(),
        }
    }

    #[test]
    fn round_trips() {
        let c = sample();
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn typos_and_bad_values_are_reported() {
        let text = sample().to_toml().replace("quic_listen", "quic_lisen");
        assert!(Config::parse(&text).unwrap_err().contains("quic_lisen"));
        let bad = sample()
            .to_toml()
            .replace("127.0.0.1:7401\"\n", "nonsense\"\n");
        assert!(Config::parse(&bad).is_err());
        let mut c = sample();
        c.delivery.backoff_max_ms = 1;
        assert!(Config::parse(&c.to_toml()).unwrap_err().contains("backoff"));
    }

    #[test]
    fn only_the_directory_node_may_publish_its_feed() {
        let mut c = sample();
        assert!(!c.hsds.public, "the public feed is off by default");
        c.hsds.public = true;
        let e = Config::parse(&c.to_toml()).unwrap_err();
        assert!(e.contains("hsds.public") && e.contains("directory"), "{e}");
        c.role = Role::Directory;
        assert!(Config::parse(&c.to_toml()).unwrap().hsds.public);
        let text = sample().to_toml().replace("public = false", "publik = true");
        assert!(Config::parse(&text).unwrap_err().contains("publik"));
    }
}
