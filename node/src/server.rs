//! The QUIC request handler: routes each authenticated request to the inbox, the directory
//! or (on the KI node) the join procedure, and enforces who may ask for what.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lotse_protocol::envelope;
use lotse_protocol::payload::{MessageKind, Payload};
use lotse_protocol::{NodeId, codec};

use crate::core::Core;
use crate::directory::authority;
use crate::transport::Handler;
use crate::transport::frame::{RequestKind, Response, Status};

/// Answers requests for one node.
pub struct NodeHandler {
    /// The node.
    pub core: Arc<Core>,
}

impl Handler for NodeHandler {
    fn admit(&self, peer: &NodeId) -> bool {
        self.core.directory.is_active(peer)
    }

    fn accepts_joins(&self) -> bool {
        // The KI takes one join request from a key it does not know yet; the transport
        // reads nothing else from such a key (`transport::accept`).
        self.core.is_directory_node()
    }

    fn handle(
        &self,
        peer: NodeId,
        kind: RequestKind,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + '_>> {
        Box::pin(async move {
            let member = self.core.directory.is_active(&peer);
            match kind {
                RequestKind::Join => self.join(peer, &body).await,
                _ if !member => Response::rejected("not an active member of the network"),
                RequestKind::Deliver => crate::inbox::receive(&self.core, peer, &body).await,
                RequestKind::DeliverBatch => {
                    crate::inbox::receive_batch(&self.core, peer, &body).await
                }
                RequestKind::FetchDirectory => self.fetch_directory(&body),
                RequestKind::OfferDirectory => {
                    crate::directory::sync::take_offer(&self.core, peer, &body).await
                }
                RequestKind::ReportStatistics => {
                    crate::statistics::take_report(&self.core, peer, &body).await
                }
            }
        })
    }
}

impl NodeHandler {
    fn fetch_directory(&self, body: &[u8]) -> Response {
        let Ok(known) = <[u8; 8]>::try_from(body).map(u64::from_be_bytes) else {
            return Response::rejected("a directory request carries the known serial (8 bytes)");
        };
        match self.core.directory.current() {
            Some(d) if d.serial > known => Response::ok(codec::encode(&d.signed)),
            _ => Response {
                status: Status::NotNewer,
                body: vec![],
            },
        }
    }

    async fn join(&self, peer: NodeId, body: &[u8]) -> Response {
        if !self.core.is_directory_node() {
            return Response::rejected("this node is not the KI's directory node");
        }
        let core = &self.core;
        let opened = match envelope::open(body, &core.id, &core.encryption, &|_, kind| {
            kind == MessageKind::JoinRequest
        }) {
            Ok(o) => o,
            Err(e) => return Response::rejected(e),
        };
        if opened.header.sender != peer {
            return Response::rejected(
                "the join request is signed by another key than the connected node",
            );
        }
        let Payload::JoinRequest(request) = opened.payload else {
            return Response::rejected("expected a join request");
        };
        match authority::admit(core, peer, &request).await {
            Ok(signed) => {
                tracing::info!(node = %peer.fingerprint(), "admitted a new member");
                Response::ok(codec::encode(&signed))
            }
            Err(e) => {
                tracing::warn!(node = %peer.fingerprint(), error = %e, "join refused");
                Response::rejected(e)
            }
        }
    }
}
