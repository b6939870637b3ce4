//! The Ed25519 keys access tokens are signed with, and the JWKS that publishes them.
//!
//! Production keys are PKCS#8 PEM files in `AUTH_KEYS_DIR`, one per key, named by their key
//! id (`2026-11-21.pem` → `kid` `2026-11-21`). Every key in the folder is published in the
//! JWKS; the last by name signs. To rotate without logging anyone out: add the new key's file
//! (it is published and, sorting last, signs new tokens), and remove the old file once the
//! tokens it signed have expired (`AUTH_ACCESS_TTL`).

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use marquee_common::auth::AccessClaims;
use serde_json::{Value, json};

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    #[error("no *.pem key in {0}; create one with `auth-service keys generate --dir {0}`")]
    NoKeys(PathBuf),
    #[error("{0} is not a PKCS#8 Ed25519 private key: {1}")]
    Invalid(PathBuf, String),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// The signing key and the published set.
pub struct SigningKeys {
    active_kid: String,
    active: EncodingKey,
    jwks: Value,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("active_kid", &self.active_kid)
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Loads every `*.pem` of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, KeyError> {
        let entries = std::fs::read_dir(dir).map_err(|e| KeyError::Folder(dir.to_owned(), e))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
            .collect();
        files.sort();
        let mut keys = Vec::with_capacity(files.len());
        for path in files {
            let pem =
                std::fs::read_to_string(&path).map_err(|e| KeyError::Folder(path.clone(), e))?;
            let key = SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| KeyError::Invalid(path.clone(), e.to_string()))?;
            let kid = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            keys.push((kid, key));
        }
        Self::from_keys(keys).ok_or_else(|| KeyError::NoKeys(dir.to_owned()))
    }

    /// One fresh key, for tests and throw-away environments.
    pub fn generate() -> Self {
        let kid = uuid::Uuid::now_v7().to_string();
        let keys = vec![(kid, SigningKey::from_bytes(&rand::random()))];
        Self::from_keys(keys).unwrap_or_else(|| unreachable!("one key was given"))
    }

    /// Writes a new key as `<dir>/<kid>.pem` (mode 0600 on Unix).
    pub fn write_new(dir: &Path, kid: &str) -> Result<PathBuf, KeyError> {
        std::fs::create_dir_all(dir).map_err(|e| KeyError::Write(dir.to_owned(), e))?;
        let path = dir.join(format!("{kid}.pem"));
        let pem = SigningKey::from_bytes(&rand::random())
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Invalid(path.clone(), e.to_string()))?;
        std::fs::write(&path, pem.as_bytes()).map_err(|e| KeyError::Write(path.clone(), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| KeyError::Write(path.clone(), e))?;
        }
        Ok(path)
    }

    fn from_keys(keys: Vec<(String, SigningKey)>) -> Option<Self> {
        let jwks = json!({
            "keys": keys.iter().map(|(kid, key)| json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            })).collect::<Vec<_>>()
        });
        let (active_kid, active) = keys.into_iter().next_back()?;
        let der = active.to_pkcs8_der().ok()?;
        Some(Self {
            active_kid,
            active: EncodingKey::from_ed_der(der.as_bytes()),
            jwks,
        })
    }

    /// The JWKS document (`{"keys": [...]}`).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Signs `claims` with the active key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.active_kid.clone());
        jsonwebtoken::encode(&header, claims, &self.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_key_by_name_signs_and_every_key_is_published() {
        let dir = std::env::temp_dir().join(format!("marquee-keys-{}", uuid::Uuid::now_v7()));
        SigningKeys::write_new(&dir, "2026-01-01").unwrap();
        SigningKeys::write_new(&dir, "2026-06-01").unwrap();
        let keys = SigningKeys::load_dir(&dir).unwrap();
        assert_eq!(keys.active_kid, "2026-06-01");
        let kids: Vec<&str> = keys.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["2026-01-01", "2026-06-01"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_empty_or_missing_folder_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("marquee-keys-{}", uuid::Uuid::now_v7()));
        assert!(matches!(
            SigningKeys::load_dir(&dir),
            Err(KeyError::Folder(..))
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let error = SigningKeys::load_dir(&dir).unwrap_err();
        assert!(error.to_string().contains("keys generate"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
