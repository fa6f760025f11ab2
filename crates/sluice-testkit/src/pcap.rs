//! Packet-capture reading.
