//! Pure adapters to the mapper's inputs: a loaded [`Pool`] → [`PoolView`], a [`Recipe`] →
//! [`Requirements`].
//!
//! Invariants: no I/O and no connection (a pool of SSH machines is matched without reaching
//! them); machine and interface order is kept (it is the mapper's preference order); every
//! property, network label, driver and hardware address is carried over unchanged.

use super::Recipe;
use crate::mapper::{self, HostReq, InterfaceReq, PoolView, Requirements};
use crate::pool::Pool;

/// The mapper's view of a pool.
pub fn pool_view(pool: &Pool) -> PoolView {
    PoolView {
        machines: pool
            .machines
            .iter()
            .map(|m| mapper::Machine {
                name: m.name.clone(),
                properties: m.properties.clone(),
                interfaces: m
                    .interfaces
                    .iter()
                    .map(|i| mapper::Interface {
                        name: i.name.clone(),
                        network: i.network.clone(),
                        driver: i.driver.clone(),
                        hwaddr: i.hwaddr.clone(),
                        properties: i.properties.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The recipe's host and interface roles as mapper requirements.
pub fn requirements(recipe: &Recipe) -> Requirements {
    Requirements {
        hosts: recipe
            .hosts
            .iter()
            .map(|h| HostReq {
                role: h.name.clone(),
                properties: h.properties.clone(),
                interfaces: h
                    .interfaces
                    .iter()
                    .map(|i| InterfaceReq {
                        role: i.name.clone(),
                        network: i.network.clone(),
                        driver: i.driver.clone(),
                        properties: i.properties.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapper::{Matcher, PropertyReq};
    use std::path::Path;

    const RECIPE: &str = r#"
name = "r"
[hosts.dut]
properties = { arch = "x86_64", kernel = { regex = "6\\..*" }, virt = { not = "kvm" }, numa = { present = true }, old = { absent = true }, cores = 4 }
[hosts.dut.interfaces.eth0]
network = "net1"
driver = { regex = "ice|i40e" }
properties = { speed = "10000" }
[hosts.peer.interfaces.eth0]
network = "net1"
driver = "veth"
"#;

    #[test]
    fn recipe_roles_become_requirements() {
        let recipe = Recipe::parse(Path::new("r.toml"), RECIPE).expect("valid recipe");
        let req = requirements(&recipe);
        assert_eq!(req.hosts.len(), 2);
        let dut = &req.hosts[0];
        assert_eq!(dut.role, "dut");
        assert_eq!(
            dut.properties,
            // In file order.
            vec![
                PropertyReq::equals("arch", "x86_64"),
                PropertyReq::regex("kernel", "6\\..*"),
                PropertyReq::not("virt", Matcher::Equals("kvm".into())),
                PropertyReq::present("numa"),
                PropertyReq::absent("old"),
                PropertyReq::equals("cores", "4"),
            ]
        );
        assert_eq!(dut.interfaces[0].network, "net1");
        assert_eq!(
            dut.interfaces[0].driver,
            Some(Matcher::Regex("ice|i40e".into()))
        );
        assert_eq!(
            dut.interfaces[0].properties,
            vec![PropertyReq::equals("speed", "10000")]
        );
        assert_eq!(
            req.hosts[1].interfaces[0].driver,
            Some(Matcher::Equals("veth".into()))
        );
    }

    #[test]
    fn pool_machines_become_the_view_in_order() {
        let pool = Pool::parse(
            Path::new("/lab/pool.toml"),
            r#"
[machines.b]
address = "10.0.0.2"
properties = { arch = "x86_64" }
[[machines.b.interfaces]]
name = "eth1"
network = "A"
driver = "veth"
hwaddr = "02:00:00:00:00:01"
[machines.a]
transport = "local"
"#,
        )
        .expect("pool");
        let view = pool_view(&pool);
        let names: Vec<&str> = view.machines.iter().map(|m| m.name.as_str()).collect();
        // The pool keeps file order (the mapper treats it as preference order).
        assert_eq!(names, ["b", "a"]);
        assert_eq!(view.machines[0].properties["arch"], "x86_64");
        let eth1 = &view.machines[0].interfaces[0];
        assert_eq!(eth1.network.as_deref(), Some("A"));
        assert_eq!(eth1.driver.as_deref(), Some("veth"));
        assert_eq!(eth1.hwaddr.as_deref(), Some("02:00:00:00:00:01"));
    }
}
