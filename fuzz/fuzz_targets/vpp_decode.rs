//! Fuzz target: arbitrary bytes through the VPP frame decoder (split at a fuzzer-chosen
//! point), then every frame through `peek_msg_id` and the decoder of the message the first
//! input byte picks (real definitions from tests/data/vpp-api/core). Must never panic, and
//! never return a frame longer than the decoder's limit.
#![no_main]

use std::sync::{Arc, OnceLock};

use labdeck::vpp::{ApiDefinitions, FrameDecoder, MessageDef, peek_msg_id};
use libfuzzer_sys::fuzz_target;

const MAX_FRAME: usize = 64 * 1024;

fn messages() -> &'static Vec<Arc<MessageDef>> {
    static MESSAGES: OnceLock<Vec<Arc<MessageDef>>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/vpp-api/core");
        let defs = ApiDefinitions::load_dir(std::path::Path::new(dir)).expect("definitions");
        let mut all: Vec<Arc<MessageDef>> = defs.messages().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let all = messages();
    // Any message decodes the raw input.
    let def = &all[usize::from(pick) % all.len()];
    if let Ok((_, used)) = def.decode_prefix(rest) {
        assert!(used <= rest.len());
    }
    // The frame decoder, fed in two pieces.
    let split = usize::from(pick) % (rest.len() + 1);
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    decoder.push(&rest[..split]);
    decoder.push(&rest[split..]);
    while let Ok(Some(frame)) = decoder.next_frame() {
        assert!(frame.len() <= MAX_FRAME);
        let _ = peek_msg_id(&frame);
        let _ = def.decode(&frame);
    }
});
