//! The CLI's one error type: a message that already names the file, node or tool at fault.

use std::fmt;

/// A failure, printed by `main` (one line per independent error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// What went wrong, already with its context.
    Message(String),
    /// Stdout's reader went away (`| head`): the command ends without a word.
    BrokenPipe,
}

/// Result with the CLI's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with the message `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self::Message(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message(message) => f.write_str(message),
            Self::BrokenPipe => f.write_str("stdout was closed"),
        }
    }
}

/// Adds context to foreign errors: `what: cause`.
pub trait Context<T> {
    /// Turns the error into an [`Error`] reading `<what>: <cause>`.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::new(format!("{}: {e}", what())))
    }
}

/// Reads a whole file, naming it on failure.
pub fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).context(|| format!("cannot read {}", path.display()))
}

/// Writes a whole file (creating its directory), naming it on failure.
pub fn write(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, bytes).context(|| format!("cannot write {}", path.display()))
}
