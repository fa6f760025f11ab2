//! The suite against librdkafka's mock cluster (`rdkafka::mocking`, the
//! broker librdkafka's own tests run against): three brokers in this
//! process, no external broker needed. The everyday paths, then faults the
//! single-node tansu cannot show: leaders that move, brokers that go down,
//! coordinators that move, and errors injected into commits and fetches.

mod mock_cluster {
    pub mod basics;
    pub mod cluster;
    pub mod cooperative;
    pub mod cooperative_sluice;
    pub mod faults;
    pub mod kip848;
    pub mod roll;
    pub mod transactions;
}
