//! Everything Polymarket asks us to sign: V2 orders (EIP-712 under the
//! exchange's domain), the L1 `ClobAuth` message that creates or derives API
//! credentials, and the L2 HMAC every trading request carries.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use arbytron_integration::Secret;

use crate::amounts::{Amounts, OrderSide};

/// The EIP-712 structs, in their own module so the type names are exactly
/// `Order` and `ClobAuth` (the name is part of the type hash).
pub mod eip712 {
    alloy::sol! {
        /// CLOB V2 order: no taker, expiration, nonce or fee rate; a millisecond
        /// timestamp, metadata and a builder code instead. Field order is signed.
        #[derive(Debug, PartialEq, Eq)]
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

        /// L1 authentication: proves control of the wallet to the API-key endpoints.
        #[derive(Debug, PartialEq, Eq)]
        struct ClobAuth {
            address address;
            string timestamp;
            uint256 nonce;
            string message;
        }
    }
}

pub use eip712::{ClobAuth, Order};

/// The exact text the L1 message must carry.
pub const CLOB_AUTH_MESSAGE: &str = "This message attests that I control the given wallet";
pub const EXCHANGE_DOMAIN_NAME: &str = "Polymarket CTF Exchange";
pub const CLOB_AUTH_DOMAIN_NAME: &str = "ClobAuthDomain";

/// Polygon mainnet.
pub const POLYGON: u64 = 137;
/// CTF Exchange V2 (standard markets).
pub const EXCHANGE_V2: Address = alloy::primitives::address!("E111180000d2663C0091e4f400237545B87B996B");
/// NegRisk CTF Exchange V2.
pub const NEG_RISK_EXCHANGE_V2: Address = alloy::primitives::address!("e2222d279d744050d28e00520010520000310F59");
/// Exchange V3: one contract for every market, used only when `/version` says 3.
pub const EXCHANGE_V3: Address = alloy::primitives::address!("e3333700cA9d93003F00f0F71f8515005F6c00Aa");

/// The exchange contracts orders are signed for; configurable so a simulator
/// or a test chain can use its own.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Exchanges {
    pub standard: Address,
    pub neg_risk: Address,
    pub v3: Address,
}

impl Default for Exchanges {
    fn default() -> Exchanges {
        Exchanges { standard: EXCHANGE_V2, neg_risk: NEG_RISK_EXCHANGE_V2, v3: EXCHANGE_V3 }
    }
}

impl Exchanges {
    /// The verifying contract for a protocol version and market kind.
    pub fn verifying_contract(&self, version: u32, neg_risk: bool) -> Address {
        match (version, neg_risk) {
            (v, _) if v >= 3 => self.v3,
            (_, true) => self.neg_risk,
            (_, false) => self.standard,
        }
    }
}

/// The exchange's EIP-712 domain for a protocol version.
pub fn exchange_domain(chain_id: u64, version: u32, verifying_contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(EXCHANGE_DOMAIN_NAME.into()),
        Some(version.to_string().into()),
        Some(U256::from(chain_id)),
        Some(verifying_contract),
        None,
    )
}

/// The L1 domain: version "1", no verifying contract.
pub fn clob_auth_domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(Some(CLOB_AUTH_DOMAIN_NAME.into()), Some("1".into()), Some(U256::from(chain_id)), None, None)
}

/// Who signs and who holds the funds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureType {
    /// The signing key holds the funds.
    Eoa,
    /// Magic/email proxy wallet holds the funds; the EOA signs.
    PolyProxy,
    /// A Gnosis Safe holds the funds; the EOA (an owner) signs.
    GnosisSafe,
}

impl SignatureType {
    pub const fn code(self) -> u8 {
        match self {
            SignatureType::Eoa => 0,
            SignatureType::PolyProxy => 1,
            SignatureType::GnosisSafe => 2,
        }
    }

    pub const fn from_code(code: u8) -> Option<SignatureType> {
        match code {
            0 => Some(SignatureType::Eoa),
            1 => Some(SignatureType::PolyProxy),
            2 => Some(SignatureType::GnosisSafe),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("private key is not a valid secp256k1 key")]
    BadKey,
    #[error("a {0:?} account needs a funder (proxy or safe) address")]
    MissingFunder(SignatureType),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("API secret is not base64: the credentials are corrupt")]
    BadSecret,
    #[error("token id {0:?} is not a decimal uint256")]
    BadTokenId(String),
}

/// What goes into one order besides the key: the venue-facing fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderArgs {
    pub token_id: U256,
    pub side: OrderSide,
    pub amounts: Amounts,
    /// Uniqueness; at most 2^53 - 1 because the venue parses it as a JS number.
    pub salt: u64,
    /// Creation time, Unix milliseconds.
    pub timestamp_ms: u64,
    pub metadata: B256,
    pub builder: B256,
    /// Unix seconds, GTD only; travels in the body, not signed in V2.
    pub expiration: u64,
}

/// A signed order, ready to serialise into the `POST /order` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedOrder {
    pub order: Order,
    pub side: OrderSide,
    pub expiration: u64,
    pub signature: [u8; 65],
    /// The EIP-712 digest: the venue's order id.
    pub hash: B256,
}

impl SignedOrder {
    /// The order id the venue will report (`0x` + the digest).
    pub fn order_id(&self) -> String {
        format!("{:#x}", self.hash)
    }

    /// The `order` object of the request body, in the venue's field order and types.
    pub fn to_json(&self) -> serde_json::Value {
        let o = &self.order;
        serde_json::json!({
            // A JSON number: the venue reads it as a JS double (kept below 2^53).
            "salt": o.salt.to::<u64>(),
            "maker": o.maker.to_checksum(None),
            "signer": o.signer.to_checksum(None),
            "tokenId": o.tokenId.to_string(),
            "makerAmount": o.makerAmount.to_string(),
            "takerAmount": o.takerAmount.to_string(),
            "side": self.side.as_str(),
            "expiration": self.expiration.to_string(),
            "signatureType": o.signatureType,
            "timestamp": o.timestamp.to_string(),
            "metadata": format!("{:#x}", o.metadata),
            "builder": format!("{:#x}", o.builder),
            "signature": format!("0x{}", hex::encode(self.signature)),
        })
    }
}

/// Salts fit a JS number exactly.
pub const SALT_MASK: u64 = (1 << 53) - 1;

/// Parse a CLOB token id (a decimal uint256 string).
pub fn parse_token_id(s: &str) -> Result<U256, SigningError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigningError::BadTokenId(arbytron_telemetry::truncate(s, 40)));
    }
    U256::from_str_radix(s, 10).map_err(|_| SigningError::BadTokenId(arbytron_telemetry::truncate(s, 40)))
}

/// The wallet side of an account: the key, who funds orders, and how.
#[derive(Clone)]
pub struct OrderSigner {
    key: PrivateKeySigner,
    signature_type: SignatureType,
    funder: Address,
    chain_id: u64,
    exchanges: Exchanges,
}

impl std::fmt::Debug for OrderSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderSigner")
            .field("signer", &self.key.address())
            .field("funder", &self.funder)
            .field("signature_type", &self.signature_type)
            .field("chain_id", &self.chain_id)
            .finish()
    }
}

impl OrderSigner {
    /// `funder` is required for proxy and Safe accounts (it is the `maker`);
    /// for an EOA the signer is the maker and `funder` must be `None` or equal.
    pub fn new(
        private_key: &Secret,
        signature_type: SignatureType,
        funder: Option<Address>,
        chain_id: u64,
        exchanges: Exchanges,
    ) -> Result<OrderSigner, SigningError> {
        let hex_key = private_key.expose().trim().trim_start_matches("0x");
        let bytes = hex::decode(hex_key).map_err(|_| SigningError::BadKey)?;
        let key = B256::try_from(bytes.as_slice()).map_err(|_| SigningError::BadKey)?;
        let key = PrivateKeySigner::from_bytes(&key).map_err(|_| SigningError::BadKey)?;
        let funder = match (signature_type, funder) {
            (SignatureType::Eoa, _) => key.address(),
            (_, Some(f)) => f,
            (t, None) => return Err(SigningError::MissingFunder(t)),
        };
        Ok(OrderSigner { key, signature_type, funder, chain_id, exchanges })
    }

    /// The EOA that signs (the `POLY_ADDRESS` of every request).
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The address holding the funds: the order's `maker`.
    pub fn maker(&self) -> Address {
        self.funder
    }

    pub fn signature_type(&self) -> SignatureType {
        self.signature_type
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub fn exchanges(&self) -> Exchanges {
        self.exchanges
    }

    /// The unsigned V2 struct for `args`.
    pub fn order(&self, args: &OrderArgs) -> Order {
        Order {
            salt: U256::from(args.salt & SALT_MASK),
            maker: self.funder,
            signer: self.key.address(),
            tokenId: args.token_id,
            makerAmount: U256::from(args.amounts.maker),
            takerAmount: U256::from(args.amounts.taker),
            side: args.side.code(),
            signatureType: self.signature_type.code(),
            timestamp: U256::from(args.timestamp_ms),
            metadata: args.metadata,
            builder: args.builder,
        }
    }

    /// Sign `args` for the exchange of protocol `version` (from `/version`).
    pub fn sign_order(&self, args: &OrderArgs, version: u32, neg_risk: bool) -> Result<SignedOrder, SigningError> {
        let order = self.order(args);
        let domain = exchange_domain(self.chain_id, version, self.exchanges.verifying_contract(version, neg_risk));
        let hash = order.eip712_signing_hash(&domain);
        let signature = self.sign_hash(&hash)?;
        Ok(SignedOrder { order, side: args.side, expiration: args.expiration, signature, hash })
    }

    /// Sign any digest as `r || s || v` with v = 27/28.
    pub fn sign_hash(&self, hash: &B256) -> Result<[u8; 65], SigningError> {
        let sig = self.key.sign_hash_sync(hash).map_err(|e| SigningError::Sign(e.to_string()))?;
        Ok(sig.as_bytes())
    }

    /// L1 headers for `POST /auth/api-key` and `GET /auth/derive-api-key`.
    pub fn l1_headers(&self, timestamp: u64, nonce: u64) -> Result<Vec<(&'static str, String)>, SigningError> {
        let auth = ClobAuth {
            address: self.key.address(),
            timestamp: timestamp.to_string(),
            nonce: U256::from(nonce),
            message: CLOB_AUTH_MESSAGE.to_string(),
        };
        let hash = auth.eip712_signing_hash(&clob_auth_domain(self.chain_id));
        let sig = self.sign_hash(&hash)?;
        Ok(vec![
            ("POLY_ADDRESS", format!("0x{}", hex::encode(self.key.address()))),
            ("POLY_SIGNATURE", format!("0x{}", hex::encode(sig))),
            ("POLY_TIMESTAMP", timestamp.to_string()),
            ("POLY_NONCE", nonce.to_string()),
        ])
    }
}

/// API credentials from L1 auth. The secret and passphrase never print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCreds {
    pub api_key: String,
    pub secret: Secret,
    pub passphrase: Secret,
}

/// Decode the API secret: URL-safe base64 as issued, standard alphabet tolerated.
fn decode_secret(secret: &str) -> Result<Vec<u8>, SigningError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = secret.trim();
    URL_SAFE
        .decode(s)
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .map_err(|_| SigningError::BadSecret)
}

/// `base64url(HMAC-SHA256(base64url_decode(secret), timestamp + METHOD + path + body))`,
/// padding kept. `body` must be the exact bytes sent.
pub fn hmac_signature(
    secret: &Secret,
    timestamp: u64,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<String, SigningError> {
    let key = decode_secret(secret.expose())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SigningError::BadSecret)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(method.as_bytes());
    mac.update(path.as_bytes());
    if let Some(b) = body {
        mac.update(b.as_bytes());
    }
    Ok(base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes()))
}

/// L2 headers for one request. `path` has no query string.
pub fn l2_headers(
    address: Address,
    creds: &ApiCreds,
    timestamp: u64,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    let sig = hmac_signature(&creds.secret, timestamp, method, path, body)?;
    Ok(vec![
        ("POLY_ADDRESS", address.to_checksum(None)),
        ("POLY_SIGNATURE", sig),
        ("POLY_TIMESTAMP", timestamp.to_string()),
        ("POLY_API_KEY", creds.api_key.clone()),
        ("POLY_PASSPHRASE", creds.passphrase.expose().to_string()),
    ])
}
