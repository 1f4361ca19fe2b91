//! What the simulated venue verifies: L1 ClobAuth signatures, the L2 HMAC,
//! and V2 order signatures (recovering the signer). Written independently of
//! the connector so a shared mistake cannot pass both sides.

use alloy::primitives::{Address, B256, Signature, U256};
use alloy::sol_types::{Eip712Domain, SolStruct};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub mod typed {
    alloy::sol! {
        #[derive(Debug)]
        struct Order {
            uint256 salt;
            address maker;
            address signer;
            uint256 tokenId;
            uint256 makerAmount;
            uint256 takerAmount;
            uint8 side;
            uint8 signatureType;
            uint256 timestamp;
            bytes32 metadata;
            bytes32 builder;
        }

        struct ClobAuth {
            address address;
            string timestamp;
            uint256 nonce;
            string message;
        }
    }
}

pub const CLOB_AUTH_MESSAGE: &str = "This message attests that I control the given wallet";

fn domain(name: &str, version: &str, chain_id: u64, contract: Option<Address>) -> Eip712Domain {
    Eip712Domain::new(
        Some(name.to_string().into()),
        Some(version.to_string().into()),
        Some(U256::from(chain_id)),
        contract,
        None,
    )
}

/// Recover who signed `digest` with a 65-byte `0x` hex signature (v = 27/28 or 0/1).
pub fn recover(digest: &B256, sig_hex: &str) -> Result<Address, String> {
    let bytes = hex::decode(sig_hex.trim_start_matches("0x")).map_err(|_| "signature is not hex".to_string())?;
    if bytes.len() != 65 {
        return Err(format!("signature has {} bytes, expected 65", bytes.len()));
    }
    let sig = Signature::from_raw(&bytes).map_err(|e| format!("bad signature: {e}"))?;
    sig.recover_address_from_prehash(digest).map_err(|e| format!("unrecoverable signature: {e}"))
}

/// Check the L1 headers; returns the proven address.
pub fn verify_l1(
    chain_id: u64,
    address: &str,
    signature: &str,
    timestamp: &str,
    nonce: &str,
) -> Result<(Address, u64), String> {
    let addr: Address = address.parse().map_err(|_| "POLY_ADDRESS is not an address".to_string())?;
    let nonce: u64 = nonce.parse().map_err(|_| "POLY_NONCE is not an integer".to_string())?;
    let msg = typed::ClobAuth {
        address: addr,
        timestamp: timestamp.to_string(),
        nonce: U256::from(nonce),
        message: CLOB_AUTH_MESSAGE.to_string(),
    };
    let digest = msg.eip712_signing_hash(&domain("ClobAuthDomain", "1", chain_id, None));
    let signer = recover(&digest, signature)?;
    if signer != addr {
        return Err("L1 signature does not match POLY_ADDRESS".into());
    }
    Ok((addr, nonce))
}

/// `base64url(HMAC-SHA256(secret, ts + method + path + body))`, checked in constant time.
pub fn verify_hmac(secret_b64: &str, timestamp: &str, method: &str, path: &str, body: &[u8], sig_b64: &str) -> bool {
    let b64 = base64::engine::general_purpose::URL_SAFE;
    let Ok(key) = b64.decode(secret_b64) else { return false };
    let Ok(given) = b64.decode(sig_b64) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else { return false };
    mac.update(timestamp.as_bytes());
    mac.update(method.as_bytes());
    mac.update(path.as_bytes());
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The fields of a V2 order body, parsed.
#[derive(Clone, Debug)]
pub struct ParsedOrder {
    pub order: typed::Order,
    pub signature: String,
    pub side: crate::polymarket::state::TokenSide,
    pub expiration: u64,
    pub token_id: String,
}

/// Parse the `order` object; a V1-shaped order (taker, nonce, feeRateBps, no
/// timestamp/metadata/builder) is refused as a version mismatch.
pub fn parse_order(v: &serde_json::Value) -> Result<ParsedOrder, String> {
    let o = v.as_object().ok_or("order must be an object")?;
    if ["taker", "nonce", "feeRateBps"].iter().any(|k| o.contains_key(*k))
        || !["timestamp", "metadata", "builder"].iter().all(|k| o.contains_key(*k))
    {
        return Err("order_version_mismatch".into());
    }
    let s = |k: &str| -> Result<String, String> {
        match o.get(k) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            _ => Err(format!("order.{k} missing")),
        }
    };
    let uint = |k: &str| -> Result<U256, String> {
        let t = s(k)?;
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("order.{k} is not an unsigned integer"));
        }
        U256::from_str_radix(&t, 10).map_err(|_| format!("order.{k} out of range"))
    };
    let addr =
        |k: &str| -> Result<Address, String> { s(k)?.parse().map_err(|_| format!("order.{k} is not an address")) };
    let b32 = |k: &str| -> Result<B256, String> { s(k)?.parse().map_err(|_| format!("order.{k} is not bytes32")) };
    let side = match s("side")?.as_str() {
        "BUY" => crate::polymarket::state::TokenSide::Buy,
        "SELL" => crate::polymarket::state::TokenSide::Sell,
        other => return Err(format!("order.side {other:?}")),
    };
    let salt = uint("salt")?;
    if salt > U256::from((1u64 << 53) - 1) {
        return Err("order.salt exceeds 2^53 - 1".into());
    }
    let sig_type: u8 = s("signatureType")?.parse().map_err(|_| "order.signatureType".to_string())?;
    let expiration: u64 =
        s("expiration").unwrap_or_else(|_| "0".into()).parse().map_err(|_| "order.expiration".to_string())?;
    let token_id = s("tokenId")?;
    let order = typed::Order {
        salt,
        maker: addr("maker")?,
        signer: addr("signer")?,
        tokenId: uint("tokenId")?,
        makerAmount: uint("makerAmount")?,
        takerAmount: uint("takerAmount")?,
        side: side.code(),
        signatureType: sig_type,
        timestamp: uint("timestamp")?,
        metadata: b32("metadata")?,
        builder: b32("builder")?,
    };
    Ok(ParsedOrder { order, signature: s("signature")?, side, expiration, token_id })
}

/// Verify an order's signature under the exchange domain; returns the signer.
pub fn verify_order(p: &ParsedOrder, chain_id: u64, version: u32, exchange: Address) -> Result<Address, String> {
    let digest = order_hash(&p.order, chain_id, version, exchange);
    let signer = recover(&digest, &p.signature)?;
    if signer != p.order.signer {
        return Err("invalid order signature".into());
    }
    Ok(signer)
}

pub fn order_hash(o: &typed::Order, chain_id: u64, version: u32, exchange: Address) -> B256 {
    o.eip712_signing_hash(&domain("Polymarket CTF Exchange", &version.to_string(), chain_id, Some(exchange)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_official_vector_and_rejects_changes() {
        let secret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let body = b"{\"hash\": \"0x123\"}";
        let sig = "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc=";
        assert!(verify_hmac(secret, "1000000", "test-sign", "/orders", body, sig));
        assert!(!verify_hmac(secret, "1000001", "test-sign", "/orders", body, sig));
        assert!(!verify_hmac(secret, "1000000", "test-sign", "/orders", b"{\"hash\":\"0x123\"}", sig));
        assert!(!verify_hmac("not base64", "1000000", "test-sign", "/orders", body, sig));
    }

    #[test]
    fn v1_shaped_orders_are_a_version_mismatch() {
        let v1 = serde_json::json!({"salt": 1, "maker": "0x0", "taker": "0x0", "nonce": "0", "feeRateBps": "0"});
        assert_eq!(parse_order(&v1).unwrap_err(), "order_version_mismatch");
        assert!(parse_order(&serde_json::json!([])).is_err());
    }
}
