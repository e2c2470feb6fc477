//! The device-tree config: model, parser, platform description and validation.

mod error;
mod model;
mod parse;
mod platform;
mod validate;

pub use error::ConfigError;
pub use model::*;
pub use parse::parse;
pub use platform::{DeviceFilter, Platform, PlatformCpu, PlatformDevice};
pub use validate::check_images;
pub use validate::{validate, validate_owned};
