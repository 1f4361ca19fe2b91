//! # arbytron-sdk
//!
//! Everything a strategy author needs, and the one copy of Arbytron's money
//! math: strategies use it inside WebAssembly, the host uses it natively to
//! re-check every opportunity before it trades.
//!
//! ```ignore
//! use arbytron_sdk::prelude::*;
//!
//! struct Mine;
//!
//! impl Strategy for Mine {
//!     const NAME: &'static str = "mine";
//!     const VERSION: &'static str = "0.1.0";
//!     const CAPABILITIES: Capabilities = Capabilities { score: true, ..Capabilities::NONE };
//!     fn init(_params: &Params) -> Result<Self, String> { Ok(Mine) }
//!     fn score(&mut self, c: &Candidate<'_>) -> Option<Opportunity> { None }
//! }
//!
//! arbytron_sdk::export_strategy!(Mine);
//! ```
//!
//! Money is exact: [`Price`], [`Qty`] and [`Money`] count millionths, and every
//! rounding names its direction.
//!
//! The money math, one module per job: [`fees`] (venue fee schedules),
//! [`grid`] (valid prices and sizes), [`book`] (walking order books), [`amm`]
//! (the fixed-product market maker, integer-exact as the contract), [`sizing`]
//! (how much of a bundle to buy, and where: [`sizing::best_opportunity`]),
//! [`exit`] (what selling a bundle back yields), [`matching`] (text helpers for
//! proposing links), [`wide`] (256-bit and arbitrary-size integers).

extern crate self as arbytron_sdk;

pub mod amm;
pub mod book;
pub mod exit;
pub mod fees;
pub mod grid;
pub mod matching;
pub mod money;
pub mod sizing;
pub mod state;
pub mod strategy;
pub mod types;
pub mod wide;
pub mod wire;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __guest;

pub use fees::FeeSchedule;
pub use money::{AmountError, Money, Price, Qty, Rounding};
pub use strategy::{Strategy, log, now};
pub use types::*;
pub use wire::{Candidate, Leg, Level, MarketView, PoolView, Source};

/// The version of the WIT package this SDK builds strategies against.
pub const WIT_VERSION: &str = "0.1.0";

/// Everything a strategy usually imports.
pub mod prelude {
    pub use crate::exit::ExitPolicy;
    pub use crate::fees::FeeSchedule;
    pub use crate::money::{Money, Price, Qty, Rounding};
    pub use crate::sizing::{Limits, best_opportunity};
    pub use crate::strategy::{Strategy, log, now};
    pub use crate::types::*;
    pub use crate::wire::{Candidate, Leg, Level, MarketView, PoolView, Source};
}

/// Export a [`Strategy`] implementation as the component's `strategy` world.
///
/// Expands to nothing on native targets, so the same crate builds for
/// `cargo test` and for `wasm32-wasip2`.
#[macro_export]
macro_rules! export_strategy {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)] // wit-bindgen's export glue
        const _: () = {
            use $crate::__guest as __g;
            use $crate::__guest::bindings as __b;
            use $crate::__guest::bindings::arbytron::strategy::types as __t;

            static __STATE: __g::GuestCell<$ty> = __g::GuestCell::new();

            struct __ArbytronStrategy;

            impl __b::Guest for __ArbytronStrategy {
                fn describe() -> __t::StrategyInfo {
                    __g::describe::<$ty>()
                }
                fn init(params: ::std::vec::Vec<__t::Param>) -> ::core::result::Result<(), ::std::string::String> {
                    __g::init::<$ty>(&__STATE, params)
                }
                fn match_markets(
                    listings: ::std::vec::Vec<__t::Listing>,
                ) -> ::core::result::Result<::std::vec::Vec<__t::Link>, ::std::string::String> {
                    __g::match_markets::<$ty>(&__STATE, listings)
                }
                fn score(candidate: __t::Candidate) -> ::core::option::Option<__t::Opportunity> {
                    __g::score::<$ty>(&__STATE, candidate)
                }
                fn decide_exit(position: __t::Position, view: __t::MarketView) -> __t::ExitDecision {
                    __g::decide_exit::<$ty>(&__STATE, position, view)
                }
                fn snapshot() -> ::std::vec::Vec<u8> {
                    __g::snapshot::<$ty>(&__STATE)
                }
                fn restore(state: ::std::vec::Vec<u8>) -> ::core::result::Result<(), ::std::string::String> {
                    __g::restore::<$ty>(&__STATE, state)
                }
            }

            $crate::__guest::bindings::__export_strategy_world!(__ArbytronStrategy with_types_in $crate::__guest::bindings);
        };
    };
}
