//! The checked tree: nodes walked in order or found by path or phandle. Names and
//! values borrow the blob.
//!
//! [`Tree::parse`] reads the blob once into flat tables (nodes in blob order with their
//! parent and subtree end, every property, the phandle index), so walking, property
//! look-ups and phandle look-ups allocate nothing and never rescan the tree; a node's
//! full path is only made when asked for.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::parse::MAX_DEPTH;

/// One property: its name and raw (big-endian) value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prop<'a> {
    /// The property name, e.g. `reg`.
    pub name: &'a str,
    /// The raw value, as in the blob.
    pub value: &'a [u8],
}

/// A property as the parser records it: the name as its offset in the strings block,
/// which is only turned into text when asked for.
#[derive(Clone, Copy, Debug)]
pub(super) struct RawProp<'a> {
    pub(super) name: u32,
    pub(super) value: &'a [u8],
}

/// The strings block, which holds the property names.
#[derive(Clone, Copy, Debug)]
pub(super) struct Strings<'a> {
    bytes: &'a [u8],
    /// The whole block, when it is UTF-8 and ends with a NUL (what `dtc` writes): then
    /// every offset that is a character boundary before a non-NUL byte starts a name.
    text: Option<&'a str>,
}

impl<'a> Strings<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        let text = core::str::from_utf8(bytes).ok().filter(|_| bytes.last() == Some(&0));
        Self { bytes, text }
    }

    /// Whether a non-empty, NUL-terminated UTF-8 name starts at `offset`.
    pub(super) fn is_name(&self, offset: usize) -> bool {
        match self.text {
            Some(text) => {
                self.bytes.get(offset).is_some_and(|&b| b != 0) && text.is_char_boundary(offset)
            }
            None => !self.name(offset).is_empty(),
        }
    }

    /// The name at `offset` (empty unless [`Self::is_name`]).
    pub(super) fn name(&self, offset: usize) -> &'a str {
        let name = || {
            let rest = self.bytes.get(offset..)?;
            let len = rest.iter().position(|&b| b == 0)?;
            match self.text {
                Some(text) => text.get(offset..offset + len),
                None => core::str::from_utf8(rest.get(..len)?).ok(),
            }
        };
        name().unwrap_or_default()
    }

    /// Whether the name at `offset` is `name` (which holds no NUL).
    #[inline]
    pub(super) fn is(&self, offset: usize, name: &str) -> bool {
        // Cheap tests first: most names differ in length or first letter.
        let end = offset.saturating_add(name.len());
        self.bytes.get(end) == Some(&0)
            && self.bytes.get(offset) == name.as_bytes().first()
            && self.bytes.get(offset..end) == Some(name.as_bytes())
    }
}

/// What the parser records about one node; [`Node`] is a handle to it.
#[derive(Debug)]
pub(super) struct Entry<'a> {
    pub(super) name: &'a str,
    /// Index of the parent node (the root's is its own, 0).
    pub(super) parent: u32,
    /// `props[props.0..props.1]`.
    pub(super) props: (u32, u32),
    /// Index one past the node's last descendant: its subtree is `index..end`.
    pub(super) end: u32,
    /// Number of children.
    pub(super) children: u32,
    /// `phandle()` when it is `Ok`, found while parsing; `None` when it is an error.
    pub(super) phandle: Option<Option<u32>>,
}

/// A device tree whose structure has been checked by [`Tree::parse`].
#[derive(Debug)]
pub struct Tree<'a> {
    /// Every node in blob (pre-)order; the root is first.
    pub(super) nodes: Vec<Entry<'a>>,
    /// Every property, each node's together and in blob order.
    pub(super) props: Vec<RawProp<'a>>,
    /// `(phandle, node index)` of every node with a well-formed phandle, in blob order.
    pub(super) phandles: Vec<(u32, u32)>,
    /// The property names.
    pub(super) strings: Strings<'a>,
}

/// One node of a checked device tree: a cheap handle into its [`Tree`].
#[derive(Clone, Copy)]
pub struct Node<'t> {
    tree: &'t Tree<'t>,
    index: usize,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node").field("path", &self.path()).finish_non_exhaustive()
    }
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self.tree, other.tree) && self.index == other.index
    }
}

impl Eq for Node<'_> {}

impl<'t> Node<'t> {
    #[inline]
    fn entry(self) -> &'t Entry<'t> {
        &self.tree.nodes[self.index]
    }

    /// The node name with its unit address, e.g. `pl011@9000000` (empty for the root).
    pub fn name(self) -> &'t str {
        self.entry().name
    }

    /// The node name without its unit address, e.g. `pl011`.
    pub fn base_name(self) -> &'t str {
        let name = self.name();
        name.split('@').next().unwrap_or(name)
    }

    /// The unit address (after `@`), if the name has one.
    pub fn unit_address(self) -> Option<&'t str> {
        self.name().split_once('@').map(|(_, unit)| unit)
    }

    /// The full path, e.g. `/soc/serial@7e201000` (`/` for the root). Made on demand:
    /// the tree keeps only names.
    pub fn path(self) -> String {
        // The node and its ancestors below the root, innermost first.
        let mut chain = [0u32; MAX_DEPTH];
        let (mut n, mut index, mut len) = (0, self.index, 0);
        while index != 0 && n < MAX_DEPTH {
            let entry = &self.tree.nodes[index];
            chain[n] = index as u32;
            len += entry.name.len() + 1;
            (n, index) = (n + 1, entry.parent as usize);
        }
        let mut path = String::with_capacity(len.max(1));
        for &i in chain[..n].iter().rev() {
            path.push('/');
            path.push_str(self.tree.nodes[i as usize].name);
        }
        if path.is_empty() {
            path.push('/');
        }
        path
    }

    /// Whether [`Self::path`] is `path`, without making the path.
    pub fn has_path(self, path: &str) -> bool {
        if self.is_root() {
            return path == "/";
        }
        let mut rest = path;
        let mut node = self;
        while !node.is_root() {
            let up = rest.strip_suffix(node.name()).and_then(|r| r.strip_suffix('/'));
            let Some(up) = up.filter(|up| !up.is_empty() || node.entry().parent == 0) else {
                return false;
            };
            rest = up;
            node = Node { tree: node.tree, index: node.entry().parent as usize };
        }
        rest.is_empty()
    }

    /// Whether this is the root node.
    pub fn is_root(self) -> bool {
        self.index == 0
    }

    /// The properties, in blob order.
    pub fn props(self) -> Props<'t> {
        Props { strings: self.tree.strings, props: self.raw_props().iter() }
    }

    #[inline]
    fn raw_props(self) -> &'t [RawProp<'t>] {
        let (start, end) = self.entry().props;
        self.tree.props.get(start as usize..end as usize).unwrap_or_default()
    }

    /// The child nodes, in blob order.
    pub fn children(self) -> Children<'t> {
        let entry = self.entry();
        Children { tree: self.tree, next: self.index + 1, left: entry.children as usize }
    }

    /// The raw value of property `name` (the first, should it be given twice).
    pub fn prop(self, name: &str) -> Option<&'t [u8]> {
        let strings = &self.tree.strings;
        self.raw_props().iter().find(|p| strings.is(p.name as usize, name)).map(|p| p.value)
    }

    /// The raw values of properties `names` (the first of each), found in one pass.
    pub fn props_named<const N: usize>(self, names: [&str; N]) -> [Option<&'t [u8]>; N] {
        let strings = &self.tree.strings;
        let mut values = [None; N];
        for p in self.raw_props() {
            let found = names.iter().position(|name| strings.is(p.name as usize, name));
            if let Some(value) = found.and_then(|i| values.get_mut(i)).filter(|v| v.is_none()) {
                *value = Some(p.value);
            }
        }
        values
    }

    /// The first child called exactly `name`.
    pub fn child(self, name: &str) -> Option<Node<'t>> {
        self.children().find(|c| c.name() == name)
    }

    /// The child a path component names: exactly, or if `part` has no unit address,
    /// the first child whose name without unit address is `part`.
    fn lookup(self, part: &str) -> Option<Node<'t>> {
        let loose = || self.children().find(|c| !part.contains('@') && c.base_name() == part);
        self.child(part).or_else(loose)
    }

    /// The phandle recorded while parsing: `None` when reading it is an error.
    pub(super) fn parsed_phandle(self) -> Option<Option<u32>> {
        self.entry().phandle
    }
}

/// The properties of a [`Node`], from [`Node::props`].
#[derive(Clone, Debug)]
pub struct Props<'t> {
    strings: Strings<'t>,
    props: core::slice::Iter<'t, RawProp<'t>>,
}

impl<'t> Iterator for Props<'t> {
    type Item = Prop<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        let p = self.props.next()?;
        Some(Prop { name: self.strings.name(p.name as usize), value: p.value })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.props.size_hint()
    }
}

impl ExactSizeIterator for Props<'_> {}

/// The children of a [`Node`], from [`Node::children`].
#[derive(Clone, Debug)]
pub struct Children<'t> {
    tree: &'t Tree<'t>,
    next: usize,
    left: usize,
}

impl<'t> Iterator for Children<'t> {
    type Item = Node<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let node = Node { tree: self.tree, index: self.next };
        self.next = node.entry().end as usize;
        self.left -= 1;
        Some(node)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Children<'_> {}

impl<'a> Tree<'a> {
    fn node(&self, index: usize) -> Node<'_> {
        Node { tree: self, index }
    }

    /// The root node.
    pub fn root(&self) -> Node<'_> {
        self.node(0)
    }

    /// The node at absolute `path` (see [`Self::chain`] for how components match).
    pub fn find(&self, path: &str) -> Option<Node<'_>> {
        let rest = path.strip_prefix('/')?;
        rest.split('/').filter(|p| !p.is_empty()).try_fold(self.root(), |n, part| n.lookup(part))
    }

    /// The node at absolute `path` with its ancestors: the root first, the node last.
    /// A component without a unit address matches a node name without one first, then
    /// any `name@…`.
    pub fn chain(&self, path: &str) -> Option<Vec<Node<'_>>> {
        let rest = path.strip_prefix('/')?;
        let mut chain = Vec::from([self.root()]);
        for part in rest.split('/').filter(|p| !p.is_empty()) {
            let next = chain.last()?.lookup(part)?;
            chain.push(next);
        }
        Some(chain)
    }

    /// Every node, parents before children, in blob order.
    pub fn nodes(&self) -> Nodes<'_> {
        Nodes { tree: self, next: 0 }
    }

    /// The first node whose well-formed `phandle` (or `linux,phandle`) is `phandle`.
    pub fn by_phandle(&self, phandle: u32) -> Option<Node<'_>> {
        // A platform has a few dozen phandles and a boot looks up a handful: a scan of
        // the compact list beats sorting it (and the sort's code).
        let &(_, index) = self.phandles.iter().find(|&&(p, _)| p == phandle)?;
        Some(self.node(index as usize))
    }
}

/// Pre-order walk over a [`Tree`], from [`Tree::nodes`].
#[derive(Debug)]
pub struct Nodes<'t> {
    tree: &'t Tree<'t>,
    next: usize,
}

impl<'t> Iterator for Nodes<'t> {
    type Item = Node<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        (self.next < self.tree.nodes.len()).then(|| {
            self.next += 1;
            Node { tree: self.tree, index: self.next - 1 }
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.tree.nodes.len() - self.next;
        (left, Some(left))
    }
}
