//! JWTs signed with an SSH key (RSA → RS256, ECDSA P-256 → ES256, Ed25519 →
//! EdDSA), as PyUNICORE's `JWTToken` makes them: claims `sub`, `iss`
//! (= subject), `iat`, `exp` and `etd: "false"`. The server checks the
//! signature against the user's public keys.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hpc_auth::Secret;
use hpc_core::{Error, Result};
use signature::{SignatureEncoding as _, Signer as _};

/// The JWT signature algorithm, chosen by the key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA keys).
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl KeyAlgorithm {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rs256 => "RS256",
            KeyAlgorithm::Es256 => "ES256",
            KeyAlgorithm::EdDsa => "EdDSA",
        }
    }
}

enum Key {
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// Signs short-lived JWTs for one user with one private key.
pub struct JwtSigner {
    subject: String,
    issuer: String,
    lifetime: Duration,
    etd: bool,
    key: Key,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("subject", &self.subject)
            .field("algorithm", &self.algorithm())
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// A signer for `subject` (also the issuer) with the key in `path`:
    /// OpenSSH format first, then PEM (PKCS#1, SEC1, PKCS#8). `passphrase`
    /// decrypts an encrypted OpenSSH key. Tokens live 300 s.
    pub fn from_key_file(subject: &str, path: &Path, passphrase: Option<&Secret>) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::from_io_path("reading the key", path.display(), e))?;
        let key = parse_key(&text, passphrase)
            .map_err(|reason| Error::InvalidInput(format!("key {}: {reason}", path.display())))?;
        Ok(JwtSigner {
            subject: subject.to_owned(),
            issuer: subject.to_owned(),
            lifetime: Duration::from_secs(300),
            etd: false,
            key,
        })
    }

    /// A signer from key text (OpenSSH or PEM) instead of a file.
    pub fn from_key_text(subject: &str, text: &str, passphrase: Option<&Secret>) -> Result<Self> {
        let key = parse_key(text, passphrase).map_err(Error::InvalidInput)?;
        Ok(JwtSigner {
            subject: subject.to_owned(),
            issuer: subject.to_owned(),
            lifetime: Duration::from_secs(300),
            etd: false,
            key,
        })
    }

    /// Tokens valid for `lifetime` (default 300 s).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// A different issuer (services signing for users; default: the subject).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// The `etd` (trust delegation) claim; default false, as for end users.
    pub fn with_etd(mut self, etd: bool) -> Self {
        self.etd = etd;
        self
    }

    /// How long each token lives.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The algorithm the key gives.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.key {
            Key::Rsa(_) => KeyAlgorithm::Rs256,
            Key::P256(_) => KeyAlgorithm::Es256,
            Key::Ed25519(_) => KeyAlgorithm::EdDsa,
        }
    }

    /// A fresh signed token.
    pub fn sign(&self) -> Result<Secret> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = serde_json::json!({"alg": self.algorithm().name(), "typ": "JWT"});
        let claims = serde_json::json!({
            "etd": if self.etd { "true" } else { "false" },
            "sub": self.subject,
            "iss": self.issuer,
            "iat": now,
            "exp": now + self.lifetime.as_secs(),
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let input =
            format!("{}.{}", b64.encode(header.to_string()), b64.encode(claims.to_string()));
        let failed =
            |e: signature::Error| Error::InvalidInput(format!("signing the token failed: {e}"));
        let sig: Vec<u8> = match &self.key {
            Key::Rsa(k) => k.try_sign(input.as_bytes()).map_err(failed)?.to_vec(),
            Key::P256(k) => {
                let s: p256::ecdsa::Signature = k.try_sign(input.as_bytes()).map_err(failed)?;
                s.to_vec()
            }
            Key::Ed25519(k) => k.try_sign(input.as_bytes()).map_err(failed)?.to_bytes().to_vec(),
        };
        Ok(Secret::new(format!("{input}.{}", b64.encode(sig))))
    }
}

fn parse_key(text: &str, passphrase: Option<&Secret>) -> std::result::Result<Key, String> {
    if text.contains("BEGIN OPENSSH PRIVATE KEY") {
        return openssh_key(text, passphrase);
    }
    pem_key(text)
}

fn openssh_key(text: &str, passphrase: Option<&Secret>) -> std::result::Result<Key, String> {
    use ssh_key::private::{EcdsaKeypair, KeypairData};
    let mut key = ssh_key::PrivateKey::from_openssh(text)
        .map_err(|e| format!("not a usable OpenSSH key: {e}"))?;
    if key.is_encrypted() {
        let pass = passphrase
            .filter(|p| !p.is_empty())
            .ok_or("the key is encrypted and no passphrase was given")?;
        key = key
            .decrypt(pass.expose())
            .map_err(|_| "wrong passphrase (cannot decrypt the key)".to_owned())?;
    }
    match key.key_data() {
        KeypairData::Rsa(kp) => {
            let k = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::try_from(kp)
                .map_err(|e| e.to_string())?;
            Ok(Key::Rsa(Box::new(k)))
        }
        KeypairData::Ecdsa(EcdsaKeypair::NistP256 { private, .. }) => {
            p256::ecdsa::SigningKey::from_slice(private.as_slice())
                .map(Key::P256)
                .map_err(|e| e.to_string())
        }
        KeypairData::Ed25519(kp) => {
            ed25519_dalek::SigningKey::try_from(kp).map(Key::Ed25519).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "{} keys cannot sign UNICORE tokens (RSA, ECDSA P-256, Ed25519 can)",
            other.algorithm().map(|a| a.to_string()).unwrap_or_else(|_| "unknown".into())
        )),
    }
}

fn pem_key(text: &str) -> std::result::Result<Key, String> {
    use p256::pkcs8::DecodePrivateKey as _;
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    if text.contains("ENCRYPTED") {
        return Err("encrypted PEM keys are not supported; convert it to the OpenSSH format (ssh-keygen -p -f KEY)".into());
    }
    if text.contains("BEGIN RSA PRIVATE KEY") {
        let k =
            rsa::RsaPrivateKey::from_pkcs1_pem(text).map_err(|e| format!("bad RSA key: {e}"))?;
        return Ok(Key::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(k))));
    }
    if text.contains("BEGIN EC PRIVATE KEY") {
        let k =
            p256::SecretKey::from_sec1_pem(text).map_err(|e| format!("not a P-256 EC key: {e}"))?;
        return Ok(Key::P256(p256::ecdsa::SigningKey::from(k)));
    }
    if text.contains("BEGIN PRIVATE KEY") {
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(text) {
            return Ok(Key::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(k))));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_pem(text) {
            return Ok(Key::P256(p256::ecdsa::SigningKey::from(k)));
        }
        return Err("PKCS#8 key is neither RSA nor P-256".into());
    }
    Err("not a private key in OpenSSH or PEM format".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ed25519 test key (made for this test only, protects nothing).
    const ED25519: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACC2dJy5BRaUQ43gKy4wl8gsBMr6224YUD3CEdA9a2o0PQAAAJiiqq/3oqqv
9wAAAAtzc2gtZWQyNTUxOQAAACC2dJy5BRaUQ43gKy4wl8gsBMr6224YUD3CEdA9a2o0PQ
AAAEDg16zcp0vhxAZEbQUtaZCQAyAogq6Rqb2InIr7nPWJ3bZ0nLkFFpRDjeArLjCXyCwE
yvrbbhhQPcIR0D1rajQ9AAAAEHRlc3RAaHBja2l0LXRlc3QBAgMEBQ==
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn ed25519_tokens_have_pyunicore_claims() {
        let signer = JwtSigner::from_key_text("demouser", ED25519, None).unwrap();
        assert_eq!(signer.algorithm(), KeyAlgorithm::EdDsa);
        let token = signer.sign().unwrap();
        let parts: Vec<&str> = token.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "demouser");
        assert_eq!(claims["iss"], "demouser");
        assert_eq!(claims["etd"], "false");
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
        let header: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert!(!format!("{signer:?}").contains("PRIVATE"));
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        let e = JwtSigner::from_key_text("u", "hello", None).unwrap_err();
        assert!(e.to_string().contains("not a private key"), "{e}");
        let e = JwtSigner::from_key_file("u", Path::new("/nonexistent/key"), None).unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }
}
