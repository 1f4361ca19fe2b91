//! Kalshi Trade API v2 connector: REST, WebSocket order books, V2 order entry.
