//! labdeck: an interactive console for network test labs.

pub mod mapper;
