//! The hash chain: `h_n = SHA-256(tag ‖ h_{n-1} ‖ n ‖ SHA-256(record))`,
//! with `h_0` all zeros and `n` as 8 big-endian bytes.

use sha2::{Digest, Sha256};

/// Domain separation for chain hashes.
pub const CHAIN_TAG: &[u8] = b"gavel-decision-log/v1/chain\0";

/// A 32-byte chain hash.
pub type ChainHash = [u8; 32];

/// The hash before the first record.
pub const GENESIS: ChainHash = [0u8; 32];

/// The chain hash of record `seq` with canonical bytes `record`, following
/// `previous`.
pub fn next(previous: &ChainHash, seq: u64, record: &[u8]) -> ChainHash {
    let record_hash = Sha256::digest(record);
    let mut h = Sha256::new();
    h.update(CHAIN_TAG);
    h.update(previous);
    h.update(seq.to_be_bytes());
    h.update(record_hash);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_changes_the_hash() {
        let base = next(&GENESIS, 1, b"record");
        assert_ne!(base, next(&[1u8; 32], 1, b"record"));
        assert_ne!(base, next(&GENESIS, 2, b"record"));
        assert_ne!(base, next(&GENESIS, 1, b"recorD"));
        assert_eq!(base, next(&GENESIS, 1, b"record"));
    }
}
