//! A WASI preview-1 core module into a policy component (placeholder until
//! the encoder lands).
