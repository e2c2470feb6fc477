//! The one device-tree reader: a checked, owned view of a flattened device tree blob.
//!
//! [`Tree::parse`] checks the header and every offset, length, token and name of the
//! structure block once (Devicetree Specification v0.4, chapter 5) and never panics;
//! what it returns can then be walked and read without further checks. The config
//! schema, the platform description and guest DT generation all read through it.
//!
//! It is ours rather than the `fdt` crate's: `fdt` 0.1.5 indexes and `expect`s its way
//! through the blob and so panics on malformed input.

mod bus;
mod error;
mod parse;
#[cfg(test)]
pub(crate) mod tests;
mod tree;
mod value;

pub use bus::{translate, Level, Window};
pub use error::{BlobError, PropError, Quoted};
pub use parse::MAX_DEPTH;
pub use tree::{Children, Node, Nodes, Prop, Props, Tree};
pub use value::{cells, compatible_with, join, strings};
