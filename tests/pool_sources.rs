//! LNST agent-machine XML directories and CSIT topology YAML load to the same pool as the
//! equivalent labdeck TOML (source-specific extras, like CSIT's node type and port keys,
//! are the only differences, and are checked too).

use labdeck::pool::{Pool, PoolError};
use std::path::PathBuf;

fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pools")
        .join(p)
}

#[test]
fn lnst_directory_equals_the_toml_pool() {
    let lnst = Pool::load(&data("lnst")).expect("lnst loads");
    let toml = Pool::load(&data("equivalent.toml")).expect("toml loads");
    assert_eq!(lnst.machines, toml.machines);
}

#[test]
fn csit_topology_equals_the_toml_pool_plus_its_extras() {
    let csit = Pool::load(&data("csit.yaml")).expect("csit loads");
    let mut toml = Pool::load(&data("equivalent.toml")).expect("toml loads");
    // CSIT adds the node type, and keeps each interface's port key.
    for (m, kind) in toml.machines.iter_mut().zip(["TG", "DUT"]) {
        m.properties.insert("type".into(), kind.into());
        for iface in &mut m.interfaces {
            let key = match iface.name.as_str() {
                "eth1" => "nic1",
                other => other,
            };
            iface.properties.insert("port".into(), key.into());
        }
    }
    assert_eq!(csit.machines, toml.machines);
}

#[test]
fn broken_sources_give_located_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.xml"),
        "<agentmachine>\n  <params>\n    <param name=\"arch\"/>\n",
    )
    .expect("write");
    let err = Pool::load(dir.path()).expect_err("broken xml");
    let PoolError::Config(e) = err else {
        panic!("config error, got {err:?}")
    };
    assert_eq!(
        e.to_string(),
        "bad.xml:3:5: a <param> needs `name` and `value` attributes"
            .replace("bad.xml", &dir.path().join("bad.xml").display().to_string())
    );

    std::fs::write(
        dir.path().join("bad.xml"),
        "<agentmachine><params/></agentmachine>",
    )
    .expect("write");
    let err = Pool::load(dir.path()).expect_err("no hostname");
    assert!(
        err.to_string()
            .contains("machine `bad` has no `hostname` param"),
        "{err}"
    );

    let yaml = dir.path().join("t.yaml");
    std::fs::write(
        &yaml,
        "nodes:\n  tg:\n    host: 10.0.0.1\n    password: hunter2\n",
    )
    .expect("write");
    let err = Pool::load(&yaml).expect_err("password refused");
    assert!(
        err.to_string()
            .contains("node `tg` has a plaintext password"),
        "{err}"
    );
    assert!(
        !format!("{err:?}").contains("hunter2"),
        "the password leaked: {err:?}"
    );

    std::fs::write(&yaml, "nodes:\n  tg:\n    port: 22\n").expect("write");
    let err = Pool::load(&yaml).expect_err("no host");
    assert!(
        err.to_string().starts_with(&format!("{}:", yaml.display())),
        "{err}"
    );
}

#[test]
fn csit_inline_keys_go_to_a_private_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = dir.path().join("t.yaml");
    std::fs::write(
        &yaml,
        "nodes:\n  DUT1:\n    host: 10.0.0.2\n    priv_key: |\n      -----BEGIN OPENSSH PRIVATE KEY-----\n      abc\n      -----END OPENSSH PRIVATE KEY-----\n",
    )
    .expect("write");
    let keys = dir.path().join("keys");
    let pool = labdeck::pool::sources::load_csit(&yaml, &keys).expect("loads");
    let labdeck::pool::TransportSpec::Ssh(ssh) = &pool.machines[0].transport else {
        panic!("ssh")
    };
    let key = ssh.identity.clone().expect("identity");
    assert!(key.starts_with(&keys));
    assert!(
        std::fs::read_to_string(&key)
            .expect("key")
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777,
        0o600
    );
}
