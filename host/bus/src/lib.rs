//! Market-update buses: in-process, Redis Streams and Kafka, with MessagePack envelopes.
