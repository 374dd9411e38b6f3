//! The library half of the `pervma` command: the mmscript runner on a
//! pervma address space ([`replay::Model`]), which `pervma replay` drives
//! and other crates' differential tests reuse (pervma-host runs scripts
//! on an address space whose memory is host memory).

#![deny(unsafe_code)]

pub mod replay;
mod smaps;
