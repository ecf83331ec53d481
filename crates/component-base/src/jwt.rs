//! JSON Web Tokens for ServiceAccounts: loading PEM keys, signing (RS256,
//! ES256, ES384) and verifying compact JWS tokens.
//!
//! Key files may hold certificates, `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY`
//! (PKCS#1) or private keys (`PRIVATE KEY` PKCS#8, `RSA PRIVATE KEY`
//! PKCS#1, `EC PRIVATE KEY` SEC1), like upstream's `keyutil`. The key id
//! (`kid`) is upstream's: base64url(sha256(DER SubjectPublicKeyInfo)).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

/// The signature algorithms Corten signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
        }
    }
}

/// A verification key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    alg: Alg,
    /// RSAPublicKey DER (RSA) or the uncompressed point (EC).
    raw: Vec<u8>,
    /// The key id.
    pub kid: String,
}

impl PublicKey {
    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
        };
        signature::UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, sig)
            .is_ok()
    }
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A signing key with its public half.
pub struct SigningKey {
    signer: Signer,
    /// The public key (also accepted for verification).
    pub public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

// ---- a little DER, enough to wrap keys ----

fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const OID_EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// DER SubjectPublicKeyInfo of a key.
fn spki_der(alg: Alg, raw: &[u8]) -> Vec<u8> {
    let algorithm = match alg {
        Alg::Rs256 => der(0x30, &[OID_RSA, &[0x05, 0x00]].concat()),
        Alg::Es256 => der(0x30, &[OID_EC, OID_P256].concat()),
        Alg::Es384 => der(0x30, &[OID_EC, OID_P384].concat()),
    };
    let bits = der(0x03, &[&[0u8][..], raw].concat());
    der(0x30, &[algorithm, bits].concat())
}

fn kid_of(spki: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, spki).as_ref())
}

fn public_key(alg: Alg, raw: Vec<u8>) -> PublicKey {
    let kid = kid_of(&spki_der(alg, &raw));
    PublicKey { alg, raw, kid }
}

fn public_from_spki(spki: &[u8]) -> Result<PublicKey> {
    use x509_parser::prelude::FromDer;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
        .map_err(|e| anyhow!("parsing a public key: {e}"))?;
    let oid = info.algorithm.algorithm.to_id_string();
    let raw = info.subject_public_key.data.to_vec();
    let alg = match oid.as_str() {
        "1.2.840.113549.1.1.1" => Alg::Rs256,
        "1.2.840.10045.2.1" => {
            let curve = info
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => Alg::Es256,
                "1.3.132.0.34" => Alg::Es384,
                other => bail!("unsupported elliptic curve {other}"),
            }
        }
        other => bail!("unsupported public key algorithm {other}"),
    };
    Ok(PublicKey {
        alg,
        raw,
        kid: kid_of(spki),
    })
}

/// The PEM blocks of a file: (label, DER).
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| anyhow!("malformed PEM header"))?;
        let label = after[..label_end].to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = body_start
            .find(&end_marker)
            .ok_or_else(|| anyhow!("PEM block {label} has no end"))?;
        let b64: String = body_start[..end]
            .lines()
            .filter(|l| !l.contains(':'))
            .collect::<Vec<_>>()
            .concat()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD
            .decode(b64)
            .with_context(|| format!("decoding PEM block {label}"))?;
        out.push((label, der));
        rest = &body_start[end + end_marker.len()..];
    }
    Ok(out)
}

fn signing_from_block(label: &str, der_bytes: &[u8]) -> Result<Option<SigningKey>> {
    let rng = SystemRandom::new();
    let ec = |pkcs8: &[u8]| -> Option<SigningKey> {
        for (alg, ring_alg) in [
            (Alg::Es256, &signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            (Alg::Es384, &signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        ] {
            if let Ok(k) = EcdsaKeyPair::from_pkcs8(ring_alg, pkcs8, &rng) {
                let public = public_key(alg, k.public_key().as_ref().to_vec());
                return Some(SigningKey {
                    signer: Signer::Ec(k),
                    public,
                });
            }
        }
        None
    };
    let rsa = |k: RsaKeyPair| {
        let public = public_key(Alg::Rs256, k.public().as_ref().to_vec());
        SigningKey {
            signer: Signer::Rsa(k),
            public,
        }
    };
    Ok(match label {
        "PRIVATE KEY" => match RsaKeyPair::from_pkcs8(der_bytes) {
            Ok(k) => Some(rsa(k)),
            Err(_) => Some(ec(der_bytes).ok_or_else(|| anyhow!("unsupported PKCS#8 key"))?),
        },
        "RSA PRIVATE KEY" => Some(rsa(
            RsaKeyPair::from_der(der_bytes).map_err(|e| anyhow!("parsing RSA key: {e}"))?
        )),
        "EC PRIVATE KEY" => {
            // Wrap SEC1 in PKCS#8 for ring, trying each supported curve.
            let mut found = None;
            for curve in [OID_P256, OID_P384] {
                let algo = der(0x30, &[OID_EC, curve].concat());
                let pkcs8 = der(
                    0x30,
                    &[&[0x02, 0x01, 0x00][..], &algo, &der(0x04, der_bytes)].concat(),
                );
                if let Some(k) = ec(&pkcs8) {
                    found = Some(k);
                    break;
                }
            }
            Some(found.ok_or_else(|| anyhow!("unsupported EC private key"))?)
        }
        _ => None,
    })
}

/// Reads the verification keys of a `--service-account-key-file`.
pub fn load_public_keys(path: &Path) -> Result<Vec<PublicKey>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --service-account-key-file {}", path.display()))?;
    public_keys_from_pem(&text).with_context(|| format!("loading keys from {}", path.display()))
}

/// Verification keys from PEM text.
pub fn public_keys_from_pem(text: &str) -> Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    for (label, der_bytes) in pem_blocks(text)? {
        match label.as_str() {
            "PUBLIC KEY" => keys.push(public_from_spki(&der_bytes)?),
            "RSA PUBLIC KEY" => keys.push(public_key(Alg::Rs256, der_bytes)),
            "CERTIFICATE" => {
                let (_, cert) = x509_parser::parse_x509_certificate(&der_bytes)
                    .map_err(|e| anyhow!("parsing a certificate: {e}"))?;
                keys.push(public_from_spki(cert.tbs_certificate.subject_pki.raw)?);
            }
            other => {
                if let Some(k) = signing_from_block(other, &der_bytes)? {
                    keys.push(k.public);
                }
            }
        }
    }
    if keys.is_empty() {
        bail!("no public key found");
    }
    Ok(keys)
}

/// Reads a `--service-account-signing-key-file`.
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading --service-account-signing-key-file {}",
            path.display()
        )
    })?;
    signing_key_from_pem(&text).with_context(|| format!("loading the key in {}", path.display()))
}

/// A signing key from PEM text (the first private key).
pub fn signing_key_from_pem(text: &str) -> Result<SigningKey> {
    for (label, der_bytes) in pem_blocks(text)? {
        if let Some(k) = signing_from_block(&label, &der_bytes)? {
            return Ok(k);
        }
    }
    bail!("no private key found")
}

impl SigningKey {
    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let header = json!({"alg": self.public.alg.name(), "kid": self.public.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let rng = SystemRandom::new();
        let sig = match &self.signer {
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| anyhow!("RSA signing failed"))?;
                sig
            }
            Signer::Ec(k) => k
                .sign(&rng, input.as_bytes())
                .map_err(|_| anyhow!("ECDSA signing failed"))?
                .as_ref()
                .to_vec(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS at all (another authenticator may claim it).
    #[error("not a JWT")]
    NotJwt,
    /// A JWT whose signature no key verifies.
    #[error("invalid signature")]
    BadSignature,
}

/// The unverified claims of a compact JWS (`NotJwt` if it is not one).
pub fn peek_claims(token: &str) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::NotJwt);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwtError::NotJwt)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::NotJwt)?;
    if !v.is_object() {
        return Err(JwtError::NotJwt);
    }
    Ok(v)
}

/// Verifies the signature with any of `keys` (those with a matching `kid`
/// first) and returns the claims.
pub fn verify(token: &str, keys: &[PublicKey]) -> Result<Value, JwtError> {
    let claims = peek_claims(token)?;
    let (input, sig_b64) = token.rsplit_once('.').ok_or(JwtError::NotJwt)?;
    let header_b64 = input.split('.').next().unwrap_or_default();
    let header: Value = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::NotJwt)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kid = header.get("kid").and_then(Value::as_str);
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| JwtError::BadSignature)?;
    let candidates = keys
        .iter()
        .filter(|k| k.alg.name() == alg)
        .filter(|k| kid.is_none_or(|kid| kid.is_empty() || kid == k.kid));
    for key in candidates {
        if key.verify(input.as_bytes(), &sig) {
            return Ok(claims);
        }
    }
    Err(JwtError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_keys_sign_and_verify() {
        let kp = rcgen::KeyPair::generate().unwrap();
        let key = signing_key_from_pem(&kp.serialize_pem()).unwrap();
        let publics = public_keys_from_pem(&kp.public_key_pem()).unwrap();
        assert_eq!(publics[0].kid, key.public.kid);
        let token = key.sign(&json!({"sub": "x"})).unwrap();
        assert_eq!(verify(&token, &publics).unwrap()["sub"], "x");
        // Tampered payload fails.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#);
        parts[1] = &forged;
        assert_eq!(
            verify(&parts.join("."), &publics),
            Err(JwtError::BadSignature)
        );
        // Another key does not verify it.
        let other = rcgen::KeyPair::generate().unwrap();
        let other_pub = public_keys_from_pem(&other.public_key_pem()).unwrap();
        assert!(verify(&token, &other_pub).is_err());
    }

    #[test]
    fn garbage_is_not_a_jwt() {
        for t in ["", "abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30"] {
            assert!(verify(t, &[]).is_err(), "{t}");
        }
        assert_eq!(peek_claims("x.eyJhIjoxfQ.y").unwrap()["a"], 1);
        assert!(public_keys_from_pem("nothing").is_err());
        assert!(
            signing_key_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
    }
}
