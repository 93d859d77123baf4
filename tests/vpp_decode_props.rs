//! Property tests (the in-suite counterpart of `fuzz/`): random and hostile bytes through the
//! VPP frame decoder, every message decoder and the definitions-listing parser never panic,
//! and lengths read from the bytes are bounded (a claimed 4 G-element array is an error, not
//! an allocation).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use labdeck::vpp::remote::parse_listing;
use labdeck::vpp::{ApiDefinitions, FrameDecoder, MessageDef, encode_frame, peek_msg_id};
use proptest::prelude::*;

const MAX_FRAME: usize = 64 * 1024;

fn messages() -> &'static Vec<Arc<MessageDef>> {
    static MESSAGES: OnceLock<Vec<Arc<MessageDef>>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vpp-api/core");
        let defs = ApiDefinitions::load_dir(&dir).unwrap();
        let mut all: Vec<Arc<MessageDef>> = defs.messages().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_message_decoder_survives_random_bytes(
        pick in any::<usize>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let all = messages();
        let def = &all[pick % all.len()];
        if let Ok((_, used)) = def.decode_prefix(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    #[test]
    fn huge_length_fields_are_errors_not_allocations(
        pick in any::<usize>(),
        fill in any::<u8>(),
        len in 256usize..2048,
    ) {
        // every byte 0xff-ish: every u32 length claims billions of elements
        let all = messages();
        let def = &all[pick % all.len()];
        let bytes = vec![fill | 0xf0; len];
        if let Ok((_, used)) = def.decode_prefix(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    #[test]
    fn frame_decoder_survives_random_chunks(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
    ) {
        let mut decoder = FrameDecoder::new(MAX_FRAME);
        let mut total = 0;
        for chunk in &chunks {
            total += chunk.len();
            decoder.push(chunk);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        prop_assert!(frame.len() <= MAX_FRAME);
                        let _ = peek_msg_id(&frame);
                    }
                    Ok(None) => break,
                    Err(_) => break,
                }
            }
            prop_assert!(decoder.buffered_len() <= total);
        }
    }

    #[test]
    fn frames_split_anywhere_reassemble(
        bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..8),
        split in any::<usize>(),
    ) {
        let mut wire = Vec::new();
        for body in &bodies {
            wire.extend_from_slice(&encode_frame(body).unwrap());
        }
        let split = split % (wire.len() + 1);
        let mut decoder = FrameDecoder::new(MAX_FRAME);
        decoder.push(&wire[..split]);
        let mut got = Vec::new();
        while let Ok(Some(frame)) = decoder.next_frame() {
            got.push(frame);
        }
        decoder.push(&wire[split..]);
        while let Ok(Some(frame)) = decoder.next_frame() {
            got.push(frame);
        }
        prop_assert_eq!(got, bodies);
    }

    #[test]
    fn listing_parser_survives_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(files) = parse_listing(&bytes) {
            let content: usize = files.iter().map(|f| f.contents.len()).sum();
            prop_assert!(content <= bytes.len());
        }
    }
}

#[test]
fn an_oversized_frame_header_is_rejected_before_its_body_arrives() {
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    decoder.push(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert!(decoder.next_frame().is_err());
}
