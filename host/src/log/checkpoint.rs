//! Signed checkpoints: (size, head) of the log, signed with Ed25519, in
//! the spirit of Certificate Transparency and C2SP tlog checkpoints. A
//! hash chain alone cannot catch a truncated tail or a full rewrite by
//! someone who can recompute it; a checkpoint kept off the machine can.

use super::chain::ChainHash;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The origin line every checkpoint signs.
pub const ORIGIN: &str = "gavel-decision-log/v1";

/// A signed statement: the log had `size` records and head `head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`ORIGIN`].
    pub origin: String,
    /// Number of records covered (the last sequence number).
    pub size: u64,
    /// The chain hash of record `size`, hex.
    pub head: String,
    /// When it was signed, UTC milliseconds.
    pub time_ms: i64,
    /// The signer's public key, hex.
    pub key: String,
    /// Ed25519 signature over [`Checkpoint::signed_text`], hex.
    pub signature: String,
}

impl Checkpoint {
    /// Sign a checkpoint.
    pub fn sign(key: &SigningKey, size: u64, head: &ChainHash, time_ms: i64) -> Self {
        let mut checkpoint = Checkpoint {
            origin: ORIGIN.to_owned(),
            size,
            head: hex::encode(head),
            time_ms,
            key: hex::encode(key.verifying_key().as_bytes()),
            signature: String::new(),
        };
        checkpoint.signature =
            hex::encode(key.sign(checkpoint.signed_text().as_bytes()).to_bytes());
        checkpoint
    }

    /// The text the signature covers: origin, size, head and time, one per line.
    pub fn signed_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n",
            self.origin, self.size, self.head, self.time_ms
        )
    }

    /// Check the signature against `trusted` (never against the key the
    /// checkpoint names about itself, which a forger would simply replace).
    pub fn verify(&self, trusted: &VerifyingKey) -> Result<(), String> {
        if self.origin != ORIGIN {
            return Err(format!("origin is {:?}, not {ORIGIN:?}", self.origin));
        }
        let bytes: [u8; 64] = hex::decode(&self.signature)
            .map_err(|e| format!("signature is not hex: {e}"))?
            .try_into()
            .map_err(|_| "signature is not 64 bytes".to_owned())?;
        trusted
            .verify(
                self.signed_text().as_bytes(),
                &Signature::from_bytes(&bytes),
            )
            .map_err(|_| "signature does not verify with the log's public key".to_owned())
    }

    /// The head as bytes.
    pub fn head_bytes(&self) -> Result<ChainHash, String> {
        hex::decode(&self.head)
            .map_err(|e| format!("head is not hex: {e}"))?
            .try_into()
            .map_err(|_| "head is not 32 bytes".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_detects_every_altered_field() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let trusted = key.verifying_key();
        let c = Checkpoint::sign(&key, 42, &[9u8; 32], 1_000);
        c.verify(&trusted).unwrap();
        let mut alterations: Vec<Checkpoint> = Vec::new();
        let mut a = c.clone();
        a.size = 41;
        alterations.push(a);
        let mut a = c.clone();
        a.head = hex::encode([8u8; 32]);
        alterations.push(a);
        let mut a = c.clone();
        a.time_ms = 1_001;
        alterations.push(a);
        let mut a = c.clone();
        a.signature.replace_range(
            0..2,
            if &c.signature[0..2] == "00" {
                "01"
            } else {
                "00"
            },
        );
        alterations.push(a);
        // Re-signed by another key, naming itself: still refused.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        alterations.push(Checkpoint::sign(&other, 42, &[9u8; 32], 1_000));
        for forged in alterations {
            assert!(forged.verify(&trusted).is_err(), "{forged:?}");
        }
    }
}
