//! Sealed snapshots of the example `checkout` service, as an agent or
//! central would deliver them.

use std::collections::BTreeMap;

use setpoint_core::{ServiceDoc, ServiceSnapshot, Snapshot};

/// The example service as prod sees it.
pub fn checkout() -> ServiceSnapshot {
    let doc: ServiceDoc =
        serde_json::from_str(include_str!("../../../../examples/checkout.json")).expect("example");
    doc.snapshot("prod", &BTreeMap::new(), None)
}

/// `service` sealed as `name` in prod at `revision`.
pub fn sealed_as(name: &str, service: ServiceSnapshot, revision: u64) -> Vec<u8> {
    Snapshot {
        environment: "prod".into(),
        revision,
        services: BTreeMap::from([(name.to_owned(), service)]),
    }
    .seal()
    .json
}

/// `service` sealed as checkout in prod at `revision`.
pub fn sealed(service: ServiceSnapshot, revision: u64) -> Vec<u8> {
    sealed_as("checkout", service, revision)
}
