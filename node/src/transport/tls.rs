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

/// Builds the QUIC server configuration.
pub fn server_config(
    key: &NodeKey,
    policy: Arc<dyn PeerPolicy>,
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
    config.transport_config(transport_config());
    Ok(config)
}

/// Builds a QUIC client configuration that accepts only `expected` as the server.
pub fn client_config(
    key: &NodeKey,
    expected: NodeId,
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
    config.transport_config(transport_config());
    Ok(config)
}

fn transport_config() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(std::time::Duration::from_secs(10)));
    if let Ok(idle) = quinn::IdleTimeout::try_from(std::time::Duration::from_secs(60)) {
        t.max_idle_timeout(Some(idle));
    }
    t.max_concurrent_bidi_streams(256u32.into());
    Arc::new(t)
}

/// The node id of the other end of an established connection.
pub fn peer_id(conn: &quinn::Connection) -> Option<NodeId> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    node_id_from_spki(certs.first()?.as_ref())
}
