//! Builders shared by the mapper integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use labdeck::mapper::{
    HostReq, Interface, InterfaceReq, Machine, Matcher, PoolView, PropertyReq, Requirements,
};

/// An interface `name` on `network` (None = unconnected) with `driver`.
pub fn iface(name: &str, network: Option<&str>, driver: Option<&str>) -> Interface {
    Interface {
        name: name.to_string(),
        network: network.map(str::to_string),
        driver: driver.map(str::to_string),
        hwaddr: None,
        properties: BTreeMap::new(),
    }
}

/// A machine with properties `props` and interfaces.
pub fn machine(name: &str, props: &[(&str, &str)], interfaces: Vec<Interface>) -> Machine {
    Machine {
        name: name.to_string(),
        properties: props
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
        interfaces,
    }
}

/// A machine whose interfaces `eth0`, `eth1`, … sit on `networks` with no driver.
pub fn simple_machine(name: &str, networks: &[&str]) -> Machine {
    machine(
        name,
        &[],
        networks
            .iter()
            .enumerate()
            .map(|(index, network)| iface(&format!("eth{index}"), Some(network), None))
            .collect(),
    )
}

pub fn pool(machines: Vec<Machine>) -> PoolView {
    PoolView { machines }
}

/// An interface requirement on `label`.
pub fn if_req(role: &str, label: &str) -> InterfaceReq {
    InterfaceReq {
        role: role.to_string(),
        network: label.to_string(),
        driver: None,
        properties: Vec::new(),
    }
}

/// An interface requirement on `label` with a driver matcher.
pub fn if_req_driver(role: &str, label: &str, driver: Matcher) -> InterfaceReq {
    InterfaceReq {
        driver: Some(driver),
        ..if_req(role, label)
    }
}

pub fn host(role: &str, properties: Vec<PropertyReq>, interfaces: Vec<InterfaceReq>) -> HostReq {
    HostReq {
        role: role.to_string(),
        properties,
        interfaces,
    }
}

pub fn recipe(hosts: Vec<HostReq>) -> Requirements {
    Requirements { hosts }
}
