//! Tokens a user signs with an SSH key (PyUNICORE's `JWTToken`, what
//! `create_credential(username, identity=KEY)` sends): accepted when `sub`
//! equals `iss`, `exp` lies ahead, and the signature verifies with one of the
//! public keys in the user's `authorized_keys` file, read at every login as
//! UNICORE's SSH-key authentication reads the user's keys. RS256 goes with
//! RSA keys, ES256 with ECDSA P-256 keys, EdDSA with Ed25519 keys.
//!
//! Verification uses `ring`, not the RustCrypto crates `unicore-rest` signs
//! with, so a mistake in the client's encoding is not mirrored here.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use serde_json::Value;
use ssh_key::public::{EcdsaPublicKey, KeyData};

use super::config::UserConfig;
use super::http::{ApiError, fail};

/// Clock difference tolerated for `iat` (seconds).
const SKEW: u64 = 60;

/// The user a key-signed token logs in, `None` when `token` is no JWT (three
/// base64url parts with a JSON header and claims), so other token kinds can
/// be tried; a JWT that fails a check is refused with the reason.
pub(crate) fn user_of(users: &[UserConfig], token: &str) -> Result<Option<String>, ApiError> {
    let Some(jwt) = Jwt::parse(token) else { return Ok(None) };
    let refuse =
        |why: String| fail(403, format!("Authentication failed: key-signed token refused: {why}"));
    let sub = jwt.claim("sub").ok_or_else(|| refuse("no 'sub' claim".into()))?;
    if jwt.claim("iss") != Some(sub) {
        return Err(refuse("'iss' differs from 'sub' (only self-signed tokens)".into()));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let exp = jwt.claims.get("exp").and_then(Value::as_u64);
    match exp {
        None => return Err(refuse("no 'exp' claim".into())),
        Some(exp) if exp <= now => return Err(refuse("it has expired".into())),
        Some(_) => {}
    }
    if jwt.claims.get("iat").and_then(Value::as_u64).is_some_and(|iat| iat > now + SKEW) {
        return Err(refuse("'iat' lies in the future".into()));
    }
    let user = users
        .iter()
        .find(|u| u.name == sub)
        .ok_or_else(|| refuse(format!("{sub:?} is no user")))?;
    let file = user
        .authorized_keys
        .as_ref()
        .ok_or_else(|| refuse(format!("{sub} has no authorized keys")))?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| refuse(format!("cannot read {}: {e}", file.display())))?;
    let algorithm = jwt.header.get("alg").and_then(Value::as_str).unwrap_or("");
    let verified = ssh_key::AuthorizedKeys::new(&text)
        .filter_map(Result::ok)
        .any(|entry| jwt.verifies_with(algorithm, entry.public_key().key_data()));
    if verified {
        Ok(Some(sub.to_owned()))
    } else {
        Err(refuse(format!("no {algorithm} signature of one of {sub}'s authorized keys")))
    }
}

/// A token taken apart.
struct Jwt<'a> {
    header: Value,
    claims: Value,
    /// `header.claims`, the signed text.
    signed: &'a str,
    signature: Vec<u8>,
}

impl<'a> Jwt<'a> {
    fn parse(token: &'a str) -> Option<Self> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, claims) = signed.split_once('.')?;
        let json = |part: &str| -> Option<Value> {
            serde_json::from_slice(&b64.decode(part).ok()?).ok().filter(Value::is_object)
        };
        Some(Jwt {
            header: json(header)?,
            claims: json(claims)?,
            signed,
            signature: b64.decode(signature).ok()?,
        })
    }

    fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    fn verifies_with(&self, algorithm: &str, key: &KeyData) -> bool {
        let msg = self.signed.as_bytes();
        let sig = self.signature.as_slice();
        match (algorithm, key) {
            ("RS256", KeyData::Rsa(k)) => {
                let (Some(n), Some(e)) = (k.n().as_positive_bytes(), k.e().as_positive_bytes())
                else {
                    return false;
                };
                RsaPublicKeyComponents { n, e }
                    .verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
                    .is_ok()
            }
            ("ES256", KeyData::Ecdsa(k @ EcdsaPublicKey::NistP256(_))) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.as_sec1_bytes())
                    .verify(msg, sig)
                    .is_ok()
            }
            ("EdDSA", KeyData::Ed25519(k)) => {
                UnparsedPublicKey::new(&ED25519, k.0).verify(msg, sig).is_ok()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(keys: Option<std::path::PathBuf>) -> Vec<UserConfig> {
        vec![UserConfig {
            name: "demouser".into(),
            password: "pw".into(),
            tokens: Vec::new(),
            uids: Vec::new(),
            groups: Vec::new(),
            authorized_keys: keys,
        }]
    }

    fn token(header: &Value, claims: &Value, signature: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string()),
            b64.encode(signature)
        )
    }

    #[test]
    fn opaque_tokens_are_left_to_other_checks() {
        assert!(user_of(&user(None), "demotoken").unwrap().is_none());
        assert!(user_of(&user(None), "a.b.c").unwrap().is_none());
    }

    #[test]
    fn claims_are_checked_before_any_key() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let h = serde_json::json!({"alg": "EdDSA", "typ": "JWT"});
        let refused =
            |claims: Value| user_of(&user(None), &token(&h, &claims, b"sig")).unwrap_err().message;
        let m = refused(serde_json::json!({"sub": "demouser", "iss": "other", "exp": now + 60}));
        assert!(m.contains("'iss' differs"), "{m}");
        let m = refused(serde_json::json!({"sub": "demouser", "iss": "demouser"}));
        assert!(m.contains("no 'exp'"), "{m}");
        let m = refused(serde_json::json!({"sub": "demouser", "iss": "demouser", "exp": now - 1}));
        assert!(m.contains("expired"), "{m}");
        let m = refused(serde_json::json!({"sub": "demouser", "iss": "demouser", "exp": now + 60}));
        assert!(m.contains("no authorized keys"), "{m}");
        let m = refused(serde_json::json!({"sub": "nobody", "iss": "nobody", "exp": now + 60}));
        assert!(m.contains("is no user"), "{m}");
    }

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    fn claims(exp: u64) -> Value {
        serde_json::json!({"etd": "false", "sub": "demouser", "iss": "demouser", "iat": now(), "exp": exp})
    }

    /// `header.claims.signature`, signed by `sign`.
    fn signed(alg: &str, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let header = serde_json::json!({"alg": alg, "typ": "JWT"});
        let text = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let signature = sign(text.as_bytes());
        format!("{text}.{}", B64.encode(signature))
    }

    /// An `authorized_keys` file with `lines` in a directory of its own.
    struct KeyFile(std::path::PathBuf);

    impl KeyFile {
        fn new(test: &str, lines: &[String]) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("hpckit-unicore-keys-{}-{test}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("authorized_keys");
            std::fs::write(&file, format!("# keys of demouser\n{}\n", lines.join("\n"))).unwrap();
            KeyFile(file)
        }
    }

    impl Drop for KeyFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
        }
    }

    fn ed25519(seed: u8) -> ring::signature::Ed25519KeyPair {
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
    }

    fn ed25519_line(pair: &ring::signature::Ed25519KeyPair) -> String {
        use ring::signature::KeyPair as _;
        let public =
            ssh_key::public::Ed25519PublicKey(pair.public_key().as_ref().try_into().unwrap());
        ssh_key::PublicKey::from(public).to_openssh().unwrap()
    }

    /// The refusal of `token`: a 403 whose message contains `why`.
    fn assert_refused(users: &[UserConfig], token: &str, why: &str) {
        let e = user_of(users, token).expect_err("the token must be refused");
        assert_eq!(e.status, 403, "{}", e.message);
        assert!(e.message.contains(why), "{why:?} not in {:?}", e.message);
    }

    #[test]
    fn a_signature_must_match_a_registered_key() {
        let pair = ed25519(7);
        // Options before the key, as sshd allows them.
        let keys =
            KeyFile::new("ed25519", &[format!("from=\"127.0.0.1\" {} test", ed25519_line(&pair))]);
        let users = user(Some(keys.0.clone()));
        let sign = |m: &[u8]| pair.sign(m).as_ref().to_vec();

        let good = signed("EdDSA", &claims(now() + 300), sign);
        assert_eq!(user_of(&users, &good).unwrap().as_deref(), Some("demouser"));

        // A later expiry put into a signed token.
        let (head, rest) = good.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let longer = B64.encode(claims(now() + 9999).to_string());
        assert_refused(&users, &format!("{head}.{longer}.{signature}"), "no EdDSA signature");

        // The same key, but the token has run out.
        assert_refused(&users, &signed("EdDSA", &claims(now() - 1), sign), "expired");

        // A key the user never registered.
        let stranger = ed25519(8);
        let forged = signed("EdDSA", &claims(now() + 300), |m| stranger.sign(m).as_ref().to_vec());
        assert_refused(&users, &forged, "no EdDSA signature");

        // The right signature under another algorithm's name.
        assert_refused(&users, &signed("RS256", &claims(now() + 300), sign), "no RS256 signature");
        assert_refused(&users, &signed("none", &claims(now() + 300), |_| Vec::new()), "signature");

        // A token for another user, signed with this user's key.
        let other = serde_json::json!({"sub": "root", "iss": "root", "exp": now() + 300});
        assert_refused(&users, &signed("EdDSA", &other, sign), "is no user");
    }

    #[test]
    fn ecdsa_p256_tokens_verify() {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = EcdsaPublicKey::from_sec1_bytes(pair.public_key().as_ref()).unwrap();
        let line = ssh_key::PublicKey::from(public).to_openssh().unwrap();
        // The Ed25519 key first: every registered key is tried.
        let keys = KeyFile::new("ecdsa", &[ed25519_line(&ed25519(9)), line]);
        let users = user(Some(keys.0.clone()));
        let sign = |m: &[u8]| pair.sign(&rng, m).unwrap().as_ref().to_vec();

        let good = signed("ES256", &claims(now() + 300), sign);
        assert_eq!(user_of(&users, &good).unwrap().as_deref(), Some("demouser"));
        assert_refused(&users, &signed("ES256", &claims(now() - 5), sign), "expired");
        assert_refused(&users, &signed("EdDSA", &claims(now() + 300), sign), "no EdDSA signature");
    }
}
