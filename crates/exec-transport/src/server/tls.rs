//! TLS for the WebSocket listener: a certificate chain and a private key in PEM files, loaded
//! once at start-up into a rustls (on `ring`) server config. The accept path wraps each TCP
//! stream with it before the HTTP handshake, so everything above (`/readyz`, the upgrade, the
//! protocol) is unchanged.
//!
//! Certificate reloading and client certificates are not handled here.

use std::path::Path;
use std::sync::Arc;

/// A loaded server certificate and key, ready to accept TLS connections.
#[derive(Clone, Debug)]
pub struct TlsIdentity {
    pub(crate) config: Arc<rustls::ServerConfig>,
}

/// Why the certificate or key could not be used; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The key does not fit the certificate, or rustls refused them.
    #[error("the TLS certificate and key cannot be used together: {0}")]
    Mismatch(String),
}

impl TlsIdentity {
    /// Loads a PEM certificate chain (the server's certificate first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(certificate: &Path, key: &Path) -> Result<TlsIdentity, TlsError> {
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let file_error =
            |path: &Path, reason: String| TlsError::File { path: path.display().to_string(), reason };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
            .and_then(|items| items.collect::<Result<_, _>>())
            .map_err(|error| file_error(certificate, error.to_string()))?;
        if chain.is_empty() {
            return Err(file_error(certificate, "no certificate in the file".to_owned()));
        }
        let key_der =
            PrivateKeyDer::from_pem_file(key).map_err(|error| file_error(key, error.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Mismatch(error.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|error| TlsError::Mismatch(error.to_string()))?;
        Ok(TlsIdentity { config: Arc::new(config) })
    }
}
