//! The device-tree config: model, parser, platform description and validation.

mod error;
mod images;
mod model;
mod parse;
mod platform;
mod ports;
mod suggest;
mod target;
mod validate;

pub use error::ConfigError;
pub use model::*;
pub use parse::{parse, parse_all};
pub use platform::{DeviceFilter, Platform, PlatformCpu, PlatformDevice};
pub use target::{BootImages, Footprint, GuestView, Placement, PortWindow, Target, Window};
pub use images::{check_boot, check_images};
pub use validate::check_platform;
pub use validate::{validate, validate_all, validate_owned};
