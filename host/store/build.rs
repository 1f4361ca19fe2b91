//! The migrations are embedded by `sqlx::migrate!` from outside this crate;
//! tell cargo to rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
