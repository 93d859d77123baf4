//! The corpus of broken pool files: each `tests/corpus/pool/X.toml` must fail to load with
//! exactly the error in `X.expected` (see `corpus_common`).

mod corpus_common;
use labdeck::pool::{Pool, PoolError};

#[test]
fn every_broken_pool_gives_its_exact_error() {
    corpus_common::check_corpus("pool", |file, text| {
        Pool::parse(file, text).err().map(|e| match &e {
            PoolError::Config(c) => corpus_common::render_config(c),
            other => format!("{other}\n"),
        })
    });
}
