//! The maple tree (placeholder until the tree lands).
