//! Collections that change: a model test of add, upsert, delete, seal, compact and vacuum
//! against an in-memory reference (`model`), every store request failed in turn
//! (`faults`), and writers killed at random points (`crash`). One test program, so that
//! it links once.

#[path = "../common/cli.rs"]
mod cli;
mod crash;
mod faults;
mod model;
#[path = "../common/s3.rs"]
mod s3;
