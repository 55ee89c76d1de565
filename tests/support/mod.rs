//! Helpers shared by the integration tests. Include with `mod support;`.
//! Each helper also works on its own via `#[path = "support/<file>.rs"] mod <name>;`.

pub mod feed_server;
