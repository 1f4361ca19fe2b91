//! Why a module did not load, and why a call failed.

/// A module that could not be made live. The previous version (if any) keeps running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read module: {0}")]
    Read(String),
    #[error("not a WebAssembly component (a core module? build for wasm32-wasip2)")]
    NotAComponent,
    #[error("compile failed: {0}")]
    Compile(String),
    #[error("does not implement the arbytron:strategy world: {0}")]
    WrongWorld(String),
    #[error("link failed (imports something the host does not grant): {0}")]
    Link(String),
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    #[error("describe failed: {0}")]
    Describe(String),
    #[error("init failed: {0}")]
    Init(String),
    #[error("self-test failed: {0}")]
    SelfTest(String),
    #[error("engine set-up failed: {0}")]
    Engine(String),
}

impl LoadError {
    /// Short, stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            LoadError::Read(_) => "read",
            LoadError::NotAComponent => "not_component",
            LoadError::Compile(_) => "compile",
            LoadError::WrongWorld(_) => "wrong_world",
            LoadError::Link(_) => "link",
            LoadError::Instantiate(_) => "instantiate",
            LoadError::Describe(_) => "describe",
            LoadError::Init(_) => "init",
            LoadError::SelfTest(_) => "self_test",
            LoadError::Engine(_) => "engine",
        }
    }
}

/// How a strategy call went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapKind {
    /// Ran past its deadline.
    Timeout,
    /// Tried to grow memory past its cap.
    MemoryLimit,
    StackOverflow,
    /// Touched memory outside its linear memory. Rust guests keep their stack
    /// in linear memory, so this is usually a stack overflow.
    MemoryFault,
    /// Panicked or hit `unreachable`.
    Panic,
    Other,
}

impl TrapKind {
    pub fn label(&self) -> &'static str {
        match self {
            TrapKind::Timeout => "timeout",
            TrapKind::MemoryLimit => "memory",
            TrapKind::StackOverflow => "stack_overflow",
            TrapKind::MemoryFault => "memory_fault",
            TrapKind::Panic => "panic",
            TrapKind::Other => "trap",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The instance trapped; it is unusable from here on.
    #[error("{func} trapped ({kind}): {message}", kind = .kind.label())]
    Trap { func: &'static str, kind: TrapKind, message: String },
    /// It returned something the host will not accept (too large, out of range).
    #[error("{func} returned an invalid value: {message}")]
    Invalid { func: &'static str, message: String },
    /// It reported an error through the interface (`init`, `match-markets`, `restore`).
    #[error("{func} reported an error: {message}")]
    Reported { func: &'static str, message: String },
    /// The strategy is quarantined or unloaded.
    #[error("strategy unavailable: {0}")]
    Unavailable(String),
}

impl CallError {
    /// Whether the instance must be quarantined (its state can no longer be trusted).
    pub fn is_fatal(&self) -> bool {
        matches!(self, CallError::Trap { .. } | CallError::Invalid { .. })
    }

    pub fn label(&self) -> &'static str {
        match self {
            CallError::Trap { kind, .. } => kind.label(),
            CallError::Invalid { .. } => "invalid",
            CallError::Reported { .. } => "reported",
            CallError::Unavailable(_) => "unavailable",
        }
    }
}
