//! TLS 1.3 with raw public keys (RFC 7250): each node presents its ed25519 node key, and
//! each side checks the other's key against what it expects.
//!
//! - Connecting out, the expected peer is known (from the directory or an invitation), so
//!   [`PinnedServer`] accepts exactly that key and nothing else.
//! - Accepting, [`MemberClients`] asks a [`PeerPolicy`] whether the key may connect: on an
//!   agency node, an active member of the current verified directory; on the directory node,
//!   any key, because joining nodes are not members yet (the server then lets non-members
//!   do nothing but join).
//!
//! The handshake signature is verified against the presented key, so presenting a key
//! proves possession of its secret half. The pattern follows iroh's `tls/verifier.rs`.

use std::sync::Arc;

use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use lotse_protocol::{NodeId, NodeKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{
    CertificateDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, PeerIncompatible, SignatureScheme,
};

use super::limits::{
    Limits, MEMBER_RECEIVE_WINDOW, STRANGER_RECEIVE_WINDOW, STREAM_RECEIVE_WINDOW,
};

/// The ALPN protocol id.
pub const ALPN: &[u8] = b"lotse/1";

/// The DER prefix of an ed25519 SubjectPublicKeyInfo; the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Decides which client keys may complete a handshake with this node.
pub trait PeerPolicy: Send + Sync + std::fmt::Debug + 'static {
    /// True if `peer` may connect.
    fn may_connect(&self, peer: &NodeId) -> bool;
}

/// The node id in a raw public key certificate, if it is an ed25519 SPKI.
pub fn node_id_from_spki(der: &[u8]) -> Option<NodeId> {
    let key = der.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    let bytes: [u8; 32] = key.try_into().ok()?;
    NodeId::from_bytes(bytes).ok()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// The node key as a rustls certified raw public key.
fn certified_key(key: &NodeKey) -> Result<Arc<CertifiedKey>, rustls::Error> {
    let err = |e: &dyn std::fmt::Display| rustls::Error::General(e.to_string());
    let pkcs8 = key.signing_key().to_pkcs8_der().map_err(|e| err(&e))?;
    let spki = key
        .signing_key()
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| err(&e))?;
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(
        pkcs8.as_bytes().to_vec(),
    ))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(spki.as_bytes().to_vec())],
        signer,
    )))
}

fn verify_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    verify_tls13_signature_with_raw_key(
        message,
        &SubjectPublicKeyInfoDer::from(cert.as_ref()),
        dss,
        &algorithms(),
    )
}

/// The handshake-signature half of both verifiers: TLS 1.3 only, ed25519 only, raw public
/// keys only. The halves differ only in which key they accept.
macro_rules! raw_key_signature_methods {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(PeerIncompatible::Tls12NotOffered.into())
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ED25519]
        }

        fn requires_raw_public_keys(&self) -> bool {
            true
        }
    };
}

/// Accepts exactly one server key.
#[derive(Debug)]
struct PinnedServer {
    expected: NodeId,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(CertificateError::UnknownIssuer.into());
        }
        match node_id_from_spki(end_entity.as_ref()) {
            Some(id) if id == self.expected => Ok(ServerCertVerified::assertion()),
            Some(_) => Err(CertificateError::ApplicationVerificationFailure.into()),
            None => Err(CertificateError::BadEncoding.into()),
        }
    }

    raw_key_signature_methods!();
}

/// Accepts client keys the policy allows.
#[derive(Debug)]
struct MemberClients {
    policy: Arc<dyn PeerPolicy>,
}

impl ClientCertVerifier for MemberClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(CertificateError::UnknownIssuer.into());
        }
        match node_id_from_spki(end_entity.as_ref()) {
            Some(id) if self.policy.may_connect(&id) => Ok(ClientCertVerified::assertion()),
            Some(_) => Err(CertificateError::ApplicationVerificationFailure.into()),
            None => Err(CertificateError::BadEncoding.into()),
        }
    }

    raw_key_signature_methods!();
}

/// Builds the QUIC server configuration: every connection starts with what a stranger may
/// have (one stream, [`STRANGER_RECEIVE_WINDOW`]); a member gets more once it is known
/// (`super::accept`).
pub fn server_config(
    key: &NodeKey,
    policy: Arc<dyn PeerPolicy>,
    limits: &Limits,
) -> Result<quinn::ServerConfig, rustls::Error> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(MemberClients { policy }))
        .with_cert_resolver(Arc::new(
            rustls::server::AlwaysResolvesServerRawPublicKeys::new(certified_key(key)?),
        ));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let mut t = transport_config(limits);
    t.max_concurrent_bidi_streams(1u32.into())
        .receive_window(STRANGER_RECEIVE_WINDOW.into());
    config.transport_config(Arc::new(t));
    // Connection attempts not yet accepted or refused (the accept loop takes each at once):
    // few, with little buffered.
    config
        .max_incoming(limits.stranger_connections.saturating_mul(2).max(64))
        .incoming_buffer_size(64 * 1024)
        .incoming_buffer_size_total(4 * 1024 * 1024);
    Ok(config)
}

/// Builds a QUIC client configuration that accepts only `expected` as the server. The
/// server may open no streams on it: requests go from client to server only.
pub fn client_config(
    key: &NodeKey,
    expected: NodeId,
    limits: &Limits,
) -> Result<quinn::ClientConfig, rustls::Error> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer { expected }))
        .with_client_cert_resolver(Arc::new(
            rustls::client::AlwaysResolvesClientRawPublicKeys::new(certified_key(key)?),
        ));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut t = transport_config(limits);
    // Responses: at most a directory snapshot (4 MiB) per request, a few at once.
    t.max_concurrent_bidi_streams(0u32.into())
        .receive_window((2 * MEMBER_RECEIVE_WINDOW).into());
    config.transport_config(Arc::new(t));
    Ok(config)
}

/// What both sides share: no unidirectional streams and no datagrams (Lotse uses neither,
/// and quinn would buffer them unread), bounded stream windows, the idle timeout.
fn transport_config(limits: &Limits) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    let idle = limits.idle_timeout();
    // Keep-alives well inside the idle timeout, so a quiet member connection stays up.
    t.keep_alive_interval(Some((idle / 6).max(std::time::Duration::from_millis(100))));
    if let Ok(idle) = quinn::IdleTimeout::try_from(idle) {
        t.max_idle_timeout(Some(idle));
    }
    t.max_concurrent_uni_streams(0u32.into())
        .datagram_receive_buffer_size(None)
        .stream_receive_window(STREAM_RECEIVE_WINDOW.into())
        .send_window(8 * u64::from(STREAM_RECEIVE_WINDOW));
    t
}

/// The node id of the other end of an established connection.
pub fn peer_id(conn: &quinn::Connection) -> Option<NodeId> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    node_id_from_spki(certs.first()?.as_ref())
}
