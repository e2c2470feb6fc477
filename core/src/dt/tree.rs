//! The checked tree: nodes with their full paths, walked in order or found by path or
//! phandle. Names and values borrow the blob.

use alloc::string::String;
use alloc::vec::Vec;

/// One property: its name and raw (big-endian) value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prop<'a> {
    /// The property name, e.g. `reg`.
    pub name: &'a str,
    /// The raw value, as in the blob.
    pub value: &'a [u8],
}

/// One node of a checked device tree.
#[derive(Debug)]
pub struct Node<'a> {
    pub(super) name: &'a str,
    pub(super) path: String,
    pub(super) props: Vec<Prop<'a>>,
    pub(super) children: Vec<Node<'a>>,
}

/// A device tree whose structure has been checked by [`Tree::parse`].
#[derive(Debug)]
pub struct Tree<'a> {
    pub(super) root: Node<'a>,
}

impl<'a> Node<'a> {
    /// The node name with its unit address, e.g. `pl011@9000000` (empty for the root).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The node name without its unit address, e.g. `pl011`.
    pub fn base_name(&self) -> &'a str {
        self.name.split('@').next().unwrap_or(self.name)
    }

    /// The unit address (after `@`), if the name has one.
    pub fn unit_address(&self) -> Option<&'a str> {
        self.name.split_once('@').map(|(_, unit)| unit)
    }

    /// The full path, e.g. `/soc/serial@7e201000` (`/` for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The properties, in blob order.
    pub fn props(&self) -> &[Prop<'a>] {
        &self.props
    }

    /// The child nodes, in blob order.
    pub fn children(&self) -> &[Node<'a>] {
        &self.children
    }

    /// The raw value of property `name` (the first, should it be given twice).
    pub fn prop(&self, name: &str) -> Option<&'a [u8]> {
        self.props.iter().find(|p| p.name == name).map(|p| p.value)
    }

    /// The first child called exactly `name`.
    pub fn child(&self, name: &str) -> Option<&Node<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The child a path component names: exactly, or if `part` has no unit address,
    /// the first child whose name without unit address is `part`.
    fn lookup(&self, part: &str) -> Option<&Node<'a>> {
        let loose = || self.children.iter().find(|c| !part.contains('@') && c.base_name() == part);
        self.child(part).or_else(loose)
    }
}

impl<'a> Tree<'a> {
    /// The root node.
    pub fn root(&self) -> &Node<'a> {
        &self.root
    }

    /// The node at absolute `path` (see [`Self::chain`] for how components match).
    pub fn find(&self, path: &str) -> Option<&Node<'a>> {
        self.chain(path)?.pop()
    }

    /// The node at absolute `path` with its ancestors: the root first, the node last.
    /// A component without a unit address matches a node name without one first, then
    /// any `name@…`.
    pub fn chain(&self, path: &str) -> Option<Vec<&Node<'a>>> {
        let rest = path.strip_prefix('/')?;
        let mut chain = Vec::from([&self.root]);
        for part in rest.split('/').filter(|p| !p.is_empty()) {
            let next = chain.last()?.lookup(part)?;
            chain.push(next);
        }
        Some(chain)
    }

    /// Every node, parents before children, in blob order.
    pub fn nodes(&self) -> Nodes<'_, 'a> {
        Nodes { stack: Vec::from([&self.root]) }
    }

    /// The first node whose well-formed `phandle` (or `linux,phandle`) is `phandle`.
    pub fn by_phandle(&self, phandle: u32) -> Option<&Node<'a>> {
        self.nodes().find(|n| n.phandle() == Ok(Some(phandle)))
    }
}

/// Pre-order walk over a [`Tree`], from [`Tree::nodes`].
#[derive(Debug)]
pub struct Nodes<'t, 'a> {
    stack: Vec<&'t Node<'a>>,
}

impl<'t, 'a> Iterator for Nodes<'t, 'a> {
    type Item = &'t Node<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let node = self.stack.pop()?;
        self.stack.extend(node.children.iter().rev());
        Some(node)
    }
}
