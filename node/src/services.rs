//! An agency's own services: stored locally and published as a signed profile update to
//! the KI, through the durable outbox like any other message.

use lotse_protocol::directory::{AgencyKind, AgencyProfile, Service};
use lotse_protocol::payload::Payload;

use crate::core::Core;
use crate::directory::authority;
use crate::outbox::{self, SendError};
use crate::store::{Batch, Space, StoreError, to_json};

const SERVICES_KEY: &[u8] = b"services";

/// Publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    /// Not in a network.
    #[error("this node has not joined a network yet")]
    NotJoined,
    /// Invalid services.
    #[error("the services are not valid: {0}")]
    Invalid(String),
    /// Queueing failed.
    #[error(transparent)]
    Send(#[from] SendError),
    /// Directory node update failed.
    #[error(transparent)]
    Authority(#[from] authority::AuthorityError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The services this node last published.
pub fn own_services(core: &Core) -> Result<Vec<Service>, StoreError> {
    Ok(core
        .store
        .as_ref()
        .get_json(Space::Meta, SERVICES_KEY)?
        .unwrap_or_default())
}

/// Signs a new profile with `services` and sends it to the KI.
pub async fn publish(core: &Core, services: Vec<Service>) -> Result<(), ServicesError> {
    let addresses = core
        .directory
        .member(&core.id)
        .map(|m| m.profile.addresses)
        .unwrap_or_else(|| core.config.network.public_addresses.clone());
    publish_profile(core, services, addresses).await
}

/// Republishes the profile if the directory lists other addresses than `addresses`
/// (the node was moved, or listens on a port chosen at start).
pub async fn refresh_addresses(core: &Core, addresses: Vec<String>) -> Result<bool, ServicesError> {
    let Some(me) = core.directory.member(&core.id) else {
        return Ok(false);
    };
    if me.profile.addresses == addresses {
        return Ok(false);
    }
    publish_profile(core, me.profile.services, addresses).await?;
    Ok(true)
}

async fn publish_profile(
    core: &Core,
    services: Vec<Service>,
    addresses: Vec<String>,
) -> Result<(), ServicesError> {
    let dir = core.directory.current().ok_or(ServicesError::NotJoined)?;
    let profile = AgencyProfile {
        node_id: core.id,
        encryption: core.encryption.recipient(),
        addresses,
        services: services.clone(),
        updated_at: core.clock.now(),
    };
    let signed = profile.sign(&core.node_key);
    // The same checks the KI and every member will apply.
    signed
        .verify()
        .map_err(|e| ServicesError::Invalid(e.to_string()))?;
    let mut batch = Batch::new();
    batch.put(Space::Meta, SERVICES_KEY.to_vec(), to_json(&services));
    if core.is_directory_node() {
        core.store.commit(batch)?;
        authority::update_profile(core, core.id, &signed).await?;
        return Ok(());
    }
    let ki = dir
        .active_members()
        .into_iter()
        .find(|m| m.member.kind == AgencyKind::IntegrationCentre)
        .map(|m| m.member.node_id)
        .ok_or(ServicesError::NotJoined)?;
    outbox::send(
        core,
        ki,
        None,
        &Payload::DirectoryUpdateRequest(signed),
        batch,
    )
    .await?;
    Ok(())
}
