//! The Ed25519 keys access tokens are signed with, and the JWKS that publishes them.
//!
//! Production keys are PKCS#8 PEM files in `AUTH_KEYS_DIR`, one per key, named by their key
//! id (`2026-11-21.pem` → `kid` `2026-11-21`). Every key in the folder is published in the
//! JWKS; `AUTH_SIGNING_KID` names the one that signs, by default the last by name. To rotate
//! without logging anyone out (docs/auth.md): publish the new key first (add its file with
//! `AUTH_SIGNING_KID` still naming the old one, roll), then sign with it (change
//! `AUTH_SIGNING_KID`, roll), and remove the old file once the tokens it signed have expired
//! (`AUTH_ACCESS_TTL`). Publishing before signing matters: during a rolling restart, replicas
//! still on the old settings must already know the key new replicas sign with.

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
    #[error("AUTH_SIGNING_KID={0} names no key in {1}")]
    UnknownSigningKid(String, PathBuf),
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
    /// Loads every `*.pem` of `dir`; `signing_kid` (default: the last by name) signs.
    pub fn load_dir(dir: &Path, signing_kid: Option<&str>) -> Result<Self, KeyError> {
        let files = key_files(dir)?;
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
        if keys.is_empty() {
            return Err(KeyError::NoKeys(dir.to_owned()));
        }
        if let Some(kid) = signing_kid {
            // The signing key goes last, where `from_keys` takes it from.
            let position = keys
                .iter()
                .position(|(k, _)| k == kid)
                .ok_or_else(|| KeyError::UnknownSigningKid(kid.to_owned(), dir.to_owned()))?;
            let signing = keys.remove(position);
            keys.push(signing);
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

    /// Whether `dir` exists and holds at least one `<kid>.pem` (for `keys generate
    /// --if-empty`, which seeds a volume once).
    pub fn dir_has_keys(dir: &Path) -> Result<bool, KeyError> {
        match key_files(dir) {
            Ok(files) => Ok(!files.is_empty()),
            Err(KeyError::Folder(_, e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
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

/// The `*.pem` files of `dir`, sorted by name (which is the order keys were made in).
fn key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let entries = std::fs::read_dir(dir).map_err(|e| KeyError::Folder(dir.to_owned(), e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_key_by_name_signs_and_every_key_is_published() {
        let dir = std::env::temp_dir().join(format!("marquee-keys-{}", uuid::Uuid::now_v7()));
        SigningKeys::write_new(&dir, "2026-01-01").unwrap();
        SigningKeys::write_new(&dir, "2026-06-01").unwrap();
        let keys = SigningKeys::load_dir(&dir, None).unwrap();
        assert_eq!(keys.active_kid, "2026-06-01");
        let kids = |keys: &SigningKeys| -> Vec<String> {
            let mut kids: Vec<String> = keys.jwks()["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect();
            kids.sort();
            kids
        };
        assert_eq!(kids(&keys), ["2026-01-01", "2026-06-01"]);

        // Published but not yet signing: the first step of a rotation.
        let keys = SigningKeys::load_dir(&dir, Some("2026-01-01")).unwrap();
        assert_eq!(keys.active_kid, "2026-01-01");
        assert_eq!(kids(&keys), ["2026-01-01", "2026-06-01"]);
        assert!(matches!(
            SigningKeys::load_dir(&dir, Some("2027-01-01")),
            Err(KeyError::UnknownSigningKid(..))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_folder_has_keys_once_a_pem_is_in_it() {
        let dir = std::env::temp_dir().join(format!("marquee-keys-{}", uuid::Uuid::now_v7()));
        assert!(!SigningKeys::dir_has_keys(&dir).unwrap(), "missing folder");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("README"), "not a key").unwrap();
        assert!(!SigningKeys::dir_has_keys(&dir).unwrap(), "no .pem yet");
        SigningKeys::write_new(&dir, "2026-01-01").unwrap();
        assert!(SigningKeys::dir_has_keys(&dir).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_empty_or_missing_folder_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("marquee-keys-{}", uuid::Uuid::now_v7()));
        assert!(matches!(
            SigningKeys::load_dir(&dir, None),
            Err(KeyError::Folder(..))
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let error = SigningKeys::load_dir(&dir, None).unwrap_err();
        assert!(error.to_string().contains("keys generate"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
