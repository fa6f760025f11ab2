//! The SASL exchange on a connection: SaslHandshake v1, then
//! SaslAuthenticate until the mechanism is done.
