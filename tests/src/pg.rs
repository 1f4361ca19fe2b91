//! The private PostgreSQL server lives with the other fault tools in the integration layer.

pub use arbytron_integration::testing::PgServer;
