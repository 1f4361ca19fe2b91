//! Published vectors: V2 order signing, L1 ClobAuth, L2 HMAC, and the
//! maker/taker amounts of every tick size.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use alloy::primitives::{Address, B256, U256, address};
use alloy::sol_types::SolStruct;

use arbytron_integration::Secret;
use arbytron_polymarket::amounts::{Amounts, OrderSide, TickSize, limit_amounts};
use arbytron_polymarket::signing::{
    EXCHANGE_V2, Exchanges, Order, OrderArgs, OrderSigner, POLYGON, SignatureType, exchange_domain, hmac_signature,
};
use arbytron_sdk::{Price, Qty};

/// The well-known Anvil test key used by Polymarket's own client tests.
const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ANVIL_ADDR: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

fn signer(chain: u64) -> OrderSigner {
    OrderSigner::new(&Secret::new(ANVIL_KEY), SignatureType::Eoa, None, chain, Exchanges::default()).unwrap()
}

#[test]
fn v2_zero_order_vector_byte_for_byte() {
    // Polymarket/rs-clob-client-v2 tests/clob.rs: SignableOrder::default() on
    // Polygon against CTF Exchange V2.
    let order = Order {
        salt: U256::ZERO,
        maker: Address::ZERO,
        signer: Address::ZERO,
        tokenId: U256::ZERO,
        makerAmount: U256::ZERO,
        takerAmount: U256::ZERO,
        side: 0,
        signatureType: 0,
        timestamp: U256::ZERO,
        metadata: B256::ZERO,
        builder: B256::ZERO,
    };
    let domain = exchange_domain(POLYGON, 2, EXCHANGE_V2);
    let hash = order.eip712_signing_hash(&domain);
    assert_eq!(format!("{hash:#x}"), "0xd07306d5c36c7023456b3218dafb72d322ca92d67353d6e10be3be3c991ca2e5");
    let sig = signer(POLYGON).sign_hash(&hash).unwrap();
    assert_eq!(
        format!("0x{}", hex::encode(sig)),
        "0x8a6edfe94a2169c3d05673521b53b7aee2205288f1363f1c9e24716317eebe6a17ca4bc397b85a5f39be21f32d0d8b38e0fd6de6af091dc0f4ba1f667d1883981c"
    );
    // The type hash of the V2 struct.
    assert_eq!(
        format!("{:#x}", order.eip712_type_hash()),
        "0xbb86318a2138f5fa8ae32fbe8e659f8fcf13cc6ae4014a707893055433818589"
    );
}

#[test]
fn a_real_order_signs_recoverably_under_the_right_domain() {
    let s = signer(POLYGON);
    let args = OrderArgs {
        token_id: U256::from(1234u64),
        side: OrderSide::Buy,
        amounts: Amounts { maker: 11_782_400, taker: 21_040_000 },
        salt: 479_249_096_354,
        timestamp_ms: 1_777_000_000_000,
        metadata: B256::ZERO,
        builder: B256::ZERO,
        expiration: 0,
    };
    let signed = s.sign_order(&args, 2, false).unwrap();
    let sig = alloy::primitives::Signature::from_raw(&signed.signature).unwrap();
    assert_eq!(sig.recover_address_from_prehash(&signed.hash).unwrap(), ANVIL_ADDR);
    assert_eq!(signed.order.maker, ANVIL_ADDR);
    // Neg-risk and version 3 are different domains, so different digests.
    let neg = s.sign_order(&args, 2, true).unwrap();
    let v3 = s.sign_order(&args, 3, false).unwrap();
    assert_ne!(neg.hash, signed.hash);
    assert_ne!(v3.hash, signed.hash);
    let body = signed.to_json();
    assert_eq!(body["salt"], serde_json::json!(479_249_096_354u64));
    assert_eq!(body["side"], "BUY");
    assert_eq!(body["makerAmount"], "11782400");
    assert_eq!(body["signatureType"], 0);
    assert_eq!(body["timestamp"], "1777000000000");
    assert!(body.get("nonce").is_none() && body.get("feeRateBps").is_none() && body.get("taker").is_none());
}

#[test]
fn safe_accounts_sign_with_the_eoa_for_the_safe() {
    let safe = address!("d93b25Cb943D14d0d34FBAf01fc93a0F8b5f6e47");
    let s =
        OrderSigner::new(&Secret::new(ANVIL_KEY), SignatureType::GnosisSafe, Some(safe), POLYGON, Exchanges::default())
            .unwrap();
    let args = OrderArgs {
        token_id: U256::from(7u64),
        side: OrderSide::Sell,
        amounts: Amounts { maker: 5_000_000, taker: 2_500_000 },
        salt: 1,
        timestamp_ms: 1,
        metadata: B256::ZERO,
        builder: B256::ZERO,
        expiration: 0,
    };
    let signed = s.sign_order(&args, 2, false).unwrap();
    assert_eq!(signed.order.maker, safe);
    assert_eq!(signed.order.signer, ANVIL_ADDR);
    assert_eq!(signed.order.signatureType, 2);
    assert!(
        OrderSigner::new(&Secret::new(ANVIL_KEY), SignatureType::GnosisSafe, None, POLYGON, Exchanges::default())
            .is_err()
    );
}

#[test]
fn l1_clob_auth_vector() {
    // clob-client-v2 tests/signing/eip712.test.ts (Amoy, ts 10000000, nonce 23).
    let headers = signer(80002).l1_headers(10_000_000, 23).unwrap();
    let get = |k: &str| headers.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("POLY_ADDRESS"), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    assert_eq!(
        get("POLY_SIGNATURE"),
        "0xf62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1682518e0af677d5260366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"
    );
    assert_eq!(get("POLY_TIMESTAMP"), "10000000");
    assert_eq!(get("POLY_NONCE"), "23");
}

#[test]
fn l2_hmac_vector() {
    // clob-client-v2 tests/signing/hmac.test.ts.
    let secret = Secret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let sig = hmac_signature(&secret, 1_000_000, "test-sign", "/orders", Some("{\"hash\": \"0x123\"}")).unwrap();
    assert_eq!(sig, "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc=");
    // The body is signed as sent: compact JSON is a different message.
    let compact = hmac_signature(&secret, 1_000_000, "test-sign", "/orders", Some("{\"hash\":\"0x123\"}")).unwrap();
    assert_ne!(compact, sig);
    assert!(hmac_signature(&Secret::new("not base64!"), 1, "GET", "/", None).is_err());
}

fn amounts(side: OrderSide, price: &str, size: &str, tick: TickSize) -> (u64, u64) {
    let a = limit_amounts(side, Price::parse(price).unwrap(), Qty::parse(size).unwrap(), tick).unwrap();
    (a.maker, a.taker)
}

#[test]
fn official_limit_amount_vectors_tick_0_01() {
    use OrderSide::*;
    let t = TickSize::Hundredth;
    // clob-client-v2 / py-clob-client-v2 / rs-clob-client order-builder tests.
    assert_eq!(amounts(Buy, "0.56", "21.04", t), (11_782_400, 21_040_000));
    assert_eq!(amounts(Sell, "0.56", "21.04", t), (21_040_000, 11_782_400));
    assert_eq!(amounts(Buy, "0.39", "2435.89", t), (949_997_100, 2_435_890_000));
    assert_eq!(amounts(Sell, "0.39", "2435.89", t), (2_435_890_000, 949_997_100));
    assert_eq!(amounts(Sell, "0.43", "19.1", t), (19_100_000, 8_213_000));
    assert_eq!(amounts(Buy, "0.78", "12.82", t), (9_999_600, 12_820_000));
    assert_eq!(amounts(Sell, "0.78", "12.82", t), (12_820_000, 9_999_600));
}

#[test]
fn limit_amounts_for_every_tick_size() {
    use OrderSide::*;
    // Official (report §4.3): SELL 2435.89 @ 0.039, tick 0.001.
    assert_eq!(amounts(Sell, "0.039", "2435.89", TickSize::Thousandth), (2_435_890_000, 94_999_710));
    // Derived by the documented rule (BUY maker = size x price, truncated to
    // tick decimals + 2; taker = size; SELL reversed), one per remaining tick.
    assert_eq!(amounts(Buy, "0.7", "13.57", TickSize::Tenth), (9_499_000, 13_570_000));
    assert_eq!(amounts(Buy, "0.565", "99.99", TickSize::FiveThousandth), (56_494_350, 99_990_000));
    assert_eq!(amounts(Sell, "0.4275", "10.01", TickSize::TwentyFiveTenThousandth), (10_010_000, 4_279_275));
    assert_eq!(amounts(Buy, "0.0001", "1234.56", TickSize::TenThousandth), (123_456, 1_234_560_000));
    assert_eq!(amounts(Sell, "0.9999", "0.01", TickSize::TenThousandth), (10_000, 9_999));
    // Every tick: the implied price is the order's price exactly.
    for t in TickSize::ALL {
        let price = Price::from_micros(t.micros() * 3).unwrap();
        for side in [Buy, Sell] {
            let a = limit_amounts(side, price, Qty::parse("12.34").unwrap(), t).unwrap();
            let implied = arbytron_polymarket::amounts::implied_price(side, a).unwrap();
            assert_eq!(implied, (price, Qty::parse("12.34").unwrap()), "{t} {side:?}");
        }
    }
}
