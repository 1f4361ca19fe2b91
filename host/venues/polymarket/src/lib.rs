//! Polymarket connector: Gamma metadata, CLOB V2 REST and WebSocket, EIP-712 order signing.
