//! On-chain fixed-product market maker venue: pool reader and swap execution with alloy.
