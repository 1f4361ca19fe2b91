//! Simulated Polymarket Gamma, CLOB V2 REST and WebSocket.
