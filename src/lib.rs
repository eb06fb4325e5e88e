//! kquant library.
