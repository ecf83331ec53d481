//! Encryption at rest (`--encryption-provider-config`): an
//! apiserver.config.k8s.io/v1 `EncryptionConfiguration` maps resources to
//! provider lists. The first provider encrypts new writes; every provider
//! (and every key of each) can read, so keys rotate by putting the new key
//! first and rewriting the objects (`kubectl get secrets -A -o json |
//! kubectl replace -f -`). Values carry upstream's prefixes
//! (`k8s:enc:aescbc:v1:<key name>:`, `aesgcm`, `secretbox`); `identity`
//! stores plaintext.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

/// One key of a provider.
struct Key {
    name: String,
    secret: Vec<u8>,
}

/// A provider and its keys (the first key encrypts).
enum Provider {
    Identity,
    AesCbc(Vec<Key>),
    AesGcm(Vec<Key>),
    Secretbox(Vec<Key>),
}

impl Provider {
    fn kind(&self) -> &'static str {
        match self {
            Provider::Identity => "identity",
            Provider::AesCbc(_) => "aescbc",
            Provider::AesGcm(_) => "aesgcm",
            Provider::Secretbox(_) => "secretbox",
        }
    }

    fn keys(&self) -> &[Key] {
        match self {
            Provider::Identity => &[],
            Provider::AesCbc(k) | Provider::AesGcm(k) | Provider::Secretbox(k) => k,
        }
    }
}

fn random(n: usize) -> Result<Vec<u8>, String> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "no randomness".to_string())?;
    Ok(b)
}

fn gcm_key(secret: &[u8]) -> Result<LessSafeKey, String> {
    let alg = match secret.len() {
        16 => &aead::AES_128_GCM,
        32 => &aead::AES_256_GCM,
        n => return Err(format!("aesgcm keys must be 16 or 32 bytes, not {n}")),
    };
    UnboundKey::new(alg, secret)
        .map(LessSafeKey::new)
        .map_err(|_| "bad aesgcm key".to_string())
}

fn cbc_encrypt(secret: &[u8], iv: &[u8], plain: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |_| "bad aescbc key".to_string();
    Ok(match secret.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(secret, iv)
            .map_err(bad)?
            .encrypt_padded_vec_mut::<Pkcs7>(plain),
        24 => cbc::Encryptor::<aes::Aes192>::new_from_slices(secret, iv)
            .map_err(bad)?
            .encrypt_padded_vec_mut::<Pkcs7>(plain),
        32 => cbc::Encryptor::<aes::Aes256>::new_from_slices(secret, iv)
            .map_err(bad)?
            .encrypt_padded_vec_mut::<Pkcs7>(plain),
        n => return Err(format!("aescbc keys must be 16, 24 or 32 bytes, not {n}")),
    })
}

fn cbc_decrypt(secret: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |_| "bad aescbc key".to_string();
    let unpad = |_| "aescbc: invalid padding (wrong key?)".to_string();
    match secret.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(secret, iv)
            .map_err(bad)?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(unpad),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(secret, iv)
            .map_err(bad)?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(unpad),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(secret, iv)
            .map_err(bad)?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(unpad),
        n => Err(format!("aescbc keys must be 16, 24 or 32 bytes, not {n}")),
    }
}

fn seal(provider: &Provider, key: &Key, aad: &[u8], plain: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut out = format!("k8s:enc:{}:v1:{}:", provider.kind(), key.name).into_bytes();
    match provider {
        Provider::Identity => return Ok(plain),
        Provider::AesCbc(_) => {
            let iv = random(16)?;
            let ct = cbc_encrypt(&key.secret, &iv, &plain)?;
            out.extend(iv);
            out.extend(ct);
        }
        Provider::AesGcm(_) => {
            let nonce = random(12)?;
            let k = gcm_key(&key.secret)?;
            let mut data = plain;
            let n = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| "bad nonce")?;
            k.seal_in_place_append_tag(n, Aad::from(aad), &mut data)
                .map_err(|_| "aesgcm encryption failed")?;
            out.extend(nonce);
            out.extend(data);
        }
        Provider::Secretbox(_) => {
            let nonce = random(24)?;
            let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(&key.secret)
                .map_err(|_| "secretbox keys must be 32 bytes")?;
            let ct = cipher
                .encrypt(
                    crypto_secretbox::Nonce::from_slice(&nonce),
                    plain.as_slice(),
                )
                .map_err(|_| "secretbox encryption failed")?;
            out.extend(nonce);
            out.extend(ct);
        }
    }
    Ok(out)
}

fn open(provider: &Provider, key: &Key, aad: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    match provider {
        Provider::Identity => Ok(data.to_vec()),
        Provider::AesCbc(_) => {
            if data.len() < 16 {
                return Err("aescbc: data too short".into());
            }
            cbc_decrypt(&key.secret, &data[..16], &data[16..])
        }
        Provider::AesGcm(_) => {
            if data.len() < 12 {
                return Err("aesgcm: data too short".into());
            }
            let k = gcm_key(&key.secret)?;
            let n = Nonce::try_assume_unique_for_key(&data[..12]).map_err(|_| "bad nonce")?;
            let mut buf = data[12..].to_vec();
            let plain = k
                .open_in_place(n, Aad::from(aad), &mut buf)
                .map_err(|_| "aesgcm: decryption failed (wrong key?)")?;
            Ok(plain.to_vec())
        }
        Provider::Secretbox(_) => {
            if data.len() < 24 {
                return Err("secretbox: data too short".into());
            }
            let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(&key.secret)
                .map_err(|_| "secretbox keys must be 32 bytes")?;
            cipher
                .decrypt(
                    crypto_secretbox::Nonce::from_slice(&data[..24]),
                    &data[24..],
                )
                .map_err(|_| "secretbox: decryption failed (wrong key?)".to_string())
        }
    }
}

/// The providers of one set of resources.
struct Chain(Vec<Provider>);

impl Chain {
    fn write(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        let Some(first) = self.0.first() else {
            return Ok(value);
        };
        match first.keys().first() {
            Some(k) => seal(first, k, key.as_bytes(), value),
            None => Ok(value),
        }
    }

    fn read(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, String> {
        if let Some(rest) = value.strip_prefix(b"k8s:enc:") {
            for p in &self.0 {
                for k in p.keys() {
                    let prefix = format!("{}:v1:{}:", p.kind(), k.name);
                    if let Some(data) = rest.strip_prefix(prefix.as_bytes()) {
                        return open(p, k, key.as_bytes(), data);
                    }
                }
            }
            return Err("no matching prefix found".into());
        }
        if self.0.iter().any(|p| matches!(p, Provider::Identity)) {
            Ok(value.to_vec())
        } else {
            Err("the value is not encrypted and identity is not a provider".into())
        }
    }
}

/// Transforms values of the configured resources (by the storage resource,
/// the first segment of the key).
pub struct Encryption {
    by_resource: HashMap<String, Arc<Chain>>,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.by_resource.keys().collect();
        names.sort();
        f.debug_struct("Encryption")
            .field("resources", &names)
            .finish()
    }
}

impl Encryption {
    /// Reads the configuration file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --encryption-provider-config {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses the configuration text.
    pub fn parse(text: &str) -> Result<Self> {
        let y: serde_yaml::Value = serde_yaml::from_str(text).context("not YAML")?;
        let v: Value = serde_json::to_value(y)?;
        if v.get("kind").and_then(Value::as_str) != Some("EncryptionConfiguration") {
            bail!("kind must be EncryptionConfiguration");
        }
        let mut by_resource: HashMap<String, Arc<Chain>> = HashMap::new();
        for (i, entry) in v
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut providers = Vec::new();
            for p in entry
                .get("providers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                providers.push(provider(p).with_context(|| format!("resources[{i}].providers"))?);
            }
            if providers.is_empty() {
                bail!("resources[{i}]: at least one provider is required");
            }
            let chain = Arc::new(Chain(providers));
            for r in entry
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().unwrap_or_default();
                for storage in storage_resources(r) {
                    by_resource.entry(storage).or_insert_with(|| chain.clone());
                }
            }
        }
        Ok(Encryption { by_resource })
    }

    fn chain(&self, key: &str) -> Option<&Arc<Chain>> {
        let mut parts = key.split('/');
        let first = parts.next().unwrap_or_default();
        // Custom resources live under `<group>/<plural>/` (a group always
        // has a dot, a built-in storage resource never).
        if first.contains('.') {
            let plural = parts.next().unwrap_or_default();
            return self.by_resource.get(&format!("{first}/{plural}"));
        }
        self.by_resource.get(first)
    }
}

fn provider(p: &Value) -> Result<Provider> {
    let obj = p
        .as_object()
        .ok_or_else(|| anyhow!("a provider must be a map"))?;
    let (kind, cfg) = obj
        .iter()
        .next()
        .filter(|_| obj.len() == 1)
        .ok_or_else(|| anyhow!("each provider must name exactly one type"))?;
    let keys = || -> Result<Vec<Key>> {
        let mut out = Vec::new();
        for k in cfg
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = k
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let secret = base64::engine::general_purpose::STANDARD
                .decode(k.get("secret").and_then(Value::as_str).unwrap_or(""))
                .with_context(|| format!("key {name:?}: secret is not base64"))?;
            if name.is_empty() || name.contains(':') {
                bail!("key names must be non-empty and without ':'");
            }
            out.push(Key { name, secret });
        }
        if out.is_empty() {
            bail!("{kind}: at least one key is required");
        }
        Ok(out)
    };
    let p = match kind.as_str() {
        "identity" => Provider::Identity,
        "aescbc" => Provider::AesCbc(keys()?),
        "aesgcm" => Provider::AesGcm(keys()?),
        "secretbox" => Provider::Secretbox(keys()?),
        "kms" => bail!("the kms provider is not implemented by Corten yet"),
        other => bail!("unknown provider {other:?}"),
    };
    // Fail at startup, not on the first write, for a key of the wrong size.
    for k in p.keys() {
        seal(&p, k, b"check", b"check".to_vec()).map_err(|e| anyhow!("key {:?}: {e}", k.name))?;
    }
    Ok(p)
}

/// The storage resources (`secrets`, `deployments`) a configuration entry
/// (`secrets`, `deployments.apps`, `*.apps`, `*.`, `*.*`) names.
fn storage_resources(entry: &str) -> Vec<String> {
    let (resource, group) = entry.split_once('.').unwrap_or((entry, ""));
    let defs = corten_api::builtin_resources();
    let mut out: Vec<String> = defs
        .iter()
        .filter(|d| group == "*" || d.storage_group == group)
        .filter(|d| resource == "*" || d.resource == resource)
        .filter(|d| d.is_storage_version())
        .map(|d| d.storage_resource.to_string())
        .collect();
    if out.is_empty() && resource != "*" {
        // Not built in: a custom resource, stored under `<group>/<plural>`.
        out.push(if group.is_empty() {
            resource.to_string()
        } else {
            format!("{group}/{resource}")
        });
    }
    out.sort();
    out.dedup();
    out
}

impl corten_storage::ValueTransformer for Encryption {
    fn write(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        match self.chain(key) {
            Some(c) => c.write(key, value),
            None => Ok(value),
        }
    }

    fn read(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, String> {
        match self.chain(key) {
            Some(c) => c.read(key, value),
            None => Ok(value.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_resources_and_crds_map_to_their_keys() {
        assert_eq!(
            storage_resources("crontabs.stable.example.com"),
            ["stable.example.com/crontabs"]
        );
        assert_eq!(
            storage_resources("customresourcedefinitions.apiextensions.k8s.io"),
            ["apiextensions.k8s.io/customresourcedefinitions"]
        );
        assert_eq!(storage_resources("secrets"), ["secrets"]);
        let e = Encryption::parse(&format!(
            "kind: EncryptionConfiguration\nresources:\n- resources: [crontabs.stable.example.com]\n  providers:\n  - aesgcm:\n      keys:\n      - name: k\n        secret: {K32}\n"
        ))
        .unwrap();
        let stored = e
            .write("stable.example.com/crontabs/d/c", b"{}".to_vec())
            .unwrap();
        assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:k:"));
        assert_eq!(
            e.write("stable.example.com/other/d/c", b"{}".to_vec())
                .unwrap(),
            b"{}"
        );
    }
    use corten_storage::ValueTransformer;

    fn config(providers: &str) -> Encryption {
        Encryption::parse(&format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets, deployments.apps]\n  providers:\n{providers}"
        ))
        .unwrap()
    }

    const K32: &str = "c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/IDMyIGI=";

    #[test]
    fn every_provider_round_trips() {
        for kind in ["aescbc", "aesgcm", "secretbox"] {
            let e = config(&format!(
                "  - {kind}:\n      keys:\n      - name: k1\n        secret: {K32}\n  - identity: {{}}\n"
            ));
            let stored = e.write("secrets/d/s", b"{\"a\":1}".to_vec()).unwrap();
            let prefix = format!("k8s:enc:{kind}:v1:k1:");
            assert!(stored.starts_with(prefix.as_bytes()), "{kind}");
            assert!(!stored.windows(5).any(|w| w == b"\"a\":1"));
            assert_eq!(e.read("secrets/d/s", &stored).unwrap(), b"{\"a\":1}");
            // Plaintext written before encryption still reads (identity).
            assert_eq!(e.read("secrets/d/old", b"{}").unwrap(), b"{}");
            // Other resources are untouched.
            assert_eq!(e.write("configmaps/d/c", b"{}".to_vec()).unwrap(), b"{}");
            assert!(
                e.write("deployments/d/x", b"{}".to_vec())
                    .unwrap()
                    .starts_with(b"k8s:enc:")
            );
        }
    }

    #[test]
    fn rotation_and_wrong_keys() {
        let old = config(&format!(
            "  - aesgcm:\n      keys:\n      - name: old\n        secret: {K32}\n"
        ));
        let stored = old.write("secrets/d/s", b"x".to_vec()).unwrap();
        let rotated = config(&format!(
            "  - aesgcm:\n      keys:\n      - name: new\n        secret: {}\n      - name: old\n        secret: {K32}\n",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        ));
        assert_eq!(rotated.read("secrets/d/s", &stored).unwrap(), b"x");
        assert!(
            rotated
                .write("secrets/d/s", b"x".to_vec())
                .unwrap()
                .starts_with(b"k8s:enc:aesgcm:v1:new:")
        );
        // Moving the value to another key fails authentication.
        assert!(old.read("secrets/d/other", &stored).is_err());
        assert!(old.read("secrets/d/s", b"{}").is_err());
        assert!(Encryption::parse("kind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: k\n        secret: c2hvcnQ=\n").is_err());
    }
}
