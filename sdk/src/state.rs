//! A small versioned format for strategy state carried across hot reloads:
//! 4 magic bytes, a version byte, then little-endian `u64` words.
//!
//! Magic and version let a new module refuse a snapshot it does not
//! understand (it then starts fresh) instead of misreading it.

/// Encode `words` under `magic` and `version`.
pub fn encode_words(magic: &[u8; 4], version: u8, words: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + 8 * words.len());
    out.extend_from_slice(magic);
    out.push(version);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Decode exactly `N` words written by [`encode_words`] with the same magic and version.
pub fn decode_words<const N: usize>(state: &[u8], magic: &[u8; 4], version: u8) -> Result<[u64; N], String> {
    if state.len() < 5 || &state[..4] != magic {
        return Err(format!("not a {} snapshot", String::from_utf8_lossy(magic)));
    }
    if state[4] != version {
        return Err(format!("snapshot version {} is not {version}", state[4]));
    }
    let body = &state[5..];
    if body.len() != 8 * N {
        return Err(format!("snapshot body has {} bytes, expected {}", body.len(), 8 * N));
    }
    let mut words = [0u64; N];
    for (i, w) in words.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&body[i * 8..i * 8 + 8]);
        *w = u64::from_le_bytes(b);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_does_not_know() {
        let s = encode_words(b"TEST", 2, &[1, u64::MAX, 3]);
        assert_eq!(decode_words::<3>(&s, b"TEST", 2).unwrap(), [1, u64::MAX, 3]);
        assert!(decode_words::<3>(&s, b"OTHR", 2).unwrap_err().contains("not a OTHR snapshot"));
        assert!(decode_words::<3>(&s, b"TEST", 1).unwrap_err().contains("version 2 is not 1"));
        assert!(decode_words::<2>(&s, b"TEST", 2).unwrap_err().contains("expected 16"));
        assert!(decode_words::<0>(b"TE", b"TEST", 2).is_err());
    }
}
