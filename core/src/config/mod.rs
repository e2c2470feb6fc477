//! The device-tree config: model, parser, platform description and validation.

mod error;
mod model;
mod parse;
mod platform;
mod validate;

pub use error::ConfigError;
pub use model::*;
pub use parse::parse;
pub use platform::{Platform, PlatformCpu, PlatformDevice};
pub use validate::validate;
pub use validate::check_images;
