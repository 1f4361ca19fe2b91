//! Simulated Kalshi Trade API v2 (REST + WebSocket).
